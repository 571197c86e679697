package daemon

import (
	"testing"
)

// The heap is given back once at the end of each burst of work, never while
// work goes on and never again while the daemon stays quiet.
func TestIdleTrimmerTrimsOnceAfterEachBurst(t *testing.T) {
	const MB = 1 << 20
	tests := []struct {
		name  string
		ticks []uint64 // bytes allocated during each tick
		want  []int    // after which ticks (1-based) a trim happened
	}{
		{"quiet from the start", []uint64{1000, 2000, 0}, nil},
		{"one burst", []uint64{5 * MB, 3 * MB, 1000, 1000, 0}, []int{3}},
		{"two bursts", []uint64{2 * MB, 0, 0, 4 * MB, 100, 0}, []int{2, 5}},
		{"work that never stops", []uint64{MB, MB, MB, MB}, nil},
		{"a burst just under the bar is quiet", []uint64{MB - 1, 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total uint64
			var trims []int
			tick := 0
			m := newIdleTrimmer(func() uint64 { return total }, func() { trims = append(trims, tick) }, MB)
			for i, n := range tt.ticks {
				total += n
				tick = i + 1
				m.tick()
			}
			if len(trims) != len(tt.want) {
				t.Fatalf("trimmed after ticks %v, want %v", trims, tt.want)
			}
			for i := range trims {
				if trims[i] != tt.want[i] {
					t.Fatalf("trimmed after ticks %v, want %v", trims, tt.want)
				}
			}
		})
	}
}

// The counter the trimmer reads moves with allocations (a wrong metric name
// reads as a constant 0, and the trimmer would never fire).
func TestHeapAllocatedGrows(t *testing.T) {
	before := heapAllocated()
	sink := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
	if after := heapAllocated(); after < before+4<<20 || len(sink) != 64 {
		t.Fatalf("allocated %d -> %d after 4 MiB of allocations", before, after)
	}
}
