package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// Polling an engine: soon after something changed, then less and less
// often while nothing does (docs/design.md "Slurm"). Nothing is polled
// while no engine job is queued or running.
const (
	EnginePollMin = 500 * time.Millisecond
	EnginePollMax = 10 * time.Second
)

// engineForgetAfter: a job its engine does not know on this many polls in a
// row, and older than engineGrace, is lost. A job just submitted may not
// show yet; a Slurm without accounting forgets ended jobs after MinJobAge.
const (
	engineForgetAfter = 3
	engineGrace       = time.Minute
)

// engineJob is a queued or running job of an engine, as the scheduler
// follows it.
type engineJob struct {
	job    ledger.Job // planning columns (ledger.QueueChanges) and state
	reason string     // the reason last stored
	misses int        // polls in a row its engine did not know it
}

// follow updates the engine jobs followed from changed ledger rows.
func (s *Scheduler) follow(j ledger.Job) {
	if j.State.Ended() {
		delete(s.engineJobs, j.ID)
		return
	}
	if ej := s.engineJobs[j.ID]; ej != nil {
		ej.job = j
		return
	}
	s.engineJobs[j.ID] = &engineJob{job: j, reason: j.Reason}
	s.pollEvery, s.pollAt = EnginePollMin, s.Now()
}

// reattach follows again, after a restart, the engine jobs a previous
// daemon followed: by their engine ids in the ledger.
func (s *Scheduler) reattach(ctx context.Context) error {
	list, err := s.Store.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobQueued, ledger.JobRunning}})
	if err != nil {
		return err
	}
	for _, j := range list {
		if j.Executor != ledger.ExecutorLocal && j.Executor != "" {
			s.follow(j)
			s.Logger.Info("following engine job", "job", j.ID, "executor", j.Executor, "engine_id", j.EngineID, "state", j.State)
		}
	}
	return nil
}

// pollSoon polls the engines again soon and backs off from there: a poke
// is a submit, cancel, hold or release, which the engine answers at once.
func (s *Scheduler) pollSoon() {
	if len(s.engineJobs) > 0 {
		s.pollEvery = EnginePollMin
		if soon := s.Now().Add(EnginePollMin); soon.Before(s.pollAt) {
			s.pollAt = soon
		}
	}
}

// pollTimer is the timer of the next engine poll; nil (never fires) when no
// engine job is followed.
func (s *Scheduler) pollTimer() *time.Timer {
	if len(s.engineJobs) == 0 {
		return nil
	}
	return time.NewTimer(max(s.pollAt.Sub(s.Now()), 0))
}

// engineQuery is one engine's part of a poll: the ids asked about, and
// what it answered.
type engineQuery struct {
	ex     ledger.Executor
	eng    Engine
	ids    []string
	states map[string]EngineState
	err    error
}

// pollEngines is one whole poll, in the caller's goroutine: prepare, ask,
// record (Run asks off its loop: a slurmctld that does not answer must not
// hold up local jobs).
func (s *Scheduler) pollEngines(ctx context.Context) {
	qs, changed := s.engineQueries(ctx)
	askEngines(ctx, qs)
	s.recordStates(ctx, qs, changed)
}

// engineQueries prepares a poll: the ids to ask each engine about. It fails
// the jobs whose submit never recorded an engine id (changed: it did).
func (s *Scheduler) engineQueries(ctx context.Context) (qs []*engineQuery, changed bool) {
	// Submissions record their engine ids after the insert: pick them up.
	if _, err := s.queuedJobs(ctx); err != nil {
		s.Logger.Error("engine jobs", "err", err)
	}
	byEngine := map[ledger.Executor]*engineQuery{}
	for id, ej := range s.engineJobs {
		if ej.job.EngineID == "" {
			// runner submit stopped between its insert and sbatch's answer.
			if s.Now().Sub(ej.job.SubmittedAt) > engineGrace {
				s.refuse(ctx, id, "no engine job id was recorded: runner submit was interrupted")
				changed = true
			}
			continue
		}
		q := byEngine[ej.job.Executor]
		if q == nil {
			q = &engineQuery{ex: ej.job.Executor, eng: s.Engines[ej.job.Executor]}
			if q.eng == nil {
				q.eng = NewEngine(q.ex)
			}
			byEngine[q.ex] = q
			qs = append(qs, q)
		}
		q.ids = append(q.ids, ej.job.EngineID)
	}
	return qs, changed
}

// askEngines runs the engines' States calls; it touches nothing of the
// scheduler's, so it may run on its own goroutine.
func askEngines(ctx context.Context, qs []*engineQuery) {
	for _, q := range qs {
		q.states, q.err = q.eng.States(ctx, q.ids)
	}
}

// recordStates records what the engines answered: a start (and its node),
// an end (exit code, signal or reason), why a pending job waits, a
// dependency that can never be met; then when to poll next.
func (s *Scheduler) recordStates(ctx context.Context, qs []*engineQuery, changed bool) {
	reasons := map[int64]string{}
	var failed error
	for _, q := range qs {
		if q.err != nil {
			failed = fmt.Errorf("%s: %w", q.ex, q.err)
			continue
		}
		asked := make(map[string]bool, len(q.ids))
		for _, eid := range q.ids {
			asked[eid] = true
		}
		for id, ej := range s.engineJobs {
			// A job that came (or got its id) while the engine was asked
			// is not "unknown to it": it was not asked about.
			if ej.job.Executor != q.ex || !asked[ej.job.EngineID] {
				continue
			}
			if s.track(ctx, q.eng, id, ej, q.states, reasons) {
				changed = true
			}
		}
	}
	if err := s.Store.SetJobReasons(ctx, reasons); err != nil {
		s.Logger.Error("engine job reasons", "err", err)
	}
	switch {
	case failed != nil && ctx.Err() == nil:
		// squeue failing (slurmctld down, a network partition): back off
		// further, and log once per streak, not once per poll.
		s.pollAt = s.Now().Add(max(s.engineGuard.Fail(failed), s.pollEvery))
		return
	case changed || len(reasons) > 0:
		s.pollEvery = EnginePollMin
	default:
		s.pollEvery = min(max(s.pollEvery*2, EnginePollMin), EnginePollMax)
	}
	s.engineGuard.OK()
	s.pollAt = s.Now().Add(s.pollEvery)
}

// track records what engine says of one job; true when its state changed.
func (s *Scheduler) track(ctx context.Context, eng Engine, id int64, ej *engineJob, states map[string]EngineState, reasons map[int64]string) bool {
	st, ok := states[ej.job.EngineID]
	if !ok {
		ej.misses++
		if ej.misses < engineForgetAfter || s.Now().Sub(ej.job.SubmittedAt) < engineGrace {
			return false
		}
		s.Logger.Warn("engine no longer knows the job", "job", id, "engine_id", ej.job.EngineID)
		if ej.job.State == ledger.JobQueued {
			s.refuse(ctx, id, "its engine no longer knows job "+ej.job.EngineID)
		} else {
			s.lost(ctx, id)
		}
		return true
	}
	ej.misses = 0
	switch {
	case st.Phase == PhasePending && st.NeverRuns:
		if err := eng.Cancel(ctx, []string{ej.job.EngineID}, nil); err != nil {
			s.Logger.Warn("cancel engine job that can never run", "job", id, "err", err)
		}
		skipped, err := s.Store.SkipJob(ctx, id, "a dependency did not succeed ("+st.Reason+")")
		if err != nil {
			s.Logger.Error("skip job", "job", id, "err", err)
			return false
		}
		delete(s.engineJobs, id)
		s.dirty = s.dirty || skipped
		return skipped
	case st.Phase == PhasePending:
		if r := string(ej.job.Executor) + ": " + st.Reason; st.Reason != "" && r != ej.reason && ej.job.State == ledger.JobQueued {
			reasons[id], ej.reason = r, r
		}
		return false
	}
	changed := false
	if ej.job.State == ledger.JobQueued {
		started, ok, err := s.Store.StartJob(ctx, id, ledger.JobStart{Node: st.Node, StartedAt: st.StartedAt})
		if err != nil {
			s.Logger.Error("record engine job start", "job", id, "err", err)
			return false
		}
		if !ok {
			return false // cancelled meanwhile; the change comes through the queue
		}
		ej.job.State, changed = started.State, true
		s.Logger.Info("job started", "job", id, "executor", ej.job.Executor, "engine_id", ej.job.EngineID, "node", st.Node)
	}
	if st.Phase == PhaseEnded {
		j, ok, err := s.Store.EndJob(ctx, id, ledger.JobEnd{EndedAt: st.EndedAt, ExitCode: st.ExitCode, Signal: st.Signal, Reason: st.EndReason})
		s.ended1(id, j, ok, err)
		if err == nil {
			delete(s.engineJobs, id)
			changed = true
		}
	}
	// Still running as it was: nothing changed, and the polls back off.
	return changed
}

func (s *Scheduler) refuse(ctx context.Context, id int64, why string) {
	if _, err := s.Store.RefuseJobs(ctx, []int64{id}, why); err != nil {
		s.Logger.Error("record engine job failed", "job", id, "err", err)
		return
	}
	delete(s.engineJobs, id)
	s.dirty = true
}
