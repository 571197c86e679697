package jobs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FreeMemFraction is the share of a GPU's memory that may be in use, by
// anyone, for the GPU to still count as free (strictly less than 10 %).
const FreeMemFraction = 0.10

// Want is a queued job's request.
type Want struct {
	JobID       int64
	GPUs        int    // 0 = CPU job
	GPUMem      uint64 // free bytes each GPU must have; 0 = no requirement
	Priority    int    // higher first
	SubmittedAt time.Time
	Timeout     time.Duration // 0 = none; lets a job backfill
}

// Held is a running job's GPUs.
type Held struct {
	JobID int64
	UUIDs []string
	Ends  *time.Time // start + timeout, nil when the job has no timeout
}

// Decision is what Plan decided: jobs to start now with their GPU UUIDs
// (empty for CPU jobs) and, for every other queued job, why it waits.
type Decision struct {
	Start   map[int64][]string
	Waiting map[int64]string
}

// Free reports whether d can be given to a job: runner has not allocated
// it, it has no foreign compute process (one whose PID is not in ownPIDs,
// the process trees of runner's jobs), and less than 10 % of its memory is
// in use. When it is not free, why says so for a user.
func Free(d Device, held []Held, ownPIDs map[int]bool) (free bool, why string) {
	for _, h := range held {
		if slices.Contains(h.UUIDs, d.UUID) {
			return false, fmt.Sprintf("GPU %d is held by job %d", d.Index, h.JobID)
		}
	}
	for _, p := range d.Procs {
		if !ownPIDs[p.PID] {
			return false, fmt.Sprintf("GPU %d has a foreign process pid %d", d.Index, p.PID)
		}
	}
	if d.MemTotal == 0 {
		return false, fmt.Sprintf("GPU %d reports no memory size", d.Index)
	}
	if float64(d.MemUsed) >= FreeMemFraction*float64(d.MemTotal) {
		return false, fmt.Sprintf("GPU %d has %s of %s memory in use", d.Index, FormatSize(d.MemUsed), FormatSize(d.MemTotal))
	}
	return true, ""
}

// Plan decides which queued jobs start now. It is pure: the caller passes
// the devices, the running jobs' GPUs, the PIDs of runner's job process
// trees, and the queue; noGPUsReason (see Reason) explains an empty devs.
//
// Jobs are taken by priority (higher first), then submit time, then id.
// CPU jobs (GPUs == 0) always start. A GPU job that cannot be placed
// blocks every later GPU job, except that a later job may start now when
// its Timeout proves it ends no later than the earliest time each blocked
// job ahead of it could start (conservative backfill). That time comes
// from the Ends of running jobs and the timeouts of jobs started in this
// plan; when it cannot be known, nothing backfills. A job that can never
// fit this machine (more GPUs, or more memory per GPU, than exist) waits
// without blocking others.
func Plan(now time.Time, devs []Device, noGPUsReason string, held []Held, ownPIDs map[int]bool, queue []Want) Decision {
	dec := Decision{Start: map[int64][]string{}, Waiting: map[int64]string{}}
	order := slices.Clone(queue)
	slices.SortStableFunc(order, func(a, b Want) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.JobID, b.JobID)
	})
	devs = slices.Clone(devs)
	slices.SortFunc(devs, func(a, b Device) int { return cmp.Compare(a.Index, b.Index) })

	// availableAt[i] is when device i can next be handed out: now if free,
	// the holder's end if it is held with a known end, nil if unknown.
	p := planner{now: now, devs: devs, availableAt: make([]*time.Time, len(devs)), why: make([]string, len(devs))}
	for i, d := range devs {
		free, why := Free(d, held, ownPIDs)
		p.why[i] = why
		switch {
		case free:
			t := now
			p.availableAt[i] = &t
		default:
			p.availableAt[i] = heldEnd(d.UUID, held, now)
		}
		p.free = append(p.free, free)
	}

	// Blocked jobs ahead in the order, with the earliest time each could
	// start (nil = unknown).
	type blocker struct {
		id    int64
		start *time.Time
	}
	var blockers []blocker
	for _, w := range order {
		if w.GPUs <= 0 {
			dec.Start[w.JobID] = []string{}
			continue
		}
		if len(devs) == 0 {
			if noGPUsReason == "" {
				noGPUsReason = "no devices found"
			}
			dec.Waiting[w.JobID] = "no GPUs: " + noGPUsReason
			continue
		}
		if why := p.neverFits(w); why != "" {
			dec.Waiting[w.JobID] = why
			continue
		}
		picked := p.pick(w)
		if picked == nil {
			dec.Waiting[w.JobID] = p.waitReason(w)
			blockers = append(blockers, blocker{id: w.JobID, start: p.earliestStart(w)})
			continue
		}
		if len(blockers) > 0 {
			// Backfill only if this job provably ends before every blocked
			// job ahead of it could start.
			if w.Timeout <= 0 {
				dec.Waiting[w.JobID] = fmt.Sprintf("queued behind job %d (a --timeout short enough could let it run first)", blockers[0].id)
				continue
			}
			end := now.Add(w.Timeout)
			var blockedBy *blocker
			for i := range blockers {
				b := &blockers[i]
				if b.start == nil || end.After(*b.start) {
					blockedBy = b
					break
				}
			}
			if blockedBy != nil {
				if blockedBy.start == nil {
					dec.Waiting[w.JobID] = fmt.Sprintf("queued behind job %d, whose start time is unknown", blockedBy.id)
				} else {
					dec.Waiting[w.JobID] = fmt.Sprintf("queued behind job %d, which could start in %s (this job's --timeout is %s)",
						blockedBy.id, blockedBy.start.Sub(now).Round(time.Second), w.Timeout)
				}
				continue
			}
		}
		uuids := make([]string, len(picked))
		for k, i := range picked {
			uuids[k] = devs[i].UUID
			p.free[i] = false
			p.why[i] = fmt.Sprintf("GPU %d is held by job %d", devs[i].Index, w.JobID)
			if w.Timeout > 0 {
				t := now.Add(w.Timeout)
				p.availableAt[i] = &t
			} else {
				p.availableAt[i] = nil
			}
		}
		dec.Start[w.JobID] = uuids
	}
	return dec
}

type planner struct {
	now         time.Time
	devs        []Device
	free        []bool       // free now and not yet given out in this plan
	availableAt []*time.Time // see Plan
	why         []string     // why a device is not free
}

// fits reports whether device i has the memory w asks for once it is free.
func (p *planner) fits(i int, w Want) bool { return memFits(p.devs[i], w) }

func memFits(d Device, w Want) bool { return w.GPUMem == 0 || d.MemTotal >= w.GPUMem }

// neverFits explains why w can never run on this machine, or returns "".
func (p *planner) neverFits(w Want) string { return NeverFits(p.devs, w) }

// NeverFits explains why w can never run on devs (too many GPUs, more memory
// than enough of them have), or returns "". The scheduler gives such a job
// its reason; submit refuses it at once (unless --hold).
func NeverFits(devs []Device, w Want) string {
	if w.GPUs > len(devs) {
		return fmt.Sprintf("needs %d GPUs but this machine has %d", w.GPUs, len(devs))
	}
	n := 0
	for _, d := range devs {
		if memFits(d, w) {
			n++
		}
	}
	if n < w.GPUs {
		return fmt.Sprintf("needs %d GPUs with %s memory but this machine has %d", w.GPUs, FormatSize(w.GPUMem), n)
	}
	return ""
}

// pick returns w.GPUs free devices (lowest index first) with the free
// memory w asks for, or nil.
func (p *planner) pick(w Want) []int {
	var out []int
	for i, d := range p.devs {
		if !p.free[i] || (w.GPUMem > 0 && d.MemTotal-d.MemUsed < w.GPUMem) {
			continue
		}
		out = append(out, i)
		if len(out) == w.GPUs {
			return out
		}
	}
	return nil
}

// earliestStart is the first time enough devices for w are known to be
// available, or nil when it cannot be known.
func (p *planner) earliestStart(w Want) *time.Time {
	var times []time.Time
	for i := range p.devs {
		if p.fits(i, w) && p.availableAt[i] != nil {
			times = append(times, *p.availableAt[i])
		}
	}
	if len(times) < w.GPUs {
		return nil
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	t := times[w.GPUs-1]
	return &t
}

// waitReason says why w cannot be placed now.
func (p *planner) waitReason(w Want) string {
	n := 0
	var whys []string
	for i, d := range p.devs {
		switch {
		case !p.free[i]:
			whys = append(whys, p.why[i])
		case w.GPUMem > 0 && d.MemTotal-d.MemUsed < w.GPUMem:
			whys = append(whys, fmt.Sprintf("GPU %d has %s free", d.Index, FormatSize(d.MemTotal-d.MemUsed)))
		default:
			n++
		}
	}
	what := "free GPUs"
	if w.GPUs == 1 {
		what = "free GPU"
	}
	if w.GPUMem > 0 {
		what += " with " + FormatSize(w.GPUMem) + " free memory"
	}
	msg := fmt.Sprintf("waiting for %d %s (%d free)", w.GPUs, what, n)
	if len(whys) > 0 {
		msg += ": " + strings.Join(whys, "; ")
	}
	return msg
}

// heldEnd is when the running job holding uuid ends, if that is known.
// An overdue job counts as ending now: its supervisor is killing it.
func heldEnd(uuid string, held []Held, now time.Time) *time.Time {
	for _, h := range held {
		if !slices.Contains(h.UUIDs, uuid) {
			continue
		}
		if h.Ends == nil {
			return nil
		}
		t := *h.Ends
		if t.Before(now) {
			t = now
		}
		return &t
	}
	return nil
}
