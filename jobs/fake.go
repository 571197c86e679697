package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/runnerhq/runner/internal/units"
)

// Fake is an inventory of made-up GPUs for machines without a GPU
// (--gpus fake:N[:MEM]) and for tests, which drive it with the Set/Add
// methods. All methods are safe for concurrent use. The Set/Add/Remove
// methods panic on an index out of range: that is a bug in the caller.
type Fake struct {
	mu     sync.Mutex
	devs   []Device
	base   []uint64 // memory used outside the listed processes
	closed bool
}

// NewFake returns n idle GPUs of mem bytes each, with UUIDs
// GPU-fake-0000-..., GPU-fake-0001-..., and all metrics known.
func NewFake(n int, mem uint64) *Fake {
	f := &Fake{devs: make([]Device, n), base: make([]uint64, n)}
	for i := range f.devs {
		zero, watts, joules := 0, 0.0, 0.0
		f.devs[i] = Device{
			Index:    i,
			UUID:     fmt.Sprintf("GPU-fake-%04d-0000-0000-000000000000", i),
			Name:     "Fake GPU " + units.FormatSize(mem),
			MemTotal: mem,
			Util:     &zero,
			Power:    &watts,
			Energy:   &joules,
		}
	}
	return f
}

// Devices returns a copy of the current state.
func (f *Fake) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	out := make([]Device, len(f.devs))
	for i, d := range f.devs {
		out[i] = cloneDevice(d)
	}
	return out, nil
}

// Name returns "fake".
func (f *Fake) Name() string { return "fake" }

// Close makes later Devices calls fail with ErrClosed.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// SetUsed sets the memory in use on GPU index by something other than the
// listed processes; MemUsed is this plus the processes' memory.
func (f *Fake) SetUsed(index int, bytes uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.base[index] = bytes
	f.recount(index)
}

// AddProc puts a compute process using mem bytes on GPU index (replacing
// an entry with the same pid).
func (f *Fake) AddProc(index, pid int, mem uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := &f.devs[index]
	d.Procs = slices.DeleteFunc(d.Procs, func(p Proc) bool { return p.PID == pid })
	d.Procs = append(d.Procs, Proc{PID: pid, UsedMem: &mem})
	f.recount(index)
}

// RemoveProc takes process pid off GPU index; an unknown pid is ignored.
func (f *Fake) RemoveProc(index, pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := &f.devs[index]
	d.Procs = slices.DeleteFunc(d.Procs, func(p Proc) bool { return p.PID == pid })
	f.recount(index)
}

// SetUtil sets GPU index's utilisation in percent.
func (f *Fake) SetUtil(index, percent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devs[index].Util = &percent
}

// SetPower sets GPU index's power draw in watts.
func (f *Fake) SetPower(index int, watts float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devs[index].Power = &watts
}

// SetEnergy sets GPU index's energy counter in joules.
func (f *Fake) SetEnergy(index int, joules float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devs[index].Energy = &joules
}

// recount keeps MemUsed consistent with the processes, as a real GPU's
// memory counter includes what its processes allocated. f.mu is held.
func (f *Fake) recount(index int) {
	d := &f.devs[index]
	used := f.base[index]
	for _, p := range d.Procs {
		if p.UsedMem != nil {
			used += *p.UsedMem
		}
	}
	d.MemUsed = min(used, d.MemTotal)
}

// cloneDevice deep-copies d so callers cannot change the fake's state
// through the pointers.
func cloneDevice(d Device) Device {
	c := d
	if d.Util != nil {
		v := *d.Util
		c.Util = &v
	}
	if d.Power != nil {
		v := *d.Power
		c.Power = &v
	}
	if d.Energy != nil {
		v := *d.Energy
		c.Energy = &v
	}
	c.Procs = nil
	for _, p := range d.Procs {
		cp := Proc{PID: p.PID}
		if p.UsedMem != nil {
			v := *p.UsedMem
			cp.UsedMem = &v
		}
		c.Procs = append(c.Procs, cp)
	}
	return c
}
