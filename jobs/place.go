package jobs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/units"
)

// FreeMemFraction is the share of a GPU's memory that may be in use, by
// anyone, for the GPU to still count as free (strictly less than 10 %).
// Sharing jobs keep the same share free: their requests, plus what foreign
// processes use, stay within the other 90 %.
const FreeMemFraction = 0.10

// Want is a queued job's request.
type Want struct {
	JobID       int64
	GPUs        int    // 0 = CPU job
	GPUMem      uint64 // free bytes each GPU must have; 0 = no requirement
	Priority    int    // higher first
	SubmittedAt time.Time
	Timeout     time.Duration // 0 = none; lets a job backfill
	// Share: the job may share GPUs with other sharing jobs while their
	// GPUMem requests fit (see Plan); GPUMem is then what it asks for.
	Share bool
	Slots int // CPU slots (SlotsOf); TakeSlots decides those before Plan
}

// Held is a running job's GPUs.
type Held struct {
	JobID int64
	UUIDs []string
	Ends  *time.Time // start + timeout, nil when the job has no timeout
	Share bool       // a sharing job: others that share may join it
	Mem   uint64     // a sharing job's request on each of its GPUs
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
		return false, fmt.Sprintf("GPU %d has %s of %s memory in use", d.Index, units.FormatSize(d.MemUsed), units.FormatSize(d.MemTotal))
	}
	return true, ""
}

// QueueOrder is the order jobs are considered and started in: higher
// priority first, then submit time, then id.
func QueueOrder(a, b Want) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.JobID, b.JobID)
}

// TakeSlots decides which of queue may take CPU slots now, free being the
// slots not taken by running jobs (docs/design.md "CPU slots"). In queue
// order, a job that needs slots takes them while they last; from the first
// one that does not fit on, every job that needs slots waits (so a large job
// is not passed for ever by small ones). Jobs that need none always pass.
// It returns the jobs that may go on to Plan and why the others wait.
func TakeSlots(queue []Want, free, total int) (pass []Want, waiting map[int64]string) {
	waiting = map[int64]string{}
	order := slices.Clone(queue)
	slices.SortStableFunc(order, QueueOrder)
	blockedBy := int64(0)
	for _, w := range order {
		switch {
		case w.Slots <= 0:
			pass = append(pass, w)
		case w.Slots > total:
			waiting[w.JobID] = fmt.Sprintf("needs %d CPU slots but the daemon has %d (--cpu-slots, runner config)", w.Slots, total)
		case blockedBy != 0:
			waiting[w.JobID] = fmt.Sprintf("queued behind job %d for CPU slots", blockedBy)
		case w.Slots > free:
			waiting[w.JobID] = fmt.Sprintf("waiting for %s (%d of %d free)", units.Count(w.Slots, "CPU slot"), free, total)
			blockedBy = w.JobID
		default:
			free -= w.Slots
			pass = append(pass, w)
		}
	}
	return pass, waiting
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
	slices.SortStableFunc(order, QueueOrder)
	devs = slices.Clone(devs)
	slices.SortFunc(devs, func(a, b Device) int { return cmp.Compare(a.Index, b.Index) })

	// availableAt[i] is when device i can next be handed out: now if free,
	// the holder's end if it is held with a known end, nil if unknown.
	p := planner{now: now, devs: devs, availableAt: make([]*time.Time, len(devs)), why: make([]string, len(devs))}
	p.shareLoad, p.exclusive, p.foreign = make([]uint64, len(devs)), make([]bool, len(devs)), make([]*uint64, len(devs))
	for i, d := range devs {
		p.foreign[i] = foreignMem(d, ownPIDs)
		for _, h := range held {
			if slices.Contains(h.UUIDs, d.UUID) {
				if h.Share {
					p.shareLoad[i] += h.Mem
				} else {
					p.exclusive[i] = true
				}
			}
		}
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
		w.Share = w.Share && w.GPUMem > 0 // sharing is by the memory asked for
		if w.Share {
			// On GPUs no job could have alone now (shared, or with foreign
			// processes), a sharing job takes nothing a blocked job ahead
			// could have had; a free GPU it may take only as an exclusive
			// job would (below).
			if picked := p.pickShared(w, false); picked != nil {
				dec.Start[w.JobID] = p.giveShared(picked, w)
				continue
			}
		}
		picked := p.pick(w)
		if w.Share {
			picked = p.pickShared(w, true)
		}
		if picked == nil {
			if w.Share {
				// It waits for room; it does not hold up the jobs behind it.
				dec.Waiting[w.JobID] = p.shareWaitReason(w)
				continue
			}
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
		if w.Share {
			dec.Start[w.JobID] = p.giveShared(picked, w)
			continue
		}
		uuids := make([]string, len(picked))
		for k, i := range picked {
			uuids[k] = devs[i].UUID
			p.free[i], p.exclusive[i] = false, true
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
	shareLoad   []uint64     // memory requested by the sharing jobs on each device
	exclusive   []bool       // held, or given in this plan, by a job that does not share
	foreign     []*uint64    // memory of processes that are not runner's jobs; nil: unknown
}

// foreignMem is what d's processes outside runner's jobs use, or nil when
// one of them does not say.
func foreignMem(d Device, ownPIDs map[int]bool) *uint64 {
	var sum uint64
	for _, pr := range d.Procs {
		if ownPIDs[pr.PID] {
			continue
		}
		if pr.UsedMem == nil {
			return nil
		}
		sum += *pr.UsedMem
	}
	return &sum
}

// shareRoom is how much more sharing jobs may ask of device i: 90 % of its
// memory less the sharing requests and foreign use; 0 when it is held by an
// exclusive job or a foreign process of unknown size.
func (p *planner) shareRoom(i int) uint64 {
	if p.exclusive[i] || p.foreign[i] == nil {
		return 0
	}
	limit := uint64(float64(p.devs[i].MemTotal) * (1 - FreeMemFraction))
	used := p.shareLoad[i] + *p.foreign[i]
	if used >= limit {
		return 0
	}
	return limit - used
}

// pickShared returns w.GPUs devices where sharing job w fits: devices no
// job could have alone now (other sharing jobs or foreign processes use
// them; the fullest that still fits first, to pack them), and with
// allowFree also free devices; nil when there are not enough.
func (p *planner) pickShared(w Want, allowFree bool) []int {
	var cand []int
	for i := range p.devs {
		if p.shareRoom(i) < w.GPUMem {
			continue
		}
		if p.free[i] && !allowFree {
			continue
		}
		cand = append(cand, i)
	}
	if len(cand) < w.GPUs {
		return nil
	}
	slices.SortStableFunc(cand, func(a, b int) int {
		// Shared devices first, then the least room left.
		if sa, sb := p.shareLoad[a] > 0, p.shareLoad[b] > 0; sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return cmp.Compare(p.shareRoom(a), p.shareRoom(b))
	})
	out := cand[:w.GPUs]
	slices.Sort(out)
	return out
}

// giveShared records sharing job w on devices picked and returns their UUIDs.
func (p *planner) giveShared(picked []int, w Want) []string {
	uuids := make([]string, len(picked))
	for k, i := range picked {
		uuids[k] = p.devs[i].UUID
		p.shareLoad[i] += w.GPUMem
		p.free[i] = false
		p.why[i] = fmt.Sprintf("GPU %d is shared by runner jobs", p.devs[i].Index)
		if w.Timeout <= 0 {
			p.availableAt[i] = nil
		} else if t := p.now.Add(w.Timeout); p.availableAt[i] != nil && t.After(*p.availableAt[i]) {
			p.availableAt[i] = &t
		}
	}
	return uuids
}

// shareWaitReason says why sharing job w cannot be placed now.
func (p *planner) shareWaitReason(w Want) string {
	var whys []string
	for i, d := range p.devs {
		switch {
		case p.exclusive[i]:
			whys = append(whys, fmt.Sprintf("GPU %d is held by a job that does not share", d.Index))
		case p.foreign[i] == nil:
			whys = append(whys, fmt.Sprintf("GPU %d has a foreign process of unknown size", d.Index))
		default:
			whys = append(whys, fmt.Sprintf("GPU %d has %s left for sharing", d.Index, units.FormatSize(p.shareRoom(i))))
		}
	}
	return fmt.Sprintf("waiting for %s with %s left for sharing: %s", units.Count(w.GPUs, "GPU"), units.FormatSize(w.GPUMem), strings.Join(whys, "; "))
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
		return fmt.Sprintf("needs %s but this machine has %d", units.Count(w.GPUs, "GPU"), len(devs))
	}
	n := 0
	for _, d := range devs {
		if memFits(d, w) {
			n++
		}
	}
	if n < w.GPUs {
		return fmt.Sprintf("needs %s with %s memory but this machine has %d", units.Count(w.GPUs, "GPU"), units.FormatSize(w.GPUMem), n)
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
			whys = append(whys, fmt.Sprintf("GPU %d has %s free", d.Index, units.FormatSize(d.MemTotal-d.MemUsed)))
		default:
			n++
		}
	}
	what := "free GPUs"
	if w.GPUs == 1 {
		what = "free GPU"
	}
	if w.GPUMem > 0 {
		what += " with " + units.FormatSize(w.GPUMem) + " free memory"
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
	// Shared by several jobs: free when the last of them ends.
	var end *time.Time
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
		if end == nil || t.After(*end) {
			end = &t
		}
	}
	return end
}
