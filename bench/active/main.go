// Command active measures what the daemon costs while runs are being
// written, the way wandb writes them: N writers each create an
// offline-run dir and append a history row (about 200 B) to its .wandb log
// at -hz for -window, while `runner daemon --no-upload` watches the tree.
// It reads the daemon's CPU time and RSS from /proc over the window, the
// first-sight latency of each run (dir creation to its row in the ledger,
// seen through `runner runs --json`), and, for one last run that stops
// writing, how long after its last write plus --settle it left `active`.
//
//	go run ./bench/active                    # 8 runs at 10 Hz for 30 s
//	go run ./bench/active -runs 64
//	go run ./bench/active -pprof 127.0.0.1:6061   # then take a profile during the window:
//	  go tool pprof 'http://127.0.0.1:6061/debug/pprof/profile?seconds=25'
//
// It prints one line per figure and exits 1 when the CPU is above -max-cpu
// (the targets of docs/benchmarks.md "Active runs").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/runnerhq/runner/bench/internal/kit"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "active:", err)
		os.Exit(1)
	}
}

type options struct {
	runs   int
	hz     float64
	window time.Duration
	settle time.Duration
	maxCPU float64 // percent of one core
	keep   bool
	pprof  string // the daemon's --pprof address, "" for none
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("active", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 8, "runs written at once")
	fs.Float64Var(&o.hz, "hz", 10, "history rows per second per run")
	fs.DurationVar(&o.window, "window", 30*time.Second, "window to measure, all runs writing")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "the daemon's --settle")
	fs.Float64Var(&o.maxCPU, "max-cpu", 100, "fail above this daemon CPU, percent of one core")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary dir (ledger, daemon log)")
	fs.StringVar(&o.pprof, "pprof", "", "pass --pprof ADDR to the daemon, to profile it over the window (loopback, e.g. 127.0.0.1:6061)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.runs < 1 || o.hz <= 0 {
		return fmt.Errorf("-runs %d -hz %g: need at least one run and a positive rate", o.runs, o.hz)
	}
	tmp, err := os.MkdirTemp("", "runner-active-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("dir:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	runner, _, err := kit.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	tree := filepath.Join(tmp, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}
	env := append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(tmp, "state"), "RUNNER_GPUS=none")
	logPath := filepath.Join(tmp, "daemon.log")
	daemonArgs := []string{"--watch", tree, "--no-upload", "--reconcile", "24h", "--settle", o.settle.String()}
	if o.pprof != "" {
		daemonArgs = append(daemonArgs, "--pprof", o.pprof)
	}
	daemon, stopDaemon, err := kit.StartDaemon(runner, env, logPath, daemonArgs...)
	if err != nil {
		return err
	}
	defer stopDaemon()
	pid := daemon.Process.Pid
	// The daemon is up once it answers; runs created before would be found
	// by its first scan, not by a watch event.
	if err := kit.WaitFor(ctx, time.Minute, func() (bool, error) {
		_, err := listRuns(ctx, runner, env)
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("waiting for the daemon: %w (log: %s)", err, logPath)
	}
	time.Sleep(time.Second)

	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	created := make([]time.Time, o.runs)
	var wg sync.WaitGroup
	errs := make(chan error, o.runs+1)
	cpu0, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	w0 := time.Now()
	for i := range o.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the starts over a second so dirs do not all appear in one event batch.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(o.runs))
			created[i] = time.Now()
			if _, err := write(wctx, tree, fmt.Sprintf("w%04d", i), o.hz, 0); err != nil {
				errs <- err
			}
		}()
	}
	seen := make([]time.Duration, o.runs)
	found := 0
	deadline := time.After(o.window)
	for polling := true; polling; {
		select {
		case <-deadline:
			polling = false
			continue
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-time.After(50 * time.Millisecond):
		}
		if found == o.runs {
			continue
		}
		rows, err := listRuns(ctx, runner, env)
		if err != nil {
			continue
		}
		now := time.Now()
		for i := range o.runs {
			if seen[i] == 0 && rows[runDir(tree, fmt.Sprintf("w%04d", i))] != "" {
				seen[i] = now.Sub(created[i])
				found++
			}
		}
	}
	cpu1, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	wall := time.Since(w0)
	rss, err := kit.RSSBytes(pid)
	if err != nil {
		return err
	}
	// clock ticks are 1/100 s on Linux (USER_HZ).
	cpu := time.Duration(cpu1-cpu0) * 10 * time.Millisecond
	pct := 100 * cpu.Seconds() / wall.Seconds()
	fmt.Printf("active: %d runs at %g Hz: daemon %s CPU over %s = %.2f%% of one core (max %.2f%%)\n",
		o.runs, o.hz, cpu, wall.Round(time.Millisecond), pct, o.maxCPU)
	fmt.Printf("active: RSS %.1f MB\n", float64(rss)/(1<<20))
	if found < o.runs {
		return fmt.Errorf("only %d of %d runs seen in the ledger within %s (log: %s)", found, o.runs, o.window, logPath)
	}
	slices.Sort(seen)
	fmt.Printf("active: first sight p50 %s p99 %s max %s\n", quantile(seen, 0.5), quantile(seen, 0.99), seen[len(seen)-1])

	// Readiness: the writers keep going; one more run writes for two
	// seconds, stops, and should leave active about --settle later.
	last, err := write(ctx, tree, "last", o.hz, 2*time.Second)
	if err != nil {
		return err
	}
	dir := runDir(tree, "last")
	if err := kit.WaitFor(ctx, o.settle+time.Minute, func() (bool, error) {
		rows, err := listRuns(ctx, runner, env)
		if err != nil {
			return false, nil
		}
		st := rows[dir]
		return st != "" && st != "active", nil
	}); err != nil {
		return fmt.Errorf("waiting for the last run to be ready: %w (log: %s)", err, logPath)
	}
	fmt.Printf("active: ready %s after the settle window (last write + %s)\n",
		(time.Since(last) - o.settle).Round(time.Millisecond), o.settle)
	stopWriters()
	wg.Wait()
	if err := daemon.Process.Signal(syscall.Signal(0)); err != nil {
		return fmt.Errorf("daemon died during the window (log: %s)", logPath)
	}
	if pct > o.maxCPU {
		return fmt.Errorf("daemon CPU %.2f%% > %.2f%%", pct, o.maxCPU)
	}
	return nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(time.Millisecond)
}

func runDir(tree, id string) string {
	return filepath.Join(tree, "wandb", "offline-run-20261207_000000-"+id)
}

// write creates run id's dir and log and appends one history row at hz
// until ctx ends or, when limit > 0, limit has passed; it returns the time
// of the last write. The log gets no exit record: the run is cut off, as a
// killed training is, so only --settle makes it ready.
func write(ctx context.Context, tree, id string, hz float64, limit time.Duration) (time.Time, error) {
	dir := runDir(tree, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return time.Time{}, err
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		return time.Time{}, err
	}
	defer w.Close()
	start := time.Now()
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: id, Project: "active", StartTime: start})
	if err := w.Flush(); err != nil {
		return time.Time{}, err
	}
	last := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / hz))
	defer tick.Stop()
	for step := int64(0); ; step++ {
		select {
		case <-ctx.Done():
			return last, nil
		case <-tick.C:
		}
		if limit > 0 && time.Since(start) > limit {
			return last, nil
		}
		// About 200 B a row, as a wandb.log of a few scalars.
		_ = w.Row(step, time.Since(start).Seconds(), time.Now(), map[string]float64{
			"train/loss": 1 / float64(step+1), "train/lr": 3e-4, "train/grad_norm": 0.5,
			"train/tokens_per_second": 12345.6, "train/epoch": float64(step) / 1000,
		})
		if err := w.Flush(); err != nil {
			return last, err
		}
		last = time.Now()
	}
}

// listRuns returns each run's state by dir from `runner runs --json`.
func listRuns(ctx context.Context, runner string, env []string) (map[string]string, error) {
	out, err := kit.Command(ctx, env, runner, "runs", "--json")
	if err != nil {
		return nil, fmt.Errorf("runs --json: %w: %s", err, out)
	}
	var rows []struct {
		Dir   string `json:"dir"`
		State string `json:"state"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("runs --json: %w", err)
	}
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r.Dir] = r.State
	}
	return m, nil
}
