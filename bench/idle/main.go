// Command idle measures what an idle daemon costs, the way it lives: after
// it has recorded a large tree, uploaded runs and run a job, not freshly
// started. It builds runner and the fake wandb CLI, lays out a tree of
// finished runs (most already synced by marker, some to upload), starts
// `runner daemon` on it, submits a short CPU job, waits until every upload
// and the job are done, then reads the daemon's CPU time and RSS from /proc
// over an idle window. The periodic full rescan is pushed past the window
// (--reconcile), so the figure is the daemon's steady idle cost.
//
//	go run ./bench/idle                      # 10,000 runs, 20 uploads, 60 s window
//	go run ./bench/idle -runs 2000 -window 20s
//	go run ./bench/idle -pprof 127.0.0.1:6062   # then, during the window:
//	  go tool pprof -sample_index=inuse_space -top http://127.0.0.1:6062/debug/pprof/heap
//
// It prints one line per figure and exits 1 when the idle CPU is above
// -max-cpu or the RSS above -max-rss (the targets of docs/design.md "Idle").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/bench/internal/kit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, uploads int
	window        time.Duration
	maxCPU        float64 // percent of one core
	maxRSS        int64   // bytes
	keep          bool
	pprof         string // the daemon's --pprof address, "" for none
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 10000, "run dirs in the watched tree")
	fs.IntVar(&o.uploads, "uploads", 20, "of those, how many the daemon uploads (the rest carry a .synced marker)")
	fs.DurationVar(&o.window, "window", time.Minute, "idle window to measure")
	fs.Float64Var(&o.maxCPU, "max-cpu", 0.5, "fail above this idle CPU, percent of one core")
	maxRSSMB := fs.Int64("max-rss-mb", 50, "fail above this RSS, MB")
	fs.StringVar(&o.pprof, "pprof", "", "pass --pprof ADDR to the daemon, to take a heap or CPU profile during the window (its HTTP server adds to the RSS)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary dir (ledger, daemon log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.maxRSS = *maxRSSMB << 20
	if o.uploads > o.runs {
		return fmt.Errorf("-uploads %d > -runs %d", o.uploads, o.runs)
	}

	tmp, err := os.MkdirTemp("", "runner-idle-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("dir:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	runner, wandb, err := kit.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	tree := filepath.Join(tmp, "tree")
	t0 := time.Now()
	if err := kit.LayTree(tree, o.runs, o.uploads); err != nil {
		return err
	}
	fmt.Printf("tree: %d runs (%d to upload) laid out in %s\n", o.runs, o.uploads, time.Since(t0).Round(time.Millisecond))

	state := filepath.Join(tmp, "state")
	env := append(os.Environ(),
		"XDG_STATE_HOME="+state, "RUNNER_WANDB="+wandb,
		"WANDB_API_KEY=idle-bench-0123456789012345678901234567890123456789",
		"RUNNER_GPUS=none", "FAKE_WANDB_DELAY=20ms")
	logPath := filepath.Join(tmp, "daemon.log")
	daemonArgs := []string{"--watch", tree, "--reconcile", "24h"}
	if o.pprof != "" {
		daemonArgs = append(daemonArgs, "--pprof", o.pprof)
	}
	daemon, stopDaemon, err := kit.StartDaemon(runner, env, logPath, daemonArgs...)
	if err != nil {
		return err
	}
	defer stopDaemon()
	pid := daemon.Process.Pid

	// Work: the uploads of the first scan, and one job.
	t0 = time.Now()
	if err := kit.WaitFor(ctx, 10*time.Minute, func() (bool, error) {
		st, err := kit.ReadStatus(ctx, runner, env)
		if err != nil {
			return false, nil // the ledger may not exist yet
		}
		return st.Runs["synced"] == o.runs, nil
	}); err != nil {
		return fmt.Errorf("waiting for %d synced runs: %w (log: %s)", o.runs, err, logPath)
	}
	fmt.Printf("work: %d runs recorded, %d uploaded in %s\n", o.runs, o.uploads, time.Since(t0).Round(time.Millisecond))
	out, err := kit.Command(ctx, env, runner, "submit", "--", "sh", "-c", "echo job ran")
	if err != nil {
		return fmt.Errorf("submit: %w: %s", err, out)
	}
	jobID := strings.TrimSpace(string(out))
	if err := kit.WaitFor(ctx, time.Minute, func() (bool, error) {
		out, err := kit.Command(ctx, env, runner, "jobs", "--json")
		if err != nil {
			return false, nil
		}
		var js []struct {
			ID    json.Number `json:"id"`
			State string      `json:"state"`
		}
		if err := json.Unmarshal(out, &js); err != nil {
			return false, err
		}
		for _, j := range js {
			if j.ID.String() == jobID {
				return j.State == "succeeded", nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("waiting for job %s: %w", jobID, err)
	}
	fmt.Printf("work: job %s succeeded\n", jobID)

	// Let the last upload's and job's follow-ups (regression checks, lease
	// renewals, GC of Go's heap) settle before the window opens.
	settle := 3 * time.Second
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu0, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	w0 := time.Now()
	select {
	case <-time.After(o.window):
	case <-ctx.Done():
		return ctx.Err()
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
	if err := daemon.Process.Signal(syscall.Signal(0)); err != nil {
		return fmt.Errorf("daemon died during the window (log: %s)", logPath)
	}
	// clock ticks are 1/100 s on Linux (USER_HZ).
	cpu := time.Duration(cpu1-cpu0) * 10 * time.Millisecond
	pct := 100 * cpu.Seconds() / wall.Seconds()
	fmt.Printf("idle: %s CPU over %s = %.3f%% of one core (target < %.1f%%)\n", cpu, wall.Round(time.Millisecond), pct, o.maxCPU)
	fmt.Printf("idle: RSS %.1f MB (target < %d MB)\n", float64(rss)/(1<<20), o.maxRSS>>20)
	if info, err := os.Stat(logPath); err == nil {
		fmt.Printf("idle: daemon log %d bytes in all\n", info.Size())
	}
	var fails []string
	if pct >= o.maxCPU {
		fails = append(fails, fmt.Sprintf("idle CPU %.3f%% >= %.1f%%", pct, o.maxCPU))
	}
	if rss >= o.maxRSS {
		fails = append(fails, fmt.Sprintf("RSS %d MB >= %d MB", rss>>20, o.maxRSS>>20))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}
