package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// benchTree lays out n finished run dirs (a small real log and files/ each)
// spread over projects of 100, under a fresh temp dir.
func benchTree(tb testing.TB, n int) string {
	tb.Helper()
	root := tb.TempDir()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("b%07d", i)
		dir := filepath.Join(root, fmt.Sprintf("proj-%03d", i/100), "wandb", fmt.Sprintf("offline-run-20250101_%06d-%s", i%100, id))
		if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
			tb.Fatal(err)
		}
		w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: id, Project: fmt.Sprintf("proj-%03d", i/100), StartTime: start.Add(time.Duration(i) * time.Second), CLIVersion: "0.23.0"})
		for s := range 3 {
			_ = w.Row(int64(s), float64(s), start, map[string]float64{"train/loss": 1 / float64(s+1), "eval/acc": 0.5})
		}
		_ = w.Exit(0, 10)
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		// Finished long ago, like runs waiting for a migration to W&B.
		if err := os.Chtimes(filepath.Join(dir, "run-"+id+".wandb"), start, start); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func timeCmd(tb testing.TB, name string, args ...string) time.Duration {
	tb.Helper()
	best := time.Duration(0)
	for range 3 {
		start := time.Now()
		cmd := exec.Command(name, args...)
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			tb.Fatalf("%s %v: %v", name, args, err)
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best
}

// BenchmarkBackfill10k records 10,000 small run dirs into an empty ledger, then
// re-runs with nothing new. It reports both against the anchors:
// `find TREE -name '*.wandb' -exec cat {} +` (read every log) and
// `find TREE | wc -l` (walk the tree).
func BenchmarkBackfill10k(b *testing.B) {
	const n = 10000
	root := benchTree(b, n)
	ctx := context.Background()
	var first, again time.Duration
	for b.Loop() {
		b.StopTimer()
		db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Logger: quietLogger()})
		runtime.GC() // the tree's garbage is not the backfill's
		b.StartTimer()
		t0 := time.Now()
		rep, err := runsync.Backfill(ctx, eng, runsync.BackfillOptions{Roots: []string{root}})
		first += time.Since(t0)
		if err != nil || rep.New != n {
			b.Fatalf("backfill: %v, %d new, want %d", err, rep.New, n)
		}
		t0 = time.Now()
		rep, err = runsync.Backfill(ctx, eng, runsync.BackfillOptions{Roots: []string{root}})
		again += time.Since(t0)
		if err != nil || rep.Unchanged != n {
			b.Fatalf("re-run: %v, %d unchanged, want %d", err, rep.Unchanged, n)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.StopTimer()
	iters := time.Duration(b.N)
	cat := timeCmd(b, "sh", "-c", "find "+root+" -name '*.wandb' -exec cat {} + >/dev/null")
	walk := timeCmd(b, "sh", "-c", "find "+root+" | wc -l")
	b.ReportMetric((first / iters).Seconds(), "s/first")
	b.ReportMetric((again / iters).Seconds(), "s/rerun")
	b.ReportMetric(float64(first/iters)/float64(cat), "x_find_cat")
	b.ReportMetric(float64(again/iters)/float64(walk), "x_find_wc")
	b.Logf("first backfill %v (find -exec cat %v, %.2fx); re-run %v (find | wc -l %v, %.2fx)",
		first/iters, cat, float64(first/iters)/float64(cat), again/iters, walk, float64(again/iters)/float64(walk))
}

// BenchmarkUploadPipeline uploads 40 ready runs through the real uploader and
// a fake wandb that takes 50 ms per call, 2 at a time, and reports the time
// against the ideal (40 × 50 ms / 2).
func BenchmarkUploadPipeline(b *testing.B) {
	const n, conc, delay = 40, 2, 50 * time.Millisecond
	fake := testbin.Build(b, "./testdata/fakewandb", "wandb")
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		root := benchTree(b, n)
		db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		env := append(os.Environ(), "WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567", "FAKE_WANDB_DELAY="+delay.String())
		up := &runsync.Uploader{Wandb: fake, Env: env, Timeout: time.Minute, WorkDir: b.TempDir(), Logger: quietLogger()}
		// One run per call: this measures the pipeline around each call.
		eng := runsync.NewEngine(runsync.EngineOptions{Store: db, Uploader: up, Logger: quietLogger(), Quiet: time.Nanosecond,
			TmpDir: b.TempDir(), Batch: 1})
		if _, err := runsync.Backfill(ctx, eng, runsync.BackfillOptions{Roots: []string{root}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		outs, err := eng.Drain(ctx, conc, nil)
		total += time.Since(t0)
		b.StopTimer()
		if err != nil || len(outs) != n {
			b.Fatalf("drain: %v, %d uploads, want %d", err, len(outs), n)
		}
		db.Close()
		b.StartTimer()
	}
	ideal := time.Duration(n/conc) * delay
	per := total / time.Duration(b.N)
	// The fake is a process too: time it alone, so runner's own share shows.
	b.StopTimer()
	dir := filepath.Join(benchTree(b, 1), "proj-000", "wandb")
	runDirs, _ := filepath.Glob(filepath.Join(dir, "offline-run-*"))
	env := append(os.Environ(), "WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567", "FAKE_WANDB_DELAY="+delay.String())
	t0 := time.Now()
	const calls = 10
	for range calls {
		cmd := exec.Command(fake, "sync", "--include-synced", runDirs[0])
		cmd.Env = env
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
	alone := time.Since(t0) / calls
	b.ReportMetric(per.Seconds(), "s/pipeline")
	b.ReportMetric(float64(per)/float64(ideal), "x_ideal")
	b.ReportMetric(float64(per)/float64(time.Duration(n/conc)*alone), "x_fake_alone")
	b.Logf("%d uploads, %d at a time, fake wandb %v each: %v (ideal %v, %.3fx; the fake alone takes %v a call, %.3fx of that)",
		n, conc, delay, per, ideal, float64(per)/float64(ideal), alone, float64(per)/float64(time.Duration(n/conc)*alone))
}

// BenchmarkBacklogUpload is the first thing most users do: upload a backlog
// of finished runs. With a fake CLI that costs 1.5 s per call and 0.3 s per
// run (5 runs at once within a call, as the real one), it times
// `runner backfill --upload TREE` end to end (recording included), by
// default and with --concurrency 4, against one plain `wandb sync` call
// over all the run dirs, and counts the calls and the uploads of each run.
//
//	go test ./app -run '^$' -bench BacklogUpload -benchtime 1x
func BenchmarkBacklogUpload(b *testing.B) {
	const n = 150
	runner := testbin.Build(b, ".", "runner")
	fake := testbin.Build(b, "./testdata/fakewandb", "wandb")
	cost := []string{"WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567",
		"FAKE_WANDB_DELAY=1500ms", "FAKE_WANDB_RUN_DELAY=300ms"}
	timeRun := func(args []string, extra ...string) (time.Duration, string) {
		tmp := b.TempDir()
		calls := filepath.Join(tmp, "calls")
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(append(append(os.Environ(), cost...), "FAKE_WANDB_CALLS="+calls, "FAKE_WANDB_LOG="+filepath.Join(tmp, "log"),
			"RUNNER_DB="+filepath.Join(tmp, "ledger.db"), "RUNNER_WANDB="+fake), extra...)
		cmd.Dir = tmp
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		took := time.Since(t0)
		logged, _ := os.ReadFile(filepath.Join(tmp, "log"))
		byRun := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
			var e struct {
				RunID string `json:"run_id"`
			}
			if err := json.Unmarshal([]byte(line), &e); err == nil {
				byRun[e.RunID]++
			}
		}
		if len(byRun) != n {
			b.Fatalf("%v: %d runs uploaded, want %d", args, len(byRun), n)
		}
		for id, c := range byRun {
			if c != 1 {
				b.Fatalf("%v: run %s uploaded %d times", args, id, c)
			}
		}
		sizes, _ := os.ReadFile(calls)
		return took, strings.Join(strings.Fields(string(sizes)), " ")
	}
	var plain, def, conc4 time.Duration
	var defCalls, conc4Calls string
	for b.Loop() {
		b.StopTimer()
		tree := benchTree(b, n)
		dirs, _ := filepath.Glob(filepath.Join(tree, "*", "wandb", "offline-run-*"))
		p, _ := timeRun(append([]string{fake, "sync"}, dirs...))
		plain += p
		d, c := timeRun([]string{runner, "backfill", "--upload", benchTree(b, n)})
		def, defCalls = def+d, c
		d, c = timeRun([]string{runner, "backfill", "--upload", "--concurrency", "4", benchTree(b, n)})
		conc4, conc4Calls = conc4+d, c
		b.StartTimer()
	}
	k := time.Duration(b.N)
	b.ReportMetric((plain / k).Seconds(), "s/plain")
	b.ReportMetric(float64(def)/float64(plain), "x_plain_default")
	b.ReportMetric(float64(conc4)/float64(plain), "x_plain_conc4")
	b.Logf("%d runs: one plain wandb sync %v; runner backfill --upload %v (%.2fx, calls of %s); --concurrency 4 %v (%.2fx, calls of %s)",
		n, plain/k, def/k, float64(def)/float64(plain), defCalls, conc4/k, float64(conc4)/float64(plain), conc4Calls)
}
