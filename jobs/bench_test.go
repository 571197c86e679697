package jobs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
)

// BenchmarkDispatchLatency measures the time from one job's end to the
// start of the next queued job's command: both jobs need the only (fake)
// GPU, so the second can start only when the first ended. The job bodies
// are the same trivial shell line; each writes a nanosecond timestamp
// when it starts and when it ends. The supervisors are the real runner
// binary, as under the daemon. queued=1000 runs it with 1,000 more jobs in
// the queue, each waiting for a job that never ends, so every plan reads
// them and their dependencies.
//
//	go test -run '^$' -bench DispatchLatency -benchtime 50x ./jobs
func BenchmarkDispatchLatency(b *testing.B) {
	for _, queued := range []int{0, 1000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) { benchDispatch(b, queued) })
	}
}

func benchDispatch(b *testing.B, queued int) {
	runner := testbin.Build(b, ".", "runner")
	dir, work := b.TempDir(), b.TempDir()
	db, err := ledger.Open(context.Background(), filepath.Join(dir, "ledger.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := &Scheduler{Store: db, Inv: NewFake(1, 80<<30), Self: runner, StateDir: dir, WandbDir: work,
		SampleInterval: time.Hour, Reconcile: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	body := []string{"sh", "-c", `date +%s%N > "$RUNNER_JOB_ID.start"; date +%s%N > "$RUNNER_JOB_ID.end"`}
	if queued > 0 {
		blocker, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"sleep", "3600"}, Cwd: work})
		if err != nil {
			b.Fatal(err)
		}
		defer db.CancelJob(context.Background(), blocker.ID)
		backlog := make([]ledger.JobSpec, queued)
		for i := range backlog {
			backlog[i] = ledger.JobSpec{GPUs: 1, Argv: []string{"true"}, Cwd: work, After: []int64{blocker.ID}}
		}
		if _, err := db.SubmitJobs(ctx, backlog, true); err != nil {
			b.Fatal(err)
		}
	}
	sock := filepath.Join(dir, SockName)
	stamp := func(id int64, what string) int64 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			bs, _ := os.ReadFile(filepath.Join(work, fmt.Sprintf("%d.%s", id, what)))
			if v, err := strconv.ParseInt(strings.TrimSpace(string(bs)), 10, 64); err == nil {
				return v
			}
			if time.Now().After(deadline) {
				b.Fatalf("job %d wrote no %s stamp", id, what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		var ids [2]int64
		for k := range ids {
			j, err := db.SubmitJob(ctx, ledger.JobSpec{GPUs: 1, Argv: body, Cwd: work})
			if err != nil {
				b.Fatal(err)
			}
			ids[k] = j.ID
		}
		Poke(sock)
		end := stamp(ids[0], "end")
		start := stamp(ids[1], "start")
		lat = append(lat, time.Duration(start-end))
		// The second job must be done before the next pair queues.
		for {
			j, err := db.GetJob(ctx, ids[1])
			if err != nil {
				b.Fatal(err)
			}
			if j.State.Ended() {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50-dispatch")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90-dispatch")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSubmitArray queues a 1,000-job array with one `runner submit
// --array 0-999` call, the process start included, next to a daemon-held
// ledger as in real use.
//
//	go test -run '^$' -bench SubmitArray -benchtime 5x ./jobs
func BenchmarkSubmitArray(b *testing.B) {
	runner := testbin.Build(b, ".", "runner")
	var secs []float64
	for range b.N {
		path := filepath.Join(b.TempDir(), "ledger.db")
		if out, err := exec.Command(runner, "--db", path, "submit", "--", "true").CombinedOutput(); err != nil {
			b.Fatalf("warm-up submit: %v: %s", err, out)
		}
		holder, err := ledger.Open(context.Background(), path, ledger.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if out, err := exec.Command(runner, "--db", path, "submit", "--array", "0-999", "--", "true").CombinedOutput(); err != nil {
			b.Fatalf("submit --array: %v: %s", err, out)
		}
		secs = append(secs, time.Since(start).Seconds())
		n, err := holder.JobCounts(context.Background())
		if err != nil || n[ledger.JobQueued] != 1001 {
			b.Fatalf("queued %v (%v), want 1001", n, err)
		}
		holder.Close()
	}
	slices.Sort(secs)
	b.ReportMetric(secs[len(secs)/2], "s-per-1000-job-array")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSubmitThroughput runs `runner submit -- true` 200 times from a
// shell loop, and `runner --version` in the same loop as the start-up floor.
//
//	go test -run '^$' -bench SubmitThroughput -benchtime 3x ./jobs
func BenchmarkSubmitThroughput(b *testing.B) {
	runner := testbin.Build(b, ".", "runner")
	const n = 200
	loop := func(args string, env []string) float64 {
		cmd := exec.Command("sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do "$RUNNER" %s >/dev/null || exit 1; i=$((i+1)); done`, n, args))
		cmd.Env = append(env, "RUNNER="+runner)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", args, err, out)
		}
		return n / time.Since(start).Seconds()
	}
	var submits, versions []float64
	for range b.N {
		path := filepath.Join(b.TempDir(), "ledger.db")
		env := append(os.Environ(), "RUNNER_DB="+path)
		// The first submit creates and migrates the ledger; the loop measures the steady state.
		if out, err := exec.Command(runner, "--db", path, "submit", "--", "true").CombinedOutput(); err != nil {
			b.Fatalf("warm-up submit: %v: %s", err, out)
		}
		// Hold the ledger open as the running daemon does; otherwise every
		// submit, as the last connection to close, checkpoints the WAL.
		holder, err := ledger.Open(context.Background(), path, ledger.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := holder.JobCounts(context.Background()); err != nil {
			b.Fatal(err)
		}
		versions = append(versions, loop("--version", env))
		submits = append(submits, loop("submit -- true", env))
		holder.Close()
	}
	slices.Sort(submits)
	slices.Sort(versions)
	b.ReportMetric(submits[len(submits)/2], "submits/s")
	b.ReportMetric(versions[len(versions)/2], "versions/s")
	b.ReportMetric(versions[len(versions)/2]/submits[len(submits)/2], "slowdown-x")
	b.ReportMetric(0, "ns/op")
}
