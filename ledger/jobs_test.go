package ledger_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

func submit(t *testing.T, db *ledger.DB, s ledger.JobSpec) ledger.Job {
	t.Helper()
	if s.Argv == nil {
		s.Argv = []string{"true"}
	}
	j, err := db.SubmitJob(context.Background(), s)
	if err != nil {
		t.Fatalf("submit %+v: %v", s, err)
	}
	return j
}

func TestSubmitJobValidatesAndAssignsRunIDs(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	train := submit(t, db, ledger.JobSpec{Name: "train", Argv: []string{"python", "train.py"}, GPUs: 2, Env: []string{"A=1"}})
	if train.State != ledger.JobQueued || !regexp.MustCompile(`^[a-z0-9]{8}$`).MatchString(train.RunID) {
		t.Fatalf("new job = %+v, want queued with an 8-char run id", train)
	}
	eval := submit(t, db, ledger.JobSpec{Name: "eval", After: []int64{train.ID}, SameRun: true})
	if eval.RunID != train.RunID {
		t.Errorf("--same-run job run id %q, want its dependency's %q", eval.RunID, train.RunID)
	}
	other := submit(t, db, ledger.JobSpec{After: []int64{train.ID}})
	if other.RunID == train.RunID {
		t.Error("a job without --same-run shares its dependency's run id")
	}

	for _, tc := range []struct {
		name string
		spec ledger.JobSpec
		want error
	}{
		{"no command", ledger.JobSpec{Argv: []string{}}, ledger.ErrBadJob},
		{"same-run without after", ledger.JobSpec{Argv: []string{"x"}, SameRun: true}, ledger.ErrBadJob},
		{"same-run with two afters", ledger.JobSpec{Argv: []string{"x"}, SameRun: true, After: []int64{1, 2}}, ledger.ErrBadJob},
		{"api key in env", ledger.JobSpec{Argv: []string{"x"}, Env: []string{"WANDB_API_KEY=abc"}}, ledger.ErrSecretInEnv},
		{"malformed env", ledger.JobSpec{Argv: []string{"x"}, Env: []string{"NOEQUALS"}}, ledger.ErrBadJob},
		{"unknown dependency", ledger.JobSpec{Argv: []string{"x"}, After: []int64{999}}, ledger.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.SubmitJob(ctx, tc.spec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == ledger.ErrNotFound && !strings.Contains(err.Error(), "999") {
				t.Errorf("error %q does not name the unknown job", err)
			}
		})
	}
	jobs, err := db.ListJobs(ctx, ledger.JobFilter{})
	if err != nil || len(jobs) != 3 {
		t.Fatalf("jobs after bad submissions = %d (%v), want 3", len(jobs), err)
	}
	for _, j := range jobs {
		for _, kv := range j.Env {
			if strings.Contains(kv, "WANDB_API_KEY") {
				t.Fatal("secret stored in the ledger")
			}
		}
	}
	got, err := db.GetJob(ctx, train.ID)
	if err != nil || got.Name != "train" || got.GPUs != 2 || strings.Join(got.Argv, " ") != "python train.py" || got.Env[0] != "A=1" {
		t.Fatalf("GetJob = %+v, %v", got, err)
	}
	if _, err := db.GetJob(ctx, 12345); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("GetJob(unknown) err = %v", err)
	}
}

func TestJobLifecycleRetriesAndEvents(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	j := submit(t, db, ledger.JobSpec{Retries: 1, GPUs: 1})
	code := func(c int) *int { return &c }

	started, ok, err := db.StartJob(ctx, j.ID, ledger.JobStart{GPUUUIDs: []string{"GPU-a"}, LogPath: "/l", StatusPath: "/s"})
	if err != nil || !ok || started.State != ledger.JobRunning || started.Attempts != 1 || started.GPUUUIDs[0] != "GPU-a" {
		t.Fatalf("StartJob = %+v, %v, %v", started, ok, err)
	}
	if _, ok, _ := db.StartJob(ctx, j.ID, ledger.JobStart{}); ok {
		t.Fatal("a running job was started twice")
	}
	if err := db.RecordJobPIDs(ctx, j.ID, 10, 11, 11, 12345); err != nil {
		t.Fatal(err)
	}
	// First failure: one retry left, so back to queued with the same id and run id.
	after, ok, err := db.EndJob(ctx, j.ID, ledger.JobEnd{ExitCode: code(3)})
	if err != nil || !ok || after.State != ledger.JobQueued || after.RunID != j.RunID || !strings.Contains(after.Reason, "exit code 3") {
		t.Fatalf("after first failure = %+v, %v", after, err)
	}
	if _, ok, _ := db.StartJob(ctx, j.ID, ledger.JobStart{}); !ok {
		t.Fatal("retried job could not start again")
	}
	after, _, err = db.EndJob(ctx, j.ID, ledger.JobEnd{Lost: true})
	if err != nil || after.State != ledger.JobLost || after.Attempts != 2 {
		t.Fatalf("after second failure = %+v, %v; want lost after 2 attempts", after, err)
	}
	if _, ok, _ := db.EndJob(ctx, j.ID, ledger.JobEnd{ExitCode: code(0)}); ok {
		t.Fatal("an ended job was ended again")
	}

	ok2 := submit(t, db, ledger.JobSpec{})
	db.StartJob(ctx, ok2.ID, ledger.JobStart{})
	if got, _, _ := db.EndJob(ctx, ok2.ID, ledger.JobEnd{ExitCode: code(0)}); got.State != ledger.JobSucceeded || got.EndedAt == nil {
		t.Fatalf("exit 0 -> %+v, want succeeded", got)
	}
	to := submit(t, db, ledger.JobSpec{Timeout: time.Second})
	db.StartJob(ctx, to.ID, ledger.JobStart{})
	if got, _, _ := db.EndJob(ctx, to.ID, ledger.JobEnd{Signal: "SIGTERM", Reason: "timeout"}); got.State != ledger.JobFailed || !strings.Contains(got.Reason, "timeout") {
		t.Fatalf("timeout -> %+v, want failed with reason timeout", got)
	}

	evs, err := db.Events(ctx, []string{"job.state"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range evs {
		if e.Subject == "1" {
			msgs = append([]string{e.Message}, msgs...)
		}
	}
	want := []string{"new -> queued", "queued -> running", "running -> queued", "queued -> running", "running -> lost"}
	if len(msgs) != len(want) {
		t.Fatalf("job 1 events %q, want %q", msgs, want)
	}
	for i := range want {
		if !strings.HasPrefix(msgs[i], want[i]) {
			t.Errorf("event %d = %q, want %q...", i, msgs[i], want[i])
		}
	}
	counts, err := db.JobCounts(ctx)
	if err != nil || counts[ledger.JobLost] != 1 || counts[ledger.JobSucceeded] != 1 || counts[ledger.JobFailed] != 1 || counts[ledger.JobQueued] != 0 {
		t.Fatalf("counts = %v, %v", counts, err)
	}
}

func TestCancelJob(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	queued := submit(t, db, ledger.JobSpec{})
	running := submit(t, db, ledger.JobSpec{Retries: 3})
	db.StartJob(ctx, running.ID, ledger.JobStart{})

	if got, err := db.CancelJob(ctx, queued.ID); err != nil || got.State != ledger.JobCancelled {
		t.Fatalf("cancel queued = %+v, %v; want cancelled at once", got, err)
	}
	got, err := db.CancelJob(ctx, running.ID)
	if err != nil || got.State != ledger.JobRunning || !got.CancelRequested {
		t.Fatalf("cancel running = %+v, %v; want running with a cancel request", got, err)
	}
	req, _ := db.ListJobs(ctx, ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}, CancelRequested: true})
	if len(req) != 1 || req[0].ID != running.ID {
		t.Fatalf("jobs with cancel requests = %+v", req)
	}
	// Killed by the scheduler's SIGTERM: cancelled, not retried.
	end, _, err := db.EndJob(ctx, running.ID, ledger.JobEnd{Signal: "SIGTERM"})
	if err != nil || end.State != ledger.JobCancelled {
		t.Fatalf("end after cancel = %+v, %v; want cancelled", end, err)
	}
	if _, err := db.CancelJob(ctx, running.ID); !errors.Is(err, ledger.ErrJobEnded) {
		t.Fatalf("cancel of an ended job err = %v, want ErrJobEnded", err)
	}
	if _, err := db.CancelJob(ctx, 99); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("cancel of an unknown job err = %v, want ErrNotFound", err)
	}
}

// A pipeline's run dirs are uploaded only when no stage of its run id is
// queued or running, and each run dir is linked to the job that wrote it.
func TestPipelineRunsWaitForEveryStage(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	root := t.TempDir()
	train := submit(t, db, ledger.JobSpec{Name: "train"})
	eval := submit(t, db, ledger.JobSpec{Name: "eval", After: []int64{train.ID}, SameRun: true})
	if _, ok, err := db.StartJob(ctx, train.ID, ledger.JobStart{}); !ok || err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	o := observe(root, "offline-run-20250301_100000-"+train.RunID, train.RunID, start)
	rows, err := db.UpsertRuns(ctx, []ledger.Observation{o})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].JobID == nil || *rows[0].JobID != train.ID {
		t.Fatalf("stage 1 run job_id = %v, want %d (the running job)", rows[0].JobID, train.ID)
	}
	if ok, _ := db.JobActiveForRun(ctx, train.RunID); !ok {
		t.Fatal("JobActiveForRun false while both stages are pending")
	}
	code0 := 0
	db.EndJob(ctx, train.ID, ledger.JobEnd{ExitCode: &code0})
	if err := db.MarkReady(ctx, o.Dir, "exit record"); err != nil {
		t.Fatal(err)
	}
	// Stage 2 is still queued: stage 1 alone must not be claimed.
	if got, err := db.Claim(ctx, "w", time.Minute, nil); err != nil || len(got) != 0 {
		t.Fatalf("claim while stage 2 is queued = %d runs, %v; want none", len(got), err)
	}
	db.StartJob(ctx, eval.ID, ledger.JobStart{})
	o2 := observe(root, "offline-run-20250301_110000-"+train.RunID, train.RunID, start.Add(time.Hour))
	rows, err = db.UpsertRuns(ctx, []ledger.Observation{o2})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].JobID == nil || *rows[0].JobID != eval.ID {
		t.Fatalf("stage 2 run job_id = %v, want %d", rows[0].JobID, eval.ID)
	}
	db.EndJob(ctx, eval.ID, ledger.JobEnd{ExitCode: &code0})
	if ok, _ := db.JobActiveForRun(ctx, train.RunID); ok {
		t.Fatal("JobActiveForRun true after both stages ended")
	}
	_ = db.MarkReady(ctx, o2.Dir, "job ended")
	got, err := db.Claim(ctx, "w", time.Minute, nil)
	if err != nil || len(got) != 2 || got[0].Dir != o.Dir || got[1].Dir != o2.Dir {
		t.Fatalf("claim after both stages = %d runs, %v; want both, stage 1 first", len(got), err)
	}
}

func TestGPUSnapshotAndTelemetry(t *testing.T) {
	db, clock := openTemp(t)
	ctx := context.Background()
	if _, _, ok, err := db.GPUSnapshot(ctx); ok || err != nil {
		t.Fatalf("snapshot before any = %v, %v", ok, err)
	}
	if err := db.SetGPUSnapshot(ctx, `[{"index":0}]`); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := db.SetGPUSnapshot(ctx, `[{"index":1}]`); err != nil {
		t.Fatal(err)
	}
	s, at, ok, err := db.GPUSnapshot(ctx)
	if err != nil || !ok || s != `[{"index":1}]` || !at.Equal(clock.Now()) {
		t.Fatalf("snapshot = %q at %v, %v, %v", s, at, ok, err)
	}
	j := submit(t, db, ledger.JobSpec{GPUs: 1})
	util, energy := 50.0, 12.5
	db.SetJobTelemetry(ctx, j.ID, 100, &util, &energy)
	db.SetJobTelemetry(ctx, j.ID, 40, nil, nil) // a restarted daemon's smaller aggregate
	got, _ := db.GetJob(ctx, j.ID)
	if got.PeakMem == nil || *got.PeakMem != 100 || *got.MeanUtil != 50 || *got.EnergyJ != 12.5 {
		t.Fatalf("telemetry = %v %v %v", got.PeakMem, got.MeanUtil, got.EnergyJ)
	}
}

// The scheduler re-reads only what changed since its last plan: every
// writer's change is stamped by the triggers, another process's included.
func TestQueueChanges(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	var ids []int64
	for range 3 {
		j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	all, seq, err := db.QueueChanges(ctx, 0)
	if err != nil || len(all) != 3 || seq == 0 {
		t.Fatalf("first read: %d jobs, seq %d, %v", len(all), seq, err)
	}
	if none, again, err := db.QueueChanges(ctx, seq); err != nil || len(none) != 0 || again != seq {
		t.Fatalf("nothing changed: %d jobs, seq %d→%d, %v", len(none), seq, again, err)
	}
	if _, err := db.CancelJob(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetHeld(ctx, ids[1:2], true); err != nil {
		t.Fatal(err)
	}
	rawExec(t, db.Path(), `UPDATE jobs SET priority = 7 WHERE id = ?`, ids[2])
	changed, next, err := db.QueueChanges(ctx, seq)
	if err != nil || len(changed) != 3 || next <= seq {
		t.Fatalf("after three changes: %+v, seq %d→%d, %v", changed, seq, next, err)
	}
	if changed[0].State != ledger.JobCancelled || !changed[1].Held || changed[2].Priority != 7 {
		t.Errorf("changes read: %+v", changed)
	}
}

// A job never ends before it started: an engine's end time (whole seconds)
// can fall before the start runner stamped itself.
func TestJobEndNotBeforeItsStart(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, Executor: ledger.ExecutorSlurm})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.StartJob(ctx, j.ID, ledger.JobStart{Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	got, _, err := db.EndJob(ctx, j.ID, ledger.JobEnd{ExitCode: &zero, EndedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got.StartedAt == nil || got.EndedAt == nil || got.EndedAt.Before(*got.StartedAt) {
		t.Errorf("job started %v, ended %v", got.StartedAt, got.EndedAt)
	}
}
