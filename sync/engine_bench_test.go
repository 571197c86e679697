package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// BenchmarkNewRunToLedger measures what the daemon does for a new run dir:
// the watcher sees it, the log is read and the ledger row is committed. It
// reports p50/p99 from the moment the dir and its log exist.
func BenchmarkNewRunToLedger(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := NewEngine(EngineOptions{Store: db})
	root := discRealDir(b)
	w, err := NewWatcher([]string{root}, WatchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	recorded := make(chan string, 16)
	go w.Run(ctx, func(rd RunDir) {
		if rd.LogPath == "" {
			return
		}
		if _, _, err := e.Observe(ctx, []RunDir{rd}, nil); err == nil {
			recorded <- rd.Dir
		}
	}, nil, nil)
	<-w.Ready()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		parent := filepath.Join(root, fmt.Sprintf("p%d", i%10), "wandb")
		start := time.Now()
		dir := writeLog(b, parent, fmt.Sprintf("lat%05d", i), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true)
		for got := range recorded {
			if got == dir {
				break
			}
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "ms_p50")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "ms_p99")
}

// BenchmarkReadyAtScale: 10,000 recorded runs (exit record, no footer)
// become ready in one pass once their quiet period is over, as when a
// backfill meets a tree it recorded while the runs were fresh.
//
//	go test ./sync -run '^$' -bench ReadyAtScale -benchtime 3x
func BenchmarkReadyAtScale(b *testing.B) {
	b.Run("quiet period over", func(b *testing.B) { benchReadyAtScale(b, false) })
	b.Run("logs touched", func(b *testing.B) { benchReadyAtScale(b, true) })
}

func benchReadyAtScale(b *testing.B, aged bool) {
	const n = 10000
	root := b.TempDir()
	t0 := time.Now()
	for i := range n {
		id := fmt.Sprintf("rs%06d", i)
		dir := filepath.Join(root, fmt.Sprintf("p%03d", i/100), "wandb", "offline-run-20260101_000000-"+id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: id, Project: "p", StartTime: t0})
		_ = w.Exit(0, 5)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	var dirs []RunDir
	if err := Scan(context.Background(), root, func(d RunDir) error { dirs = append(dirs, d); return nil }, nil); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "l.db"), ledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		// Recorded while fresh: the quiet period has not passed.
		for _, d := range dirs {
			if err := os.Chtimes(d.LogPath, t0, t0); err != nil {
				b.Fatal(err)
			}
		}
		dirs = dirs[:0]
		if err := Scan(ctx, root, func(d RunDir) error { dirs = append(dirs, d); return nil }, nil); err != nil {
			b.Fatal(err)
		}
		now := t0
		e := NewEngine(EngineOptions{Store: db, Now: func() time.Time { return now }})
		if _, ready, err := e.Observe(ctx, dirs, nil); err != nil || ready != 0 {
			b.Fatalf("record: %v, %d ready; want all active", err, ready)
		}
		now = now.Add(time.Minute) // the quiet period is over
		if aged {
			// Aged by hand (touch -d): every mtime changed, so every log
			// is read again before it is judged.
			old := t0.Add(-time.Hour)
			for _, d := range dirs {
				if err := os.Chtimes(d.LogPath, old, old); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		t := time.Now()
		c, err := e.CheckAllActive(ctx)
		took += time.Since(t)
		if err != nil || c.Ready != n || c.Active != n {
			b.Fatalf("ready %d of %d active: %v; want %d", c.Ready, c.Active, err, n)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric((took / time.Duration(b.N)).Seconds(), "s/pass")
}

// BenchmarkGrowthPass is the readiness loop's pass that records growing
// runs: n active runs each gained ActiveEvery of rows at 10 Hz (about 200 B
// each, as bench/active writes) and the pass reads and records them. What a
// run costs per observation is what an hour of training costs the daemon,
// divided by the observations in an hour.
//
//	go test ./sync -run '^$' -bench GrowthPass
func BenchmarkGrowthPass(b *testing.B) {
	for _, n := range []int{8, 64} {
		b.Run(fmt.Sprintf("%d runs", n), func(b *testing.B) { benchGrowthPass(b, n) })
	}
}

func benchGrowthPass(b *testing.B, n int) {
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	root := b.TempDir()
	// A clock on a schedule slot's start, so a pass falls after each slot.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := NewEngine(EngineOptions{Store: db, Now: func() time.Time { return now }, Settle: time.Hour})
	writers := make([]*wandbtest.Writer, n)
	logs := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("grow%03d", i)
		dir := filepath.Join(root, "wandb", "offline-run-20260101_000000-"+id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		logs[i] = filepath.Join(dir, "run-"+id+".wandb")
		w, err := wandbtest.Create(logs[i], wandbtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: id, Project: "p", StartTime: now})
		writers[i] = w
	}
	step := int64(0)
	grow := func() {
		rows := int(e.ActiveEvery / (100 * time.Millisecond))
		for _, w := range writers {
			for r := range rows {
				s := step + int64(r)
				_ = w.Row(s, float64(s)/10, now, map[string]float64{
					"train/loss": 1 / float64(s+1), "train/lr": 3e-4, "train/grad_norm": 0.5,
					"train/tokens_per_second": 12345.6, "train/epoch": float64(s) / 1000,
				})
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		step += int64(rows)
		for _, l := range logs {
			if err := os.Chtimes(l, now, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	grow()
	if c, err := e.CheckAllActive(ctx); err != nil || c.Active != 0 {
		b.Fatalf("first pass: %v, %d active; want none recorded yet", err, c.Active)
	}
	var dirs []RunDir
	if err := Scan(ctx, root, func(d RunDir) error { dirs = append(dirs, d); return nil }, nil); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.Observe(ctx, dirs, nil); err != nil {
		b.Fatal(err)
	}
	var cpu time.Duration // the process's CPU time in the passes: on a shared box, wall time is not the cost
	for b.Loop() {
		b.StopTimer()
		now = now.Add(e.ActiveEvery)
		grow()
		b.StartTimer()
		c0 := cpuTime()
		c, err := e.CheckAllActive(ctx)
		cpu += cpuTime() - c0
		if err != nil || c.Active != n {
			b.Fatalf("pass: %v, %d active; want %d", err, c.Active, n)
		}
	}
	b.StopTimer()
	r, err := db.GetRun(ctx, dirs[0].Dir)
	if err != nil {
		b.Fatal(err)
	}
	if st, _ := os.Stat(logs[0]); r.Size != st.Size() {
		b.Fatalf("run recorded at %d bytes, its log has %d: the passes did not record the growth", r.Size, st.Size())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/run")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/run")
}

// BenchmarkFirstSight measures recording one new, still growing run, as the
// daemon's discovery does when a run appears (the log read, the insert and
// what the insert brings: metrics, summaries, jobs), in CPU time per run.
//
//	go test ./sync -run '^$' -bench FirstSight
func BenchmarkFirstSight(b *testing.B) {
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := NewEngine(EngineOptions{Store: db, Settle: time.Hour})
	parent := filepath.Join(b.TempDir(), "wandb")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cpu time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		rd, err := inspectRunDir(writeLog(b, parent, fmt.Sprintf("new%06d", i), start, false))
		if err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		c0 := cpuTime()
		rows, _, err := e.Observe(ctx, []RunDir{rd}, nil)
		cpu += cpuTime() - c0
		if err != nil || len(rows) != 1 || rows[0].State != ledger.StateActive {
			b.Fatalf("first sight: %v, %+v; want one active run", err, rows)
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/run")
}
