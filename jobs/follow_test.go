package jobs

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// fakeEngine answers States from a map the test changes, and records cancels.
type fakeEngine struct {
	states    map[string]EngineState
	cancelled []string
	polls     int
	err       error // States fails with it
}

var _ Engine = (*fakeEngine)(nil)

func (f *fakeEngine) Submit(context.Context, Submission) ([]string, error) { return nil, nil }
func (f *fakeEngine) Cancel(_ context.Context, ids []string, _ *User) error {
	f.cancelled = append(f.cancelled, ids...)
	return nil
}
func (f *fakeEngine) Hold(context.Context, []string, bool, *User) error { return nil }
func (f *fakeEngine) States(_ context.Context, ids []string) (map[string]EngineState, error) {
	f.polls++
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]EngineState{}
	for _, id := range ids {
		if st, ok := f.states[id]; ok {
			out[id] = st
		}
	}
	return out, nil
}

// The scheduler follows an engine's jobs through the ledger's moves: why
// one waits, its start and node, its end, a dependency that never will be
// met, a job the engine forgot, a submit that never recorded an id; a new
// daemon follows them again; polls back off while nothing changes.
func TestSchedulerFollowsEngineJobs(t *testing.T) {
	ctx := context.Background()
	db := ledgertest.Open(t, "", ledger.Options{})
	now := time.Now()
	clock := func() time.Time { return now }
	eng := &fakeEngine{states: map[string]EngineState{}}
	newSched := func() *Scheduler {
		s := &Scheduler{Store: db, Now: clock, Engines: map[ledger.Executor]Engine{ledger.ExecutorSlurm: eng}}
		s.init()
		if err := s.reattach(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var ended []string
	submit := func(engineID string) ledger.Job {
		t.Helper()
		j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"train"}, Executor: ledger.ExecutorSlurm})
		if err != nil {
			t.Fatal(err)
		}
		if engineID != "" {
			if err := db.SetEngineIDs(ctx, map[int64]ledger.EngineSubmit{j.ID: {EngineID: engineID, LogPath: "/w/log"}}); err != nil {
				t.Fatal(err)
			}
		}
		return j
	}
	get := func(id int64) ledger.Job {
		t.Helper()
		j, err := db.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	local, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"local"}})
	if err != nil {
		t.Fatal(err)
	}
	ok := submit("100")
	failing := submit("101")
	never := submit("102")
	forgotten := submit("103")
	noID := submit("")
	started := now.Add(-3 * time.Second).Truncate(time.Second)
	eng.states["100"] = EngineState{Phase: PhasePending, Reason: "Resources"}
	eng.states["101"] = EngineState{Phase: PhaseRunning, Node: "n2", StartedAt: started}
	eng.states["102"] = EngineState{Phase: PhasePending, Reason: "DependencyNeverSatisfied", NeverRuns: true}

	s := newSched()
	s.OnJobEnd = func(runID string) { ended = append(ended, runID) }
	if _, ok := s.engineJobs[local.ID]; ok {
		t.Error("the scheduler follows a local job as an engine's")
	}
	s.pollEngines(ctx)
	if j := get(ok.ID); j.State != ledger.JobQueued || j.Reason != "slurm: Resources" {
		t.Errorf("pending job: %s %q", j.State, j.Reason)
	}
	if j := get(failing.ID); j.State != ledger.JobRunning || j.Node != "n2" || !j.StartedAt.Equal(started) || j.LogPath != "/w/log" {
		t.Errorf("running job: %s node %q started %v log %q", j.State, j.Node, j.StartedAt, j.LogPath)
	}
	if j := get(never.ID); j.State != ledger.JobSkipped || !slices.Equal(eng.cancelled, []string{"102"}) {
		t.Errorf("job whose dependency failed: %s, cancelled in the engine: %v", j.State, eng.cancelled)
	}
	// The same answer again (one job still pending, one still running):
	// nothing changed, so the next poll comes later, not at the minimum;
	// a poke (submit, cancel...) brings it close again.
	s.pollEngines(ctx)
	s.pollEngines(ctx)
	if s.pollEvery != 4*EnginePollMin || s.pollAt.Sub(now) != 4*EnginePollMin {
		t.Errorf("poll in %s after unchanged answers, want %s", s.pollAt.Sub(now), 4*EnginePollMin)
	}
	s.pollSoon()
	if s.pollAt.Sub(now) != EnginePollMin {
		t.Errorf("poll in %s after a poke, want %s", s.pollAt.Sub(now), EnginePollMin)
	}

	// squeue failing: nothing is recorded, and the polls back off further.
	eng.err = errors.New("squeue: slurm_load_jobs error: Unable to contact slurm controller")
	var waits []time.Duration
	for range 4 {
		s.pollEngines(ctx)
		waits = append(waits, s.pollAt.Sub(now))
	}
	if waits[3] < 4*waits[0] || get(ok.ID).State != ledger.JobQueued {
		t.Errorf("polls while the engine fails: %v; job %s", waits, get(ok.ID).State)
	}
	eng.err = nil

	// A restart: the new scheduler follows the same jobs again.
	s = newSched()
	s.OnJobEnd = func(runID string) { ended = append(ended, runID) }
	if len(s.engineJobs) != 4 {
		t.Fatalf("after a restart the scheduler follows %d engine jobs, want 4 (ok, failing, forgotten, no id)", len(s.engineJobs))
	}
	eng.states["100"] = EngineState{Phase: PhaseEnded, Node: "n1", ExitCode: ptr(0), StartedAt: started, EndedAt: now}
	eng.states["101"] = EngineState{Phase: PhaseEnded, Node: "n2", Signal: "SIGTERM", EndReason: "timeout", EndedAt: now}
	s.pollEngines(ctx)
	s.runHooks(context.Background())
	if j := get(ok.ID); j.State != ledger.JobSucceeded || j.Node != "n1" || *j.ExitCode != 0 {
		t.Errorf("job that ended before it was seen running: %s node %q exit %v", j.State, j.Node, j.ExitCode)
	}
	if j := get(failing.ID); j.State != ledger.JobFailed || j.Signal != "SIGTERM" || j.Reason != "timeout after 0s" {
		t.Errorf("job past its time: %s %q %q", j.State, j.Signal, j.Reason)
	}
	if !slices.Equal(ended, []string{get(ok.ID).RunID, get(failing.ID).RunID}) && !slices.Equal(ended, []string{get(failing.ID).RunID, get(ok.ID).RunID}) {
		t.Errorf("job-end hooks for runs %v", ended)
	}

	// Nothing changes: polls back off to EnginePollMax.
	every := []time.Duration{}
	for range 8 {
		s.pollEngines(ctx)
		every = append(every, s.pollEvery)
	}
	if every[0] != 2*EnginePollMin || every[len(every)-1] != EnginePollMax {
		t.Errorf("poll intervals while nothing changes: %v", every)
	}
	if j := get(forgotten.ID); j.State != ledger.JobQueued {
		t.Errorf("forgotten job given up within its grace: %s", j.State)
	}
	// Past the grace, the forgotten job and the one without an id fail.
	now = now.Add(2 * engineGrace)
	for range engineForgetAfter {
		s.pollEngines(ctx)
	}
	if j := get(forgotten.ID); j.State != ledger.JobFailed || j.Reason != "its engine no longer knows job 103" {
		t.Errorf("forgotten job: %s %q", j.State, j.Reason)
	}
	if j := get(noID.ID); j.State != ledger.JobFailed {
		t.Errorf("job without an engine id: %s %q", j.State, j.Reason)
	}
	if len(s.engineJobs) != 0 || s.pollTimer() != nil {
		t.Errorf("still following %d jobs, or polling with none", len(s.engineJobs))
	}
	polls := eng.polls
	s.pollEngines(ctx)
	if eng.polls != polls {
		t.Error("the engine was asked with no job of it followed")
	}
}
