package jobs

import "testing"

func TestSlotsOf(t *testing.T) {
	for _, tt := range []struct{ cpus, gpus, want int }{{-1, 0, 1}, {-1, 2, 0}, {4, 0, 4}, {2, 1, 2}, {0, 0, 0}} {
		if got := SlotsOf(tt.cpus, tt.gpus); got != tt.want {
			t.Errorf("SlotsOf(%d, %d) = %d, want %d", tt.cpus, tt.gpus, got, tt.want)
		}
	}
}
