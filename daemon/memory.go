package daemon

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory given back when the daemon goes quiet (docs/design.md "Idle and
// failing loops"): the Go heap keeps up to twice its live size between
// collections, and the idle daemon, which allocates almost nothing, would
// carry the garbage of its last burst of work (uploads, a job, a rescan)
// for hours. One forced collection at the end of a burst costs a few
// milliseconds; the quiet ticks in between read one runtime counter.
const (
	trimEvery = 20 * time.Second
	// trimBusy is what a tick must allocate to count as work: the idle
	// daemon's heartbeats allocate a few KB a tick.
	trimBusy = 1 << 20
)

// idleTrimmer calls trim once after each run of busy ticks, on the first
// tick that allocated less than busy bytes.
type idleTrimmer struct {
	allocated func() uint64 // bytes allocated since start, ever growing
	trim      func()
	busy      uint64

	last    uint64
	working bool
}

func newIdleTrimmer(allocated func() uint64, trim func(), busy uint64) *idleTrimmer {
	return &idleTrimmer{allocated: allocated, trim: trim, busy: busy, last: allocated()}
}

func (m *idleTrimmer) tick() {
	now := m.allocated()
	n := now - m.last
	m.last = now
	switch {
	case n >= m.busy:
		m.working = true
	case m.working:
		m.working = false
		m.trim()
	}
}

// heapAllocated reads the runtime's cumulative allocation counter, which,
// unlike runtime.ReadMemStats, does not stop the world.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// releaseMemory gives the writer's page cache and the heap's free pages back.
func (d *Daemon) releaseMemory(ctx context.Context) {
	if err := d.DB.ReleaseMemory(ctx); err != nil && ctx.Err() == nil {
		d.Logger.Warn("release ledger memory", "err", err)
	}
	debug.FreeOSMemory()
}

// trimWhenIdle runs the idle trimmer on the daemon's heap until ctx ends.
func (d *Daemon) trimWhenIdle(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	m := newIdleTrimmer(heapAllocated, func() { d.releaseMemory(ctx) }, trimBusy)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.tick()
		}
	}
}
