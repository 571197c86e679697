package jobs

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// schedEnv is a scheduler on a temp ledger with fake GPUs; the test binary
// plays `runner _supervise` (see TestMain).
type schedEnv struct {
	t      *testing.T
	db     *ledger.DB
	fake   *Fake
	dir    string // state dir (the ledger's)
	work   string // jobs' working directory
	cancel context.CancelFunc
	done   chan error

	mu    gosync.Mutex
	ended []string // OnJobEnd calls
}

func newSchedEnv(t *testing.T, gpus int) *schedEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := ledger.Open(context.Background(), filepath.Join(dir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &schedEnv{t: t, db: db, fake: NewFake(gpus, 80<<30), dir: dir, work: t.TempDir()}
	t.Cleanup(func() {
		e.stop()
		// Leave no job behind: stop every group still running.
		jobs, _ := db.ListJobs(context.Background(), ledger.JobFilter{States: []ledger.JobState{ledger.JobRunning}})
		for _, j := range jobs {
			st, err := ReadStatus(j.StatusPath)
			if err == nil && st.PGID > 1 && Alive(st.PID, st.StartTicks) {
				_ = Terminate(st.PGID, 100*time.Millisecond)
			}
			// Let the supervisor write its last status before the dir goes.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, _ = Wait(ctx, j.StatusPath)
			cancel()
		}
		db.Close()
	})
	return e
}

func (e *schedEnv) start(mod ...func(*Scheduler)) {
	e.t.Helper()
	self, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	s := &Scheduler{
		Store: e.db, Inv: e.fake, Self: self, StateDir: e.dir, WandbDir: e.work,
		Logger:         slog.New(slog.NewTextHandler(tWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SampleInterval: 30 * time.Millisecond, Reconcile: time.Second, Grace: 200 * time.Millisecond,
		OnJobEnd: func(runID string) {
			e.mu.Lock()
			e.ended = append(e.ended, runID)
			e.mu.Unlock()
		},
	}
	for _, m := range mod {
		m(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- s.Run(ctx) }()
}

// stop ends the scheduler as a daemon stop would; jobs keep running.
func (e *schedEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("scheduler Run: %v", err)
	}
	e.cancel = nil
}

// submit queues a job like `runner submit`: one INSERT, then a poke.
func (e *schedEnv) submit(spec ledger.JobSpec) ledger.Job {
	e.t.Helper()
	if spec.Cwd == "" {
		spec.Cwd = e.work
	}
	j, err := e.db.SubmitJob(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	Poke(filepath.Join(e.dir, SockName))
	return j
}

// tWriter sends the scheduler's log to the test log (shown on failure).
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func (e *schedEnv) job(id int64) ledger.Job {
	e.t.Helper()
	j, err := e.db.GetJob(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// waitJob waits until job id satisfies cond.
func (e *schedEnv) waitJob(id int64, what string, cond func(ledger.Job) bool) ledger.Job {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := e.job(id)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile(j.StatusPath)
			e.t.Fatalf("job %d: timed out waiting for %s; now %s (%s) %+v\nlog: %s\nstatus: %s", id, what, j.State, j.Reason, j, e.log(id), st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *schedEnv) waitState(id int64, st ledger.JobState) ledger.Job {
	e.t.Helper()
	return e.waitJob(id, string(st), func(j ledger.Job) bool { return j.State == st })
}

func (e *schedEnv) waitReason(id int64, substr string) ledger.Job {
	e.t.Helper()
	return e.waitJob(id, "reason "+substr, func(j ledger.Job) bool { return strings.Contains(j.Reason, substr) })
}

func (e *schedEnv) release(name string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.work, name), nil, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// gated runs until the file name exists in the work dir, then exits code.
func gated(name string, code int) []string {
	return sh("while [ ! -e " + name + " ]; do sleep 0.01; done; exit " + strconv.Itoa(code))
}

func (e *schedEnv) log(id int64) string {
	b, _ := os.ReadFile(e.job(id).LogPath)
	return string(b)
}

func TestSchedulerPlacesJobsOnFreeGPUsOnly(t *testing.T) {
	e := newSchedEnv(t, 3)
	e.fake.AddProc(0, 999999, 1<<30) // someone else's training on GPU 0
	e.fake.SetUsed(1, 9<<30)         // 9 of 80 GiB in use on GPU 1: over 10 %
	e.start()
	body := sh(`echo "cvd=$CUDA_VISIBLE_DEVICES order=$CUDA_DEVICE_ORDER mode=$WANDB_MODE run=$WANDB_RUN_ID job=$RUNNER_JOB_ID"; sleep 30`)
	a := e.submit(ledger.JobSpec{GPUs: 1, Argv: body})
	b := e.submit(ledger.JobSpec{GPUs: 1, Argv: body})

	ra := e.waitState(a.ID, ledger.JobRunning)
	if len(ra.GPUUUIDs) != 1 || ra.GPUUUIDs[0] != "GPU-fake-0002-0000-0000-000000000000" {
		t.Fatalf("job %d got %v, want the only free GPU 2", a.ID, ra.GPUUUIDs)
	}
	rb := e.waitReason(b.ID, "foreign process")
	if rb.State != ledger.JobQueued || !strings.Contains(rb.Reason, "memory in use") {
		t.Fatalf("job %d = %s (%q); want queued, naming the foreign process and the memory in use", b.ID, rb.State, rb.Reason)
	}
	e.waitJob(a.ID, "log line", func(ledger.Job) bool { return strings.Contains(e.log(a.ID), "cvd=") })
	want := "cvd=GPU-fake-0002-0000-0000-000000000000 order=PCI_BUS_ID mode=offline run=" + a.RunID + " job=" + strconv.FormatInt(a.ID, 10)
	if got := e.log(a.ID); !strings.Contains(got, want) {
		t.Errorf("job log %q, want %q", got, want)
	}

	// The memory is freed: the next GPU sample re-plans and job b gets GPU 1.
	e.fake.SetUsed(1, 1<<30)
	rb = e.waitState(b.ID, ledger.JobRunning)
	if rb.GPUUUIDs[0] != "GPU-fake-0001-0000-0000-000000000000" {
		t.Fatalf("job %d got %v, want GPU 1", b.ID, rb.GPUUUIDs)
	}
	// Every GPU is now busy or foreign: a third job waits, even for a moment.
	c := e.submit(ledger.JobSpec{GPUs: 1, Argv: body})
	rc := e.waitReason(c.ID, "held by job")
	if rc.State != ledger.JobQueued {
		t.Fatalf("third job %s, want queued", rc.State)
	}
	// An impossible request waits without blocking the others.
	d := e.submit(ledger.JobSpec{GPUs: 1, GPUMem: 100 << 30, Argv: body})
	e.waitReason(d.ID, "this machine has 0")
}

func TestSchedulerPrioritiesAndBackfill(t *testing.T) {
	e := newSchedEnv(t, 2)
	e.start()
	a := e.submit(ledger.JobSpec{GPUs: 1, Timeout: time.Hour, Argv: gated("goA", 0)})
	e.waitState(a.ID, ledger.JobRunning)
	head := e.submit(ledger.JobSpec{Name: "head", GPUs: 2, Argv: gated("goHead", 0)})
	e.waitReason(head.ID, "waiting for 2 free GPUs")
	// No timeout: it could delay the head job, so it waits although GPU 1 is free.
	noTimeout := e.submit(ledger.JobSpec{GPUs: 1, Argv: gated("goN", 0)})
	e.waitReason(noTimeout.ID, "queued behind job "+strconv.FormatInt(head.ID, 10))
	// Ends before job a's timeout frees GPU 0: backfills onto GPU 1.
	short := e.submit(ledger.JobSpec{GPUs: 1, Timeout: time.Minute, Argv: gated("goShort", 0)})
	rs := e.waitState(short.ID, ledger.JobRunning)
	if rs.GPUUUIDs[0] != "GPU-fake-0001-0000-0000-000000000000" {
		t.Fatalf("backfilled job got %v, want GPU 1", rs.GPUUUIDs)
	}
	e.release("goShort")
	e.waitState(short.ID, ledger.JobSucceeded)
	e.release("goA")
	e.waitState(a.ID, ledger.JobSucceeded)
	e.waitState(head.ID, ledger.JobRunning)

	// Priorities: while the head job holds both GPUs, queue a low then a high one.
	low := e.submit(ledger.JobSpec{GPUs: 1, Argv: gated("goLow", 0)})
	high := e.submit(ledger.JobSpec{GPUs: 1, Priority: 5, Argv: gated("goHigh", 0)})
	e.waitReason(high.ID, "held by job")
	e.release("goHead")
	e.waitState(head.ID, ledger.JobSucceeded)
	// Two GPUs freed: high first, then the oldest of the rest (noTimeout, queued before low).
	e.waitState(high.ID, ledger.JobRunning)
	e.waitState(noTimeout.ID, ledger.JobRunning)
	if j := e.job(low.ID); j.State != ledger.JobQueued {
		t.Fatalf("low-priority job %s, want still queued", j.State)
	}
	e.release("goHigh")
	e.waitState(low.ID, ledger.JobRunning)
	e.release("goLow")
	e.release("goN")
	e.waitState(low.ID, ledger.JobSucceeded)
}

func TestSchedulerDependenciesAndSameRun(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start()
	train := e.submit(ledger.JobSpec{Argv: gated("goTrain", 0)})
	eval := e.submit(ledger.JobSpec{Argv: sh(`echo "run=$WANDB_RUN_ID"`), After: []int64{train.ID}, SameRun: true})
	e.waitReason(eval.ID, "waiting for job "+strconv.FormatInt(train.ID, 10))
	e.release("goTrain")
	e.waitState(eval.ID, ledger.JobSucceeded)
	if got := e.log(eval.ID); !strings.Contains(got, "run="+train.RunID) {
		t.Fatalf("second stage log %q, want WANDB_RUN_ID %s of the first stage", got, train.RunID)
	}
	bad := e.submit(ledger.JobSpec{Argv: sh("exit 3")})
	next := e.submit(ledger.JobSpec{Argv: sh("echo should not run"), After: []int64{bad.ID}})
	last := e.submit(ledger.JobSpec{Argv: sh("echo should not run"), After: []int64{next.ID, eval.ID}})
	e.waitState(bad.ID, ledger.JobFailed)
	rn := e.waitState(next.ID, ledger.JobSkipped)
	if want := "dependency " + strconv.FormatInt(bad.ID, 10) + " failed"; rn.Reason != want {
		t.Errorf("skip reason %q, want %q", rn.Reason, want)
	}
	rl := e.waitState(last.ID, ledger.JobSkipped)
	if !strings.Contains(rl.Reason, "skipped") {
		t.Errorf("chained skip reason %q", rl.Reason)
	}
	if rn.StartedAt != nil || rl.StartedAt != nil {
		t.Error("a skipped job was started")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !strings.Contains(strings.Join(e.ended, ","), train.RunID) {
		t.Errorf("OnJobEnd calls %v, want the pipeline's run id %s", e.ended, train.RunID)
	}
}

// childOf writes the pid of a background child (same process group) to
// name and then waits: a job whose whole group must die.
func childOf(name string) []string {
	return sh("sleep 30 & echo $! > " + name + "; wait")
}

func (e *schedEnv) pidFile(name string) int {
	e.t.Helper()
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(e.work, name))
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			pid = n
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no pid in %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid
}

func TestSchedulerTimeoutAndCancelStopTheWholeGroup(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start()
	slow := e.submit(ledger.JobSpec{Argv: childOf("slow.pid"), Timeout: 300 * time.Millisecond})
	child := e.pidFile("slow.pid")
	j := e.waitState(slow.ID, ledger.JobFailed)
	if !strings.Contains(j.Reason, "timeout") || j.Signal != "SIGTERM" {
		t.Fatalf("timed-out job: reason %q signal %q", j.Reason, j.Signal)
	}
	if !dead(child) {
		t.Errorf("child %d of the timed-out job still runs", child)
	}

	run := e.submit(ledger.JobSpec{GPUs: 1, Argv: childOf("run.pid")})
	child = e.pidFile("run.pid")
	e.waitJob(run.ID, "pid recorded", func(j ledger.Job) bool { return j.PID > 0 })
	if _, err := e.db.CancelJob(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	Poke(filepath.Join(e.dir, SockName))
	j = e.waitState(run.ID, ledger.JobCancelled)
	if !dead(child) || !dead(j.PID) {
		t.Errorf("cancelled job's processes still run (job %d, child %d)", j.PID, child)
	}

	queued := e.submit(ledger.JobSpec{GPUs: 4, Argv: sh("true")})
	e.waitReason(queued.ID, "needs 4 GPUs")
	if j, err := e.db.CancelJob(context.Background(), queued.ID); err != nil || j.State != ledger.JobCancelled {
		t.Fatalf("cancel queued = %s, %v", j.State, err)
	}
}

func TestSchedulerRetriesKeepIDAndRunID(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start()
	// Fails on the first attempt, succeeds on the second.
	flaky := e.submit(ledger.JobSpec{Retries: 2, Argv: sh(`n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n run=$WANDB_RUN_ID"; [ $n -ge 2 ]`)})
	j := e.waitState(flaky.ID, ledger.JobSucceeded)
	if j.Attempts != 2 || j.RunID != flaky.RunID {
		t.Fatalf("flaky job: attempts %d run %s; want 2 attempts with run id %s", j.Attempts, j.RunID, flaky.RunID)
	}
	if got := e.log(flaky.ID); strings.Count(got, "run="+flaky.RunID) != 2 {
		t.Errorf("log of both attempts %q, want the same run id twice", got)
	}
	broken := e.submit(ledger.JobSpec{Retries: 1, Argv: sh("exit 4")})
	j = e.waitState(broken.ID, ledger.JobFailed)
	if j.Attempts != 2 || j.ExitCode == nil || *j.ExitCode != 4 {
		t.Fatalf("broken job: attempts %d exit %v; want failed after 2 attempts with exit 4", j.Attempts, j.ExitCode)
	}
}

// A daemon that stops (or dies) leaves its jobs running; the next one adopts
// the live ones and records what ended meanwhile.
func TestSchedulerAdoptsJobsAfterRestart(t *testing.T) {
	e := newSchedEnv(t, 2)
	e.start()
	first := e.submit(ledger.JobSpec{GPUs: 1, Argv: gated("go1", 5)})
	second := e.submit(ledger.JobSpec{GPUs: 1, Argv: gated("go2", 0)})
	e.waitJob(first.ID, "pid", func(j ledger.Job) bool { return j.PID > 0 })
	r2 := e.waitJob(second.ID, "pid", func(j ledger.Job) bool { return j.PID > 0 })
	e.stop()

	e.release("go1") // ends while no scheduler runs
	st, err := Wait(context.Background(), e.job(first.ID).StatusPath)
	if err != nil || st.ExitCode == nil || *st.ExitCode != 5 {
		t.Fatalf("first job's supervisor recorded %+v, %v", st, err)
	}
	if j := e.job(first.ID); j.State != ledger.JobRunning {
		t.Fatalf("with no scheduler the ledger says %s", j.State)
	}
	third := e.submit(ledger.JobSpec{GPUs: 2, Argv: sh("true")})

	e.start()
	j := e.waitState(first.ID, ledger.JobFailed)
	if j.ExitCode == nil || *j.ExitCode != 5 {
		t.Fatalf("exit code recorded after restart %v, want 5", j.ExitCode)
	}
	// The adopted job still holds its GPU: the 2-GPU job must wait for it.
	e.waitReason(third.ID, "held by job "+strconv.FormatInt(second.ID, 10))
	if j := e.job(second.ID); j.State != ledger.JobRunning || j.PID != r2.PID {
		t.Fatalf("adopted job %s pid %d, want running pid %d", j.State, j.PID, r2.PID)
	}
	e.release("go2")
	j = e.waitState(second.ID, ledger.JobSucceeded)
	if j.ExitCode == nil || *j.ExitCode != 0 {
		t.Fatalf("adopted job exit %v", j.ExitCode)
	}
	e.waitState(third.ID, ledger.JobSucceeded)
}

// A status file whose pid is alive but started at another time is a reused
// pid, not the job: the job is lost (and retried when it may be).
func TestSchedulerCallsAReusedPIDLost(t *testing.T) {
	e := newSchedEnv(t, 1)
	ctx := context.Background()
	once := e.submit(ledger.JobSpec{Argv: sh("true")})
	again := e.submit(ledger.JobSpec{Argv: sh("echo second life"), Retries: 1})
	s := &Scheduler{StateDir: e.dir}
	for _, j := range []ledger.Job{once, again} {
		if _, ok, err := e.db.StartJob(ctx, j.ID, ledger.JobStart{LogPath: s.LogPath(j.ID), StatusPath: s.StatusPath(j.ID)}); !ok || err != nil {
			t.Fatal(err)
		}
		// Our own pid is alive, but its start time is not the job's.
		ticks, _ := ProcStartTicks(os.Getpid())
		os.MkdirAll(filepath.Dir(s.StatusPath(j.ID)), 0o700)
		if err := writeStatus(s.StatusPath(j.ID), Status{PID: os.Getpid(), PGID: os.Getpid(), StartTicks: ticks + 1, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		e.db.RecordJobPIDs(ctx, j.ID, 0, os.Getpid(), os.Getpid(), ticks+1)
	}
	e.start()
	j := e.waitState(once.ID, ledger.JobLost)
	if j.EndedAt == nil {
		t.Error("lost job has no end time")
	}
	e.waitState(again.ID, ledger.JobSucceeded)
	if !strings.Contains(e.log(again.ID), "second life") {
		t.Error("retried job did not run again")
	}
}

func TestSchedulerRecordsTelemetryAndGPUSnapshot(t *testing.T) {
	e := newSchedEnv(t, 2)
	e.fake.SetUtil(0, 80)
	e.fake.SetPower(0, 200)
	e.fake.SetEnergy(0, 1000)
	e.start()
	j := e.submit(ledger.JobSpec{GPUs: 1, Argv: gated("go", 0)})
	e.waitState(j.ID, ledger.JobRunning)
	e.fake.SetUsed(0, 30<<30) // the job allocates memory
	e.waitJob(j.ID, "peak memory and utilisation", func(j ledger.Job) bool {
		return j.PeakMem != nil && *j.PeakMem == 30<<30 && j.MeanUtil != nil && *j.MeanUtil == 80
	})
	e.fake.SetEnergy(0, 1500) // the counter moves on: 500 J used by the job
	e.waitJob(j.ID, "energy", func(j ledger.Job) bool { return j.EnergyJ != nil && *j.EnergyJ == 500 })
	snap, _, ok, err := e.db.GPUSnapshot(context.Background())
	if err != nil || !ok || !strings.Contains(snap, `"held_by_job":`+strconv.FormatInt(j.ID, 10)) || !strings.Contains(snap, `"inventory":"fake"`) {
		t.Fatalf("GPU snapshot %s, %v, %v", snap, ok, err)
	}
	e.release("go")
	e.waitState(j.ID, ledger.JobSucceeded)
}

func TestSchedulerWithoutDriverRunsCPUJobsOnly(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start(func(s *Scheduler) { s.Inv = NewNoGPUs("no NVIDIA driver: libnvidia-ml.so.1 not found") })
	gpu := e.submit(ledger.JobSpec{GPUs: 1, Argv: sh("true")})
	cpu := e.submit(ledger.JobSpec{Argv: sh("echo $CUDA_VISIBLE_DEVICES")})
	e.waitState(cpu.ID, ledger.JobSucceeded)
	e.waitReason(gpu.ID, "no NVIDIA driver")
}

// If a job's supervisor is killed (OOM killer, an admin), nobody enforces the
// job's timeout any more: the scheduler stops it, and the job does not stay
// running forever.
func TestSchedulerStopsJobPastTimeoutWhenSupervisorIsGone(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start(func(s *Scheduler) { s.Reconcile = 100 * time.Millisecond })
	j := e.submit(ledger.JobSpec{Argv: childOf("orphan.pid"), Timeout: 300 * time.Millisecond})
	child := e.pidFile("orphan.pid")
	j = e.waitJob(j.ID, "pids recorded", func(j ledger.Job) bool { return j.PID > 0 && j.SupervisorPID > 0 })
	if err := syscall.Kill(j.SupervisorPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j = e.waitJob(j.ID, "ended", func(j ledger.Job) bool { return j.State.Ended() })
	if !dead(j.PID) || !dead(child) {
		t.Errorf("job %d (child %d) still runs after its timeout with no supervisor", j.PID, child)
	}
}

// A sharing job's memory is its own processes' on the shared GPU, and one
// that goes past what it asked is flagged in its reason.
func TestSchedulerWarnsWhenASharingJobUsesMoreThanItAsked(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start()
	j := e.submit(ledger.JobSpec{GPUs: 1, GPUMem: 8 << 30, Share: true, Argv: gated("go", 0)})
	j = e.waitState(j.ID, ledger.JobRunning)
	j = e.waitJob(j.ID, "its process group", func(j ledger.Job) bool { return j.PGID > 0 })
	e.fake.AddProc(0, 999999, 20<<30) // a process of someone else: not the job's
	e.fake.AddProc(0, j.PID, 6<<30)
	e.waitJob(j.ID, "peak memory of its own process", func(j ledger.Job) bool { return j.PeakMem != nil && *j.PeakMem == 6<<30 })
	if r := e.job(j.ID).Reason; r != "" {
		t.Errorf("reason %q while within its request", r)
	}
	e.fake.AddProc(0, j.PID, 12<<30)
	e.waitJob(j.ID, "the over-request note", func(j ledger.Job) bool {
		return strings.Contains(j.Reason, "uses 12 GiB of GPU memory, more than the 8.0 GiB it asked to share")
	})
	e.release("go")
	e.waitState(j.ID, ledger.JobSucceeded)
}

// The daemon's log says how a job ended in numbers, never a pointer.
func TestJobEndIsLoggedWithItsExitCode(t *testing.T) {
	e := newSchedEnv(t, 0)
	var mu gosync.Mutex
	var log strings.Builder
	e.start(func(s *Scheduler) {
		s.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return log.Write(p)
		}), nil))
	})
	j := e.submit(ledger.JobSpec{Argv: sh("exit 3")})
	e.waitState(j.ID, ledger.JobFailed)
	e.stop()
	mu.Lock()
	defer mu.Unlock()
	// Not "0x" anywhere: a random run id may hold it (CI saw run_id=50x4j7mq).
	if out := log.String(); !strings.Contains(out, "exit_code=3") || regexp.MustCompile(`=0x[0-9a-f]{6,}`).MatchString(out) {
		t.Errorf("job end logged as:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A paused queue starts no queued job, while a running one goes on; a
// resume (with its poke) starts them.
func TestPausedQueueStartsNothing(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start()
	ctx := context.Background()
	running := e.submit(ledger.JobSpec{Argv: sh("sleep 30")})
	e.waitState(running.ID, ledger.JobRunning)
	if _, err := e.db.SetQueuePaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	queued := e.submit(ledger.JobSpec{Argv: sh("true")})
	// The GPU sampler plans every 30 ms: many plans pass in this time.
	time.Sleep(600 * time.Millisecond)
	if j := e.job(queued.ID); j.State != ledger.JobQueued {
		t.Fatalf("job submitted to a paused queue is %s, want queued", j.State)
	}
	if j := e.job(running.ID); j.State != ledger.JobRunning {
		t.Fatalf("running job under a pause is %s, want running", j.State)
	}
	if _, err := e.db.SetQueuePaused(ctx, false); err != nil {
		t.Fatal(err)
	}
	Poke(filepath.Join(e.dir, SockName))
	e.waitState(queued.ID, ledger.JobSucceeded)
}

// A submit whose poke never arrives (the client killed between its commit
// and its poke) starts on the next sample, not the 30 s reconcile.
func TestJobWithoutAPokeStartsOnTheNextSample(t *testing.T) {
	e := newSchedEnv(t, 1)
	e.start(func(s *Scheduler) { s.Reconcile = time.Hour })
	first := e.submit(ledger.JobSpec{Argv: sh("true")})
	e.waitState(first.ID, ledger.JobSucceeded)
	time.Sleep(100 * time.Millisecond) // several samples with nothing queued
	j, err := e.db.SubmitJob(context.Background(), ledger.JobSpec{Argv: sh("true"), Cwd: e.work})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(j.ID, ledger.JobSucceeded)
}
