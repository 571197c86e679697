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
// binary, as under the daemon.
//
//	go test -run '^$' -bench DispatchLatency -benchtime 50x ./jobs
func BenchmarkDispatchLatency(b *testing.B) {
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
