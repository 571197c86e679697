package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/runnerhq/runner/internal/guard"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
)

// Scheduler defaults.
const (
	DefaultSampleInterval = 5 * time.Second
	DefaultReconcile      = 30 * time.Second
)

// Store is what the scheduler needs from the ledger (the scheduler is the
// only part of jobs that knows the ledger; the rest stays free of it).
type Store interface {
	ListJobs(ctx context.Context, f ledger.JobFilter) ([]ledger.Job, error)
	QueueChanges(ctx context.Context, seq int64) ([]ledger.Job, int64, error)
	JobsSeq(ctx context.Context) (int64, error)
	StartJob(ctx context.Context, id int64, s ledger.JobStart) (ledger.Job, bool, error)
	RecordJobPIDs(ctx context.Context, id int64, supervisorPID, pid, pgid int, startTicks uint64) error
	EndJob(ctx context.Context, id int64, e ledger.JobEnd) (ledger.Job, bool, error)
	SkipJob(ctx context.Context, id int64, reason string) (bool, error)
	RefuseJobs(ctx context.Context, ids []int64, reason string) ([]int64, error)
	SetJobReasons(ctx context.Context, reasons map[int64]string) error
	SetRunningNote(ctx context.Context, id int64, note string) error
	SetJobTelemetry(ctx context.Context, id int64, peakMem uint64, meanUtil, energyJ *float64) error
	SetGPUSnapshot(ctx context.Context, snapshotJSON string) error
	QueuePaused(ctx context.Context) (bool, error)
	JobSettings(ctx context.Context) (map[string]string, error)
}

var _ Store = (*ledger.DB)(nil)

// Scheduler runs the job queue of one ledger: it places queued jobs on
// GPUs, launches them through detached supervisors, records how they end,
// and adopts jobs that outlived a previous daemon. It is event driven: it
// plans when `runner submit`/`cancel` poke its socket, when a job's status
// file records its end (fsnotify), on every GPU sample (foreign processes
// come and go) and on a slow safety reconcile; nothing polls on the path
// from one job's end to the next job's start.
type Scheduler struct {
	Store    Store
	Inv      Inventory
	Self     string // runner executable: supervisors run `Self _supervise`
	StateDir string // the ledger's directory: jobs/<id>/output.log, jobs/status/<id>.json, runner.sock
	WandbDir string // WANDB_DIR of every job
	Logger   *slog.Logger
	Now      func() time.Time

	SampleInterval time.Duration // GPU telemetry and re-plan; default 5s
	CPUSlots       int           // CPU slots for jobs (SlotsOf); default runtime.NumCPU(); runner config's cpu-slots wins (Limits)
	Reconcile      time.Duration // safety pass over running jobs; default 30s
	Grace          time.Duration // SIGTERM to SIGKILL on timeout and cancel; default DefaultGrace

	// RunAsOwner: start each job's command as the user who submitted it
	// (set when the daemon is root; otherwise every job runs as the daemon's user).
	RunAsOwner bool

	// Units, when set, starts each job as a transient systemd service
	// (no spare supervisors then); nil: supervisors are our children.
	Units *Units

	// Engines run the jobs submitted with another executor than local
	// (Slurm): the scheduler follows them (follow.go). Nil, or an executor
	// missing from it: NewEngine's (tests put fakes here).
	Engines map[ledger.Executor]Engine

	SockPath string      // default StateDir/runner.sock
	SockMode fs.FileMode // default 0o600

	// OnJobEnd is called with a job's run id once the job reached a final
	// state (not when it is re-queued for a retry), so the run dirs it
	// wrote become ready for upload at once. It runs on the scheduler's
	// goroutine after the next placements were launched.
	OnJobEnd func(runID string)
	// EndHook is called with the whole row of each job that reached a
	// final state, on the scheduler's goroutine after OnJobEnd: it must
	// not block (EndHooks.Run starts its commands and returns).
	EndHook func(j ledger.Job)

	running   map[int64]*runningJob
	anyQueued bool // the last plan saw queued jobs
	// queue is the queued jobs' planning columns, kept up to date from the
	// ledger's change numbers (see queuedJobs).
	queue    map[int64]ledger.Job
	queueSeq int64
	// the GPU view last stored, and when (see sample)
	lastSnap   string
	lastSnapAt time.Time
	spare      *Spare     // a supervisor started ahead of the next job
	ended      []endedJob // jobs whose OnJobEnd and EndHook are due
	dirty      bool       // something changed: plan again
	// engine jobs followed, and when to poll their engines next
	engineJobs  map[int64]*engineJob
	pollEvery   time.Duration
	pollAt      time.Time
	engineGuard *guard.Guard
	limits      Limits // runner config's, as the last plan read them (logged when they change)
}

type runningJob struct {
	job         ledger.Job
	agg         kernels.TelemetryAgg
	samples     int
	terminating bool
	overShare   bool // warned that this sharing job uses more GPU memory than it asked
	suspect     bool // not alive at the last check and no end recorded yet
	// suspectSince is when the job's process was first seen gone while its
	// supervisor still ran; a supervisor pid alive for long after that is
	// most likely reused.
	suspectSince time.Time
}

func (s *Scheduler) init() {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.SampleInterval <= 0 {
		s.SampleInterval = DefaultSampleInterval
	}
	if s.Reconcile <= 0 {
		s.Reconcile = DefaultReconcile
	}
	if s.CPUSlots <= 0 {
		s.CPUSlots = runtime.NumCPU()
	}
	if s.Grace <= 0 {
		s.Grace = DefaultGrace
	}
	if s.SockPath == "" {
		s.SockPath = filepath.Join(s.StateDir, SockName)
	}
	if s.SockMode == 0 {
		s.SockMode = 0o600
	}
	if s.Inv == nil {
		s.Inv = NewNoGPUs("no GPU inventory configured")
	}
	s.running = map[int64]*runningJob{}
	s.engineJobs = map[int64]*engineJob{}
	s.engineGuard = guard.New(s.Logger, "engine job states", guard.Options{Now: s.Now})
}

func (s *Scheduler) statusDir() string { return filepath.Join(s.StateDir, "jobs", "status") }

// StatusPath and LogPath are where job id's supervisor records its status
// and output. Status files share one directory so one watch covers them
// all, and the jobs' log writes do not wake the scheduler.
func (s *Scheduler) StatusPath(id int64) string {
	return filepath.Join(s.statusDir(), strconv.FormatInt(id, 10)+".json")
}

// LogPath is job id's output log.
func (s *Scheduler) LogPath(id int64) string {
	return filepath.Join(s.StateDir, "jobs", strconv.FormatInt(id, 10), "output.log")
}

// Run schedules until ctx is done. Running jobs keep running when it
// returns: their supervisors are detached, and the next Run adopts them.
func (s *Scheduler) Run(ctx context.Context) error {
	s.init()
	if s.Self == "" || s.StateDir == "" {
		return errors.New("scheduler: need the runner executable and a state dir")
	}
	if err := os.MkdirAll(s.statusDir(), 0o700); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("scheduler: watch job status: %w", err)
	}
	defer w.Close()
	if err := w.Add(s.statusDir()); err != nil {
		return fmt.Errorf("scheduler: watch %s: %w", s.statusDir(), err)
	}
	l, err := Listen(s.SockPath, s.SockMode)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer l.Close()

	if err := s.adopt(ctx); err != nil {
		return err
	}
	if err := s.reattach(ctx); err != nil {
		return fmt.Errorf("scheduler: follow engine jobs: %w", err)
	}
	s.warmSpare()
	defer func() {
		if s.spare != nil {
			_ = s.spare.Close()
		}
	}()
	s.sample(ctx)
	sample := time.NewTicker(s.SampleInterval)
	defer sample.Stop()
	reconcile := time.NewTicker(s.Reconcile)
	defer reconcile.Stop()
	s.dirty = true
	// An engine poll in flight: closed when its answers are in askQs.
	var (
		asking     chan struct{}
		askQs      []*engineQuery
		askChanged bool
	)
	for {
		for s.dirty && ctx.Err() == nil {
			s.dirty = false
			s.cancelRequested(ctx)
			if err := s.schedule(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Error("schedule jobs", "err", err)
			}
		}
		s.runHooks(ctx)
		var pollC <-chan time.Time
		var poll *time.Timer
		if asking == nil {
			if poll = s.pollTimer(); poll != nil {
				pollC = poll.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-pollC:
			// The engines are asked off this loop (see pollEngines).
			qs, changed := s.engineQueries(ctx)
			ch := make(chan struct{})
			asking, askChanged, askQs = ch, changed, qs
			go func() {
				askEngines(ctx, qs)
				close(ch)
			}()
		case <-asking:
			asking = nil
			s.recordStates(ctx, askQs, askChanged)
		case <-l.C():
			s.dirty = true
			s.pollSoon()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("scheduler: status watcher closed")
			}
			s.statusEvent(ctx, ev.Name)
		case err := <-w.Errors:
			// An overflow may have hidden an end: look at every running job.
			s.Logger.Warn("job status watcher", "err", err)
			s.checkRunning(ctx)
			s.dirty = true
		case <-sample.C:
			s.sample(ctx)
			s.checkRunning(ctx)
			// A new sample may free GPUs for waiting jobs; with none
			// waiting there is nothing to plan unless a job changed
			// without a poke reaching us (queueMoved).
			s.dirty = s.dirty || s.anyQueued || s.queueMoved(ctx)
		case <-reconcile.C:
			s.checkRunning(ctx)
			s.dirty = true
		}
		if poll != nil {
			poll.Stop()
		}
	}
}

// endedJob is a job that reached a final state; full: job is its whole
// row (a skipped job's is only the planning columns).
type endedJob struct {
	job  ledger.Job
	full bool
}

func (s *Scheduler) runHooks(ctx context.Context) {
	ended := s.ended
	s.ended = nil
	for _, e := range ended {
		if s.OnJobEnd != nil {
			s.OnJobEnd(e.job.RunID)
		}
	}
	if s.EndHook == nil {
		return
	}
	var partial []int64
	for _, e := range ended {
		if e.full {
			s.EndHook(e.job)
		} else {
			partial = append(partial, e.job.ID)
		}
	}
	if len(partial) == 0 {
		return
	}
	rows, err := s.Store.ListJobs(ctx, ledger.JobFilter{IDs: partial})
	if err != nil {
		s.Logger.Error("job end hooks: read skipped jobs", "jobs", partial, "err", err)
		return
	}
	for _, j := range rows {
		s.EndHook(j)
	}
}

// adopt takes over the jobs a previous daemon left running: the ended ones
// are recorded, live ones (same pid and start time) are watched again, and
// the rest are lost (and retried if they have retries left).
func (s *Scheduler) adopt(ctx context.Context) error {
	jobs, err := s.Store.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}})
	if err != nil {
		return fmt.Errorf("scheduler: adopt running jobs: %w", err)
	}
	for _, j := range jobs {
		if j.Executor != ledger.ExecutorLocal {
			continue // its engine runs it: reattach
		}
		rj := &runningJob{job: j}
		s.running[j.ID] = rj
		st, err := ReadStatus(j.StatusPath)
		switch {
		case err == nil && st.EndedAt != nil:
			s.Logger.Info("job ended while the daemon was down", "job", j.ID)
			s.finish(ctx, j.ID, st)
		case err == nil && st.PID > 0 && Alive(st.PID, st.StartTicks):
			if j.PID != st.PID || j.StartTicks != st.StartTicks {
				if err := s.Store.RecordJobPIDs(ctx, j.ID, st.SupervisorPID, st.PID, st.PGID, st.StartTicks); err != nil {
					return fmt.Errorf("scheduler: adopt job %d: %w", j.ID, err)
				}
				rj.job.SupervisorPID, rj.job.PID, rj.job.PGID, rj.job.StartTicks = st.SupervisorPID, st.PID, st.PGID, st.StartTicks
			}
			s.Logger.Info("adopted running job", "job", j.ID, "pid", st.PID)
		case err == nil && st.EndedAt == nil && processExists(st.SupervisorPID):
			// The job's process is gone but its supervisor lives: it is
			// stopping what the job left behind and will record the end.
			// checkRunning settles it; calling it lost now would start a
			// retry beside the old attempt.
			s.Logger.Info("adopted job whose supervisor is finishing", "job", j.ID, "supervisor", st.SupervisorPID)
		case err != nil && j.PID > 0 && Alive(j.PID, j.StartTicks):
			s.Logger.Warn("adopted running job without a status file", "job", j.ID, "pid", j.PID, "err", err)
		default:
			s.Logger.Warn("running job is gone without a recorded end", "job", j.ID, "pid", j.PID)
			s.lost(ctx, j.ID)
		}
	}
	return nil
}

// statusEvent handles a change in the status directory.
func (s *Scheduler) statusEvent(ctx context.Context, name string) {
	base := filepath.Base(name)
	idStr, ok := strings.CutSuffix(base, ".json")
	if !ok {
		return
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return
	}
	if _, ok := s.running[id]; !ok {
		return
	}
	st, err := ReadStatus(name)
	if err != nil {
		return
	}
	if rj := s.running[id]; st.EndedAt == nil && st.PID > 0 && rj.job.PID == 0 {
		// A late start report (see launch): record the processes now, so a
		// cancel can reach the job.
		if err := s.Store.RecordJobPIDs(ctx, id, st.SupervisorPID, st.PID, st.PGID, st.StartTicks); err != nil {
			s.Logger.Error("record job processes", "job", id, "err", err)
		}
		rj.job.SupervisorPID, rj.job.PID, rj.job.PGID, rj.job.StartTicks = st.SupervisorPID, st.PID, st.PGID, st.StartTicks
	}
	if st.EndedAt == nil {
		return
	}
	s.finish(ctx, id, st)
}

// checkRunning is the safety net behind the status events: it records ends
// that were missed, and calls a job lost when its process is gone and no
// end was recorded on two checks in a row (the supervisor writes the end
// just after the process exits, so one check could fall in between).
func (s *Scheduler) checkRunning(ctx context.Context) {
	for id, rj := range s.running {
		st, err := ReadStatus(rj.job.StatusPath)
		if err == nil && st.EndedAt != nil {
			s.finish(ctx, id, st)
			continue
		}
		pid, ticks, sup := rj.job.PID, rj.job.StartTicks, rj.job.SupervisorPID
		if err == nil && st.PID > 0 {
			pid, ticks, sup = st.PID, st.StartTicks, st.SupervisorPID
		}
		if Alive(pid, ticks) {
			rj.suspect, rj.suspectSince = false, time.Time{}
			// The supervisor enforces the timeout; if it was killed (OOM
			// killer, an admin), nobody would: stop the job here.
			if j := rj.job; j.Timeout > 0 && j.StartedAt != nil && !rj.terminating && !processExists(sup) &&
				s.Now().After(j.StartedAt.Add(StopBudget(j.Timeout, s.Grace))) {
				rj.terminating = true
				pgid, grace := j.PGID, s.Grace
				s.Logger.Warn("job past its timeout and its supervisor is gone: stopping it", "job", id, "pgid", pgid)
				go func() {
					if err := Terminate(pgid, grace); err != nil && !errors.Is(err, ErrNotRunning) {
						s.Logger.Error("stop job past its timeout", "job", id, "err", err)
					}
				}()
			}
			continue
		}
		// A live supervisor is about to record the end (it exits only after).
		if processExists(sup) {
			if rj.suspectSince.IsZero() {
				rj.suspectSince = s.Now()
			}
			if s.Now().Sub(rj.suspectSince) < time.Minute {
				continue
			}
		}
		if !rj.suspect {
			rj.suspect = true
			continue
		}
		s.Logger.Warn("running job is gone without a recorded end", "job", id, "pid", pid)
		s.lost(ctx, id)
	}
}

func (s *Scheduler) lost(ctx context.Context, id int64) {
	j, ok, err := s.Store.EndJob(ctx, id, ledger.JobEnd{Lost: true})
	s.ended1(id, j, ok, err)
}

// finish records the end a supervisor wrote.
func (s *Scheduler) finish(ctx context.Context, id int64, st Status) {
	if rj := s.running[id]; rj != nil && rj.samples > 0 {
		s.storeTelemetry(ctx, rj)
	}
	e := ledger.JobEnd{ExitCode: st.ExitCode, Signal: st.Signal, Reason: st.Reason}
	if st.EndedAt != nil {
		e.EndedAt = *st.EndedAt
	}
	j, ok, err := s.Store.EndJob(ctx, id, e)
	s.ended1(id, j, ok, err)
}

func (s *Scheduler) ended1(id int64, j ledger.Job, ok bool, err error) {
	if err != nil {
		// Keep it in the running set: the next check records it again.
		s.Logger.Error("record job end", "job", id, "err", err)
		return
	}
	delete(s.running, id)
	s.dirty = true
	if !ok {
		return
	}
	attrs := []any{"job", id, "state", j.State, "reason", j.Reason}
	if j.ExitCode != nil { // a number, not a pointer; absent when a signal ended it
		attrs = append(attrs, "exit_code", *j.ExitCode)
	}
	if j.Signal != "" {
		attrs = append(attrs, "signal", j.Signal)
	}
	s.Logger.Info("job ended", attrs...)
	if j.State.Ended() {
		s.ended = append(s.ended, endedJob{job: j, full: true})
	}
}

// cancelRequested stops the process groups of running jobs that
// `runner cancel` asked to stop. The supervisor records the signal, and
// EndJob turns it into cancelled.
func (s *Scheduler) cancelRequested(ctx context.Context) {
	if len(s.running) == 0 {
		return
	}
	jobs, err := s.Store.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}, CancelRequested: true})
	if err != nil {
		s.Logger.Error("list cancelled jobs", "err", err)
		return
	}
	for _, j := range jobs {
		rj := s.running[j.ID]
		if rj == nil || rj.terminating {
			continue
		}
		rj.job.CancelRequested = true
		// A pgid, like a pid, can be reused once the job is gone.
		if !Alive(rj.job.PID, rj.job.StartTicks) {
			continue // checkRunning records the end or calls it lost
		}
		rj.terminating = true
		pgid, grace := rj.job.PGID, s.Grace
		s.Logger.Info("cancelling job", "job", j.ID, "pgid", pgid)
		go func() {
			if err := Terminate(pgid, grace); err != nil && !errors.Is(err, ErrNotRunning) {
				s.Logger.Error("cancel job", "job", j.ID, "err", err)
			}
		}()
	}
}

// schedule resolves dependencies, plans and launches what can start.
func (s *Scheduler) schedule(ctx context.Context) error {
	queued, err := s.queuedJobs(ctx)
	if err != nil {
		return err
	}
	s.anyQueued = len(queued) > 0
	if len(queued) == 0 {
		return nil
	}
	// runner pause: queued jobs stay queued (their reasons as they were;
	// readers show "queue paused"), running ones go on. runner resume pokes.
	if paused, err := s.Store.QueuePaused(ctx); err != nil || paused {
		return err
	}
	// runner config's limits, read each plan: the next plan after a
	// change uses them, and jobs already running are never touched.
	settings, err := s.Store.JobSettings(ctx)
	if err != nil {
		return err
	}
	lim := LimitsOf(settings)
	if lim.CPUSlots != s.limits.CPUSlots || lim.gpus() != s.limits.gpus() {
		s.Logger.Info("job limits", "cpu_slots", lim.Slots(s.CPUSlots), "gpus", cmp.Or(lim.gpus(), "all"))
		s.limits = lim
	}
	var depIDs []int64
	for _, j := range queued {
		for _, d := range Needs(j) {
			depIDs = append(depIDs, d.ID)
		}
	}
	deps := map[int64]ledger.JobState{}
	if len(depIDs) > 0 {
		slices.Sort(depIDs)
		dj, err := s.Store.ListJobs(ctx, ledger.JobFilter{IDs: slices.Compact(depIDs)})
		if err != nil {
			return err
		}
		for _, d := range dj {
			deps[d.ID] = d.State
		}
	}
	reasons := map[int64]string{}
	var wants []Want
	needGPUs := false
	arrays := s.arrayRoom(queued)
	arrayRunning := map[int64]int64{}
	for _, rj := range s.running {
		arrayRunning[rj.job.ArrayID]++
	}
	for _, j := range queued {
		waitFor, skip := dependencies(j, deps)
		if waitFor == "" && skip == "" && j.Held {
			waitFor = fmt.Sprintf("held (runner release %d)", j.ID)
		}
		if waitFor == "" && skip == "" && j.ArrayID != 0 && j.ArrayLimit > 0 {
			if arrays[j.ArrayID] <= 0 {
				waitFor = ArrayLimitReason(j.ArrayID, j.ArrayLimit, arrayRunning[j.ArrayID])
			} else {
				arrays[j.ArrayID]--
			}
		}
		switch {
		case skip != "":
			ok, err := s.Store.SkipJob(ctx, j.ID, skip)
			if err != nil {
				return err
			}
			if ok {
				s.Logger.Info("job skipped", "job", j.ID, "reason", skip)
				s.ended = append(s.ended, endedJob{job: j})
				s.dirty = true // jobs that depend on this one
			}
		case waitFor != "":
			reasons[j.ID] = waitFor
		default:
			// A job may hold its GPUs for its timeout plus the grace and the
			// wait after SIGKILL: backfill must count all of it.
			hold := StopBudget(j.Timeout, s.Grace)
			wants = append(wants, Want{JobID: j.ID, GPUs: j.GPUs, GPUMem: j.GPUMem, Priority: j.Priority,
				SubmittedAt: j.SubmittedAt, Timeout: hold, Share: j.Share && j.GPUMem > 0, Slots: SlotsOf(j.CPUs, j.GPUs)})
			needGPUs = needGPUs || j.GPUs > 0
		}
	}
	var devs []Device
	noGPUs := Reason(s.Inv)
	if needGPUs {
		if devs, err = s.Inv.Devices(ctx); err != nil {
			noGPUs = "GPU inventory failed: " + err.Error()
			devs = nil
		}
		var why string
		if devs, why = lim.Devices(devs); why != "" {
			noGPUs = why
		}
	}
	now := s.Now()
	slots := lim.Slots(s.CPUSlots)
	wants, slotWaits := TakeSlots(wants, s.freeSlots(slots), slots)
	dec := Plan(now, devs, noGPUs, s.held(), s.ownPIDs(devs), wants)
	for id, why := range dec.Waiting {
		reasons[id] = why
	}
	for id, why := range slotWaits {
		reasons[id] = why
	}
	// Only changed reasons: with a long queue an unchanged one is most of
	// them, and rewriting each would cost a write per job per plan.
	for _, j := range queued {
		if r, ok := reasons[j.ID]; ok && r == j.Reason {
			delete(reasons, j.ID)
		}
	}
	if err := s.Store.SetJobReasons(ctx, reasons); err != nil {
		return err
	}
	// Launch in queue order, so equal jobs start in the order users expect.
	slices.SortStableFunc(wants, QueueOrder)
	for _, w := range wants {
		if uuids, ok := dec.Start[w.JobID]; ok && ctx.Err() == nil {
			s.launch(ctx, w.JobID, uuids)
		}
	}
	return nil
}

// queueMoved says whether a job changed since the last plan. A submit or
// requeue pokes the socket, but a poke can be lost (a full buffer, a
// client killed between its commit and its poke): one counter read per
// sample bounds that to a sample interval instead of the reconcile.
func (s *Scheduler) queueMoved(ctx context.Context) bool {
	n, err := s.Store.JobsSeq(ctx)
	return err == nil && n != s.queueSeq
}

// queuedJobs is the queue in id order: the cached one with the changes
// since the last plan applied, so a long queue costs a read of what
// changed, not of every job, on each plan (docs/design.md "Dispatch").
func (s *Scheduler) queuedJobs(ctx context.Context) ([]ledger.Job, error) {
	changed, next, err := s.Store.QueueChanges(ctx, s.queueSeq)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		s.queue = map[int64]ledger.Job{}
	}
	for _, j := range changed {
		if j.Executor != ledger.ExecutorLocal {
			s.follow(j) // its engine places it
			continue
		}
		if j.State == ledger.JobQueued {
			s.queue[j.ID] = j
		} else {
			delete(s.queue, j.ID)
		}
	}
	s.queueSeq = next
	out := slices.Collect(maps.Values(s.queue))
	slices.SortFunc(out, func(a, b ledger.Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Need is what a job asks of one of its dependencies.
type Need int

// The needs, one per submit flag.
const (
	NeedSuccess Need = iota // --after (Slurm's afterok)
	NeedEnd                 // --after-any (afterany)
	NeedNotOK               // --after-notok (afternotok): failed, cancelled, skipped or lost
)

// Flag is the submit flag that asks for n.
func (n Need) Flag() string {
	return [...]string{"--after", "--after-any", "--after-notok"}[n]
}

// Verdict is the one rule of dependencies: whether a dependency in state
// st meets need n (met), will never meet it (never), or may yet (neither).
func Verdict(n Need, st ledger.JobState) (met, never bool) {
	if !st.Ended() {
		return false, false
	}
	ok := st == ledger.JobSucceeded
	switch n {
	case NeedSuccess:
		return ok, !ok
	case NeedNotOK:
		return !ok, ok
	}
	return true, false
}

// Dep is one dependency of a job and what the job needs of it.
type Dep struct {
	ID   int64
	Need Need
}

// Needs lists j's dependencies with what it needs of each.
func Needs(j ledger.Job) []Dep {
	var out []Dep
	for n, ids := range [][]int64{NeedSuccess: j.After, NeedEnd: j.AfterAny, NeedNotOK: j.AfterNotOK} {
		for _, id := range ids {
			out = append(out, Dep{id, Need(n)})
		}
	}
	return out
}

// dependencies says why j still waits for its --after, --after-any and
// --after-notok jobs (waitFor), or why it never will run (skip); both
// empty: it may start.
func dependencies(j ledger.Job, deps map[int64]ledger.JobState) (waitFor, skip string) {
	for _, d := range Needs(j) {
		st, ok := deps[d.ID]
		if !ok {
			return "", fmt.Sprintf("dependency %d does not exist", d.ID)
		}
		met, never := Verdict(d.Need, st)
		switch {
		case never && d.Need == NeedNotOK:
			return "", fmt.Sprintf("dependency %d succeeded (--after-notok: runs only if it does not)", d.ID)
		case never:
			return "", fmt.Sprintf("dependency %d %s", d.ID, st)
		case !met && waitFor == "":
			waitFor = fmt.Sprintf("waiting for job %d (%s)", d.ID, st)
		}
	}
	return waitFor, ""
}

// arrayRoom is, for each array with a limit among queued, how many more of
// its jobs may start now (its limit less those running). Queued jobs come
// in id order, so an array's lower indexes take the room first.
// ArrayLimitReason is why a task of array id waits for its %limit with
// running of its tasks running: the tasks the limit lets through that still
// wait (for a CPU slot or a GPU) are "next in line", never counted as running.
func ArrayLimitReason(id, limit, running int64) string {
	if next := limit - running; next > 0 {
		return fmt.Sprintf("array %d: %d of its jobs running and %d next in line (limit %%%d)", id, running, next, limit)
	}
	return fmt.Sprintf("array %d: %d of its jobs running (limit %%%d)", id, running, limit)
}

func (s *Scheduler) arrayRoom(queued []ledger.Job) map[int64]int64 {
	room := map[int64]int64{}
	for _, j := range queued {
		if j.ArrayID != 0 && j.ArrayLimit > 0 {
			room[j.ArrayID] = j.ArrayLimit
		}
	}
	for _, rj := range s.running {
		if _, ok := room[rj.job.ArrayID]; ok {
			room[rj.job.ArrayID]--
		}
	}
	return room
}

// freeSlots is the CPU slots of total that the running jobs leave.
func (s *Scheduler) freeSlots(total int) int {
	free := total
	for _, rj := range s.running {
		free -= SlotsOf(rj.job.CPUs, rj.job.GPUs)
	}
	return free
}

// held lists the GPUs of running jobs with their latest possible end.
func (s *Scheduler) held() []Held {
	var out []Held
	for id, rj := range s.running {
		if len(rj.job.GPUUUIDs) == 0 {
			continue
		}
		h := Held{JobID: id, UUIDs: rj.job.GPUUUIDs, Share: rj.job.Share && rj.job.GPUMem > 0, Mem: rj.job.GPUMem}
		if rj.job.Timeout > 0 && rj.job.StartedAt != nil {
			// The supervisor needs the grace on top of the timeout to kill it.
			t := rj.job.StartedAt.Add(StopBudget(rj.job.Timeout, s.Grace))
			h.Ends = &t
		}
		out = append(out, h)
	}
	return out
}

// ownPIDs are the processes in the running jobs' process groups: their
// GPU processes are not foreign. /proc is read only when a GPU shows any
// process at all.
func (s *Scheduler) ownPIDs(devs []Device) map[int]bool {
	own := map[int]bool{}
	anyProcs := false
	for _, d := range devs {
		anyProcs = anyProcs || len(d.Procs) > 0
	}
	if !anyProcs || len(s.running) == 0 {
		return own
	}
	groups := map[int]bool{}
	for _, rj := range s.running {
		if rj.job.PGID > 0 {
			groups[rj.job.PGID] = true
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return own
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pgrp, _, err := procStat(pid); err == nil && groups[pgrp] {
			own[pid] = true
		}
	}
	return own
}

// warmSpare starts a spare supervisor for the next job, so that job's start
// does not wait for a process to start. Without one, launch starts a
// supervisor the slow way.
func (s *Scheduler) warmSpare() {
	if s.spare != nil || s.Units != nil {
		return
	}
	sp, err := StartSpare(s.Self)
	if err != nil {
		s.Logger.Warn("start spare supervisor", "err", err)
		return
	}
	s.spare = sp
}

// launch starts one planned job.
// The plan saw only the planning columns of job id (ledger.JobFilter.Planning);
// StartJob returns the whole row.
func (s *Scheduler) launch(ctx context.Context, id int64, uuids []string) {
	logPath, statusPath := s.LogPath(id), s.StatusPath(id)
	started, ok, err := s.Store.StartJob(ctx, id, ledger.JobStart{GPUUUIDs: uuids, LogPath: logPath, StatusPath: statusPath})
	if err != nil {
		s.Logger.Error("start job", "job", id, "err", err)
		return
	}
	if !ok {
		return // cancelled meanwhile
	}
	j := started
	rj := &runningJob{job: started}
	s.running[j.ID] = rj
	spec := Spec{
		ID: j.ID, Argv: j.Argv, Dir: j.Cwd, Env: j.Env, LogPath: logPath, StatusPath: statusPath,
		GPUUUIDs: uuids, RunID: j.RunID, WandbDir: s.WandbDir, Timeout: j.Timeout, Grace: s.Grace,
		RunGroup: j.RunGroup, ArrayID: j.ArrayID, ArrayIndex: j.ArrayIndex,
	}
	if j.Output != "" {
		spec.Output = ExpandOutput(j.Output, j)
	}
	if j.Error != "" {
		spec.Error = ExpandOutput(j.Error, j)
	}
	if j.MemMax > 0 && s.Units == nil {
		// Submit refuses --mem unless the daemon runs jobs as units; a
		// daemon restarted without them cannot honour the limit.
		s.failLaunch(ctx, j.ID, ErrMemNeedsUnits)
		return
	}
	if s.RunAsOwner && j.OwnerUID != 0 {
		u, err := LookupUser(j.OwnerUID)
		if err != nil {
			s.failLaunch(ctx, j.ID, err)
			return
		}
		spec.User = u
	}
	if j.EnvFile != "" {
		base, err := ReadEnvFile(j.EnvFile)
		if err != nil {
			// Running it in the daemon's environment instead would be the
			// wrong Python, the wrong paths: fail it and say why.
			s.failLaunch(ctx, j.ID, err)
			return
		}
		spec.BaseEnv, spec.OwnEnv = base, true
	}
	var (
		supervisor int
		lerr       error
	)
	if s.Units != nil {
		supervisor, lerr = s.Units.Launch(ctx, s.Self, spec, UnitOptions{Attempt: started.Attempts, Name: j.Name, MemMax: j.MemMax,
			CPUs: max(j.CPUs, 0)})
	} else {
		sp := s.spare
		s.spare = nil
		supervisor, lerr = LaunchWith(s.Self, sp, spec)
		s.warmSpare()
	}
	st, rerr := ReadStatus(statusPath)
	switch {
	case rerr == nil && st.EndedAt != nil:
		// Could not start, or already done: record it now.
		s.finish(ctx, j.ID, st)
	case rerr == nil && st.PID > 0:
		if err := s.Store.RecordJobPIDs(ctx, j.ID, supervisor, st.PID, st.PGID, st.StartTicks); err != nil {
			s.Logger.Error("record job processes", "job", j.ID, "err", err)
		}
		rj.job.SupervisorPID, rj.job.PID, rj.job.PGID, rj.job.StartTicks = supervisor, st.PID, st.PGID, st.StartTicks
		s.Logger.Info("job started", "job", j.ID, "pid", st.PID, "gpus", uuids, "run_id", j.RunID)
	case supervisor > 0 && processExists(supervisor):
		// The supervisor has the spec but did not report in time (a loaded
		// box): the job may well be running. Keep it; its status file, or
		// checkRunning when none ever comes, settles it.
		if err := s.Store.RecordJobPIDs(ctx, j.ID, supervisor, 0, 0, 0); err != nil {
			s.Logger.Error("record job processes", "job", j.ID, "err", err)
		}
		rj.job.SupervisorPID = supervisor
		s.Logger.Warn("job's supervisor is slow to report; waiting for it", "job", j.ID, "err", lerr)
	default:
		s.failLaunch(ctx, j.ID, lerr)
	}
}

// failLaunch records that job id, just moved to running, could not be
// launched (it is retried if it has retries left).
func (s *Scheduler) failLaunch(ctx context.Context, id int64, lerr error) {
	reason := "launch failed"
	if lerr != nil {
		reason += ": " + lerr.Error()
	}
	s.Logger.Error("launch job", "job", id, "err", lerr)
	jj, ok, err := s.Store.EndJob(ctx, id, ledger.JobEnd{Reason: reason})
	s.ended1(id, jj, ok, err)
}

// sample reads the GPUs once: telemetry of the running jobs and the
// snapshot that `runner status` and `runner gpus` show.
func (s *Scheduler) sample(ctx context.Context) {
	devs, err := s.Inv.Devices(ctx)
	if err != nil {
		s.Logger.Debug("sample GPUs", "err", err)
		return
	}
	byUUID := map[string]Device{}
	for _, d := range devs {
		byUUID[d.UUID] = d
	}
	now := s.Now()
	holder := map[string]int64{}
	for id, rj := range s.running {
		if len(rj.job.GPUUUIDs) == 0 {
			continue
		}
		ts := kernels.TelemetrySample{At: now}
		utilSum, utilN := 0, 0
		var power, energy float64
		havePower, haveEnergy := true, true
		for _, u := range rj.job.GPUUUIDs {
			holder[u] = id
			d, ok := byUUID[u]
			if !ok {
				havePower, haveEnergy = false, false
				continue
			}
			if rj.job.Share {
				// A shared GPU's use is everyone's: count this job's processes.
				ts.MemUsed += groupMem(d, rj.job.PGID)
			} else {
				ts.MemUsed += d.MemUsed
			}
			if d.Util != nil {
				utilSum += *d.Util
				utilN++
			}
			if d.Power != nil {
				power += *d.Power
			} else {
				havePower = false
			}
			if d.Energy != nil {
				energy += *d.Energy
			} else {
				haveEnergy = false
			}
		}
		if utilN > 0 {
			u := utilSum / utilN
			ts.Util = &u
		}
		if havePower {
			ts.Power = &power
		}
		if haveEnergy {
			ts.Energy = &energy
		}
		rj.agg.Add(ts)
		rj.samples++
		s.storeTelemetry(ctx, rj)
		s.warnOverShare(ctx, rj)
	}
	snap := NewSnapshot(s.Inv, devs, holder)
	b, err := json.Marshal(snap)
	// An unchanged view is stored again only every snapshotRefresh (so
	// `runner gpus` shows a recent sample time): an idle box, or one
	// without GPUs, does not write the ledger every few seconds.
	if err == nil && string(b) == s.lastSnap && now.Sub(s.lastSnapAt) < snapshotRefresh {
		return
	}
	if err == nil {
		err = s.Store.SetGPUSnapshot(ctx, string(b))
	}
	if err != nil && ctx.Err() == nil {
		s.Logger.Error("store GPU snapshot", "err", err)
		return
	}
	s.lastSnap, s.lastSnapAt = string(b), now
}

// snapshotRefresh is how often an unchanged GPU view is stored again.
const snapshotRefresh = time.Minute

// groupMem is the GPU memory d's processes in process group pgid use.
func groupMem(d Device, pgid int) uint64 {
	var sum uint64
	for _, pr := range d.Procs {
		if pr.UsedMem == nil || pgid <= 0 {
			continue
		}
		if _, pg, _, err := procStat(pr.PID); err == nil && pg == pgid {
			sum += *pr.UsedMem
		}
	}
	return sum
}

// warnOverShare says, once, that a sharing job uses more GPU memory than it
// asked for: the jobs it shares with were placed on its word. The warning
// goes to the daemon's log and to the job's reason (runner jobs).
func (s *Scheduler) warnOverShare(ctx context.Context, rj *runningJob) {
	j := rj.job
	if !j.Share || j.GPUMem == 0 || rj.overShare {
		return
	}
	peak, _, _ := rj.agg.Result()
	asked := j.GPUMem * uint64(max(1, len(j.GPUUUIDs)))
	if peak <= asked {
		return
	}
	rj.overShare = true
	note := fmt.Sprintf("uses %s of GPU memory, more than the %s it asked to share (--gpu-mem)", units.FormatSize(peak), units.FormatSize(asked))
	s.Logger.Warn("sharing job over its GPU memory", "job", j.ID, "peak_bytes", peak, "asked_bytes", asked)
	if err := s.Store.SetRunningNote(ctx, j.ID, note); err != nil && ctx.Err() == nil {
		s.Logger.Error("record job note", "job", j.ID, "err", err)
	}
}

func (s *Scheduler) storeTelemetry(ctx context.Context, rj *runningJob) {
	peak, util, energy := rj.agg.Result()
	if err := s.Store.SetJobTelemetry(ctx, rj.job.ID, peak, util, energy); err != nil && ctx.Err() == nil {
		s.Logger.Error("store job telemetry", "job", rj.job.ID, "err", err)
	}
}

// Snapshot is the GPU view the daemon stores in the ledger each sample and
// `runner gpus --json` prints.
type Snapshot struct {
	Inventory string      `json:"inventory"` // nvml, fake, none
	Reason    *string     `json:"reason"`    // why there are no GPUs, for "none"
	GPUs      []GPUStatus `json:"gpus"`
}

// Devices are the snapshot's GPUs as the planner sees them.
func (s Snapshot) Devices() []Device {
	out := make([]Device, len(s.GPUs))
	for i, g := range s.GPUs {
		out[i] = Device{Index: g.Index, UUID: g.UUID, Name: g.Name, MemTotal: g.MemoryTotal, MemUsed: g.MemoryUsed}
	}
	return out
}

// GPUStatus is one GPU in a Snapshot.
type GPUStatus struct {
	Index       int          `json:"index"`
	UUID        string       `json:"uuid"`
	Name        string       `json:"name"`
	MemoryTotal uint64       `json:"memory_total_bytes"`
	MemoryUsed  uint64       `json:"memory_used_bytes"`
	Util        *int         `json:"util_percent"`
	PowerW      *float64     `json:"power_w"`
	EnergyJ     *float64     `json:"energy_j"`
	Processes   []GPUProcess `json:"processes"`
	HeldBy      *int64       `json:"held_by_job"`
}

// GPUProcess is a compute process on a GPU.
type GPUProcess struct {
	PID        int     `json:"pid"`
	UsedMemory *uint64 `json:"used_memory_bytes"`
}

// NewSnapshot describes devs; heldBy maps GPU UUIDs to the job holding them.
func NewSnapshot(inv Inventory, devs []Device, heldBy map[string]int64) Snapshot {
	snap := Snapshot{Inventory: inv.Name(), GPUs: []GPUStatus{}}
	if len(devs) == 0 {
		r := Reason(inv)
		snap.Reason = &r
	}
	for _, d := range devs {
		g := GPUStatus{Index: d.Index, UUID: d.UUID, Name: d.Name, MemoryTotal: d.MemTotal, MemoryUsed: d.MemUsed,
			Util: d.Util, PowerW: d.Power, EnergyJ: d.Energy, Processes: []GPUProcess{}}
		for _, p := range d.Procs {
			g.Processes = append(g.Processes, GPUProcess{PID: p.PID, UsedMemory: p.UsedMem})
		}
		if id, ok := heldBy[d.UUID]; ok {
			g.HeldBy = &id
		}
		snap.GPUs = append(snap.GPUs, g)
	}
	return snap
}

// processExists reports whether pid is a live (non-zombie) process.
func processExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	state, _, _, err := procStat(pid)
	if err != nil {
		return !errors.Is(err, ErrNotRunning) // unknown is not dead
	}
	return state != 'Z' && state != 'X'
}
