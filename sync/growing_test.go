package sync

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// growLog appends rows (and a summary update) to w and flushes: one growth step.
func growLog(tb testing.TB, w *wandbtest.Writer, from, rows int, start time.Time) {
	tb.Helper()
	for i := from; i < from+rows; i++ {
		if err := w.Row(int64(i), float64(i), start, map[string]float64{"train/loss": 1 / float64(i+1), "eval/acc": float64(i%97) / 97}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Summary([]wandbtest.Item{wandbtest.Float("eval/best", float64(from))}, nil); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// The daemon's default reader reads a growing log incrementally and records
// exactly what a whole read would, metric summaries included.
func TestGrowingLogReadIncrementallyMatchesAWholeRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "offline-run-20260101_000000-grow1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run-grow1.wandb")
	w, err := wandbtest.Create(path, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := w.Header(0); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(wandbtest.Run{ID: "grow1", Project: "p", StartTime: start, CLIVersion: "0.23.0"}); err != nil {
		t.Fatal(err)
	}
	g := growingReads{now: time.Now}
	for step := range 12 {
		growLog(t, w, step*300, 300, start)
		if step == 6 {
			// A declared goal that contradicts the name rules: read again whole.
			if err := w.Metric("eval/acc", wandbtest.GoalMinimize); err != nil {
				t.Fatal(err)
			}
			_ = w.Flush()
		}
		got, err := g.read(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ReadMeta(path)
		if err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Fatalf("step %d: incremental read differs from a whole read:\ngot  %s\nwant %s", step, gb, wb)
		}
	}
	if len(g.readers) != 1 {
		t.Errorf("%d readers kept for one growing log", len(g.readers))
	}
	if err := w.Exit(0, 10); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if m, err := g.read(path); err != nil || !m.Finished {
		t.Fatalf("finished log: %+v, %v", m, err)
	}
	if len(g.readers) != 0 {
		t.Errorf("a finished log's reader is kept (%d)", len(g.readers))
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGrowingLog writes a log of RUNNER_BENCH_GROW_MB (default 300) MB
// in 11 growth steps, reading it after each as the daemon does, and reports
// the CPU of all those reads in full parses of the final log (target ≤ 1.5;
// reading from the start each time costs about 6 here, and in the daemon,
// where each step is seen, up to one per step).
//
//	go test ./sync -run '^$' -bench GrowingLog -benchtime 1x
func BenchmarkGrowingLog(b *testing.B) {
	mb := 300
	if v, err := strconv.Atoi(os.Getenv("RUNNER_BENCH_GROW_MB")); err == nil && v > 0 {
		mb = v
	}
	for range b.N {
		path := filepath.Join(b.TempDir(), "run-big.wandb")
		w, err := wandbtest.Create(path, wandbtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: "big", Project: "p", StartTime: start, CLIVersion: "0.23.0"})
		rowsPerStep := mb << 20 / 11 / 160 // a row of two metrics is about 160 bytes
		g := growingReads{now: time.Now}
		var incremental time.Duration
		for step := range 11 {
			growLog(b, w, step*rowsPerStep, rowsPerStep, start)
			t0 := cpuTime()
			if _, err := g.read(path); err != nil {
				b.Fatal(err)
			}
			incremental += cpuTime() - t0
		}
		_ = w.Close()
		st, _ := os.Stat(path)
		t0 := cpuTime()
		if _, err := ReadMeta(path); err != nil {
			b.Fatal(err)
		}
		full := cpuTime() - t0
		b.ReportMetric(float64(st.Size())/(1<<20), "MB")
		b.ReportMetric(full.Seconds(), "s-full-parse")
		b.ReportMetric(incremental.Seconds(), "s-11-growing-reads")
		b.ReportMetric(incremental.Seconds()/full.Seconds(), "full-parses")
		b.ReportMetric(0, "ns/op")
	}
}

// The incremental reader keeps a growing log's dir open between reads, and
// closes it once the log has not been read for a while (its run stopped):
// a daemon watching a scratch file system must not keep it from being
// unmounted. The reader's state stays: the next read goes on incrementally.
func TestGrowingReadsCloseTheDirOfAnIdleLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "offline-run-20260101_000000-idle1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run-idle1.wandb")
	w, err := wandbtest.Create(path, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: "idle1", Project: "p", StartTime: start})
	now := start
	g := growingReads{now: func() time.Time { return now }}
	openIn := func() int {
		t.Helper()
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == dir {
				n++
			}
		}
		return n
	}
	growLog(t, w, 0, 100, start)
	if _, err := g.read(path); err != nil {
		t.Fatal(err)
	}
	if n := openIn(); n != 1 {
		t.Fatalf("after a read: %d fds on the run dir, want it kept open", n)
	}
	now = now.Add(9 * time.Second)
	g.sweep(now, 10*time.Second)
	if n := openIn(); n != 1 {
		t.Fatalf("read 9 s ago: %d fds on the run dir, want it still open", n)
	}
	now = now.Add(time.Second)
	g.sweep(now, 10*time.Second)
	if n := openIn(); n != 0 {
		t.Fatalf("idle for 10 s: %d fds on the run dir, want none", n)
	}
	growLog(t, w, 100, 100, start)
	got, err := g.read(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.HistoryRows != want.HistoryRows || got.HistoryRows != 200 {
		t.Errorf("read after the sweep: %d history rows, a whole read %d; want 200", got.HistoryRows, want.HistoryRows)
	}
}
