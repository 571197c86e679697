// Command soak runs the daemon for a few minutes the way a busy GPU box
// would: 10,000 watched runs, a burst every 10 s of new finished runs and
// short CPU jobs, uploads through the fake wandb CLI of which some fail and
// are retried. It prints the daemon's CPU while idle between bursts, its
// RSS peak and at the end, its open fds and goroutines at the start and the
// end (from its metrics endpoint), and counts runs lost and uploaded twice.
//
//	go run ./bench/soak                  # 3 minutes
//	go run ./bench/soak -duration 1m
//
// Exit 1 when a run is lost or uploaded twice, or fds or goroutines grew.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/bench/internal/kit"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 3*time.Minute, "how long the bursts go on")
	runs := fs.Int("runs", 10000, "watched runs at the start (already synced)")
	perBurst := fs.Int("burst-runs", 20, "new finished runs per burst")
	jobs := fs.Int("burst-jobs", 2, "short CPU jobs per burst")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "runner-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	runner, wandb, err := kit.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	tree := filepath.Join(tmp, "tree")
	if err := kit.LayTree(tree, *runs, 0); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	uploads := filepath.Join(tmp, "uploads.jsonl")
	env := append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(tmp, "state"), "RUNNER_WANDB="+wandb,
		"WANDB_API_KEY=soak-0123456789012345678901234567890123456789", "RUNNER_GPUS=none",
		"RUNNER_QUIET=1s", "RUNNER_BACKOFF=1s", "RUNNER_METRICS_ADDR="+addr,
		"FAKE_WANDB_DELAY=100ms", "FAKE_WANDB_LOG="+uploads,
		// One call in five fails on the network and is retried (the fake's
		// last entry repeats, so the list is longer than any soak needs).
		"FAKE_WANDB_MODE="+strings.Repeat("ok,ok,ok,ok,network,", 2000)+"ok", "FAKE_WANDB_STATE="+filepath.Join(tmp, "fake-state"))
	daemon, stopDaemon, err := kit.StartDaemon(runner, env, filepath.Join(tmp, "daemon.log"), "--watch", tree, "--reconcile", "1h")
	if err != nil {
		return err
	}
	defer stopDaemon()
	pid := daemon.Process.Pid
	if err := kit.WaitFor(ctx, 5*time.Minute, func() (bool, error) {
		st, err := kit.ReadStatus(ctx, runner, env)
		return err == nil && st.Runs["synced"] == *runs, nil
	}); err != nil {
		return fmt.Errorf("first scan: %w", err)
	}
	start, err := scrape(addr)
	if err != nil {
		return err
	}
	fmt.Printf("start: %d runs watched, %.0f goroutines, %.0f open fds, RSS %.1f MB\n",
		*runs, start["go_goroutines"], start["process_open_fds"], start["process_resident_memory_bytes"]/(1<<20))

	made, burst := 0, 0
	var idleCPU, idleWall time.Duration
	end := time.Now().Add(*duration)
	for time.Now().Before(end) && ctx.Err() == nil {
		burst++
		dir := filepath.Join(tree, fmt.Sprintf("burst-%03d", burst), "wandb")
		for range *perBurst {
			if err := newRun(dir, fmt.Sprintf("s%03d%04d", burst, made)); err != nil {
				return err
			}
			made++
		}
		for range *jobs {
			if out, err := kit.Command(ctx, env, runner, "submit", "--gpus", "0", "--", "sh", "-c", "sleep 0.2"); err != nil {
				return fmt.Errorf("submit: %w: %s", err, out)
			}
		}
		// The burst's work takes a few seconds; the rest of the 10 s is idle.
		time.Sleep(5 * time.Second)
		c0, err := kit.CPUTicks(pid)
		if err != nil {
			return err
		}
		t0 := time.Now()
		time.Sleep(5 * time.Second)
		c1, err := kit.CPUTicks(pid)
		if err != nil {
			return err
		}
		idleCPU += time.Duration(c1-c0) * 10 * time.Millisecond
		idleWall += time.Since(t0)
	}
	if err := kit.WaitFor(ctx, 2*time.Minute, func() (bool, error) {
		st, err := kit.ReadStatus(ctx, runner, env)
		return err == nil && st.Runs["synced"] == *runs+made, nil
	}); err != nil {
		st, _ := kit.ReadStatus(ctx, runner, env)
		return fmt.Errorf("%d of %d new runs not synced after the soak (%v): %w", *runs+made-st.Runs["synced"], made, st.Runs, err)
	}
	jobStates, err := countJobs(ctx, runner, env)
	if err != nil {
		return err
	}
	if err := kit.WaitFor(ctx, time.Minute, func() (bool, error) {
		jobStates, err = countJobs(ctx, runner, env)
		return err == nil && jobStates["succeeded"] == burst**jobs, err
	}); err != nil {
		return fmt.Errorf("jobs after the soak: %v, want %d succeeded: %w", jobStates, burst**jobs, err)
	}
	time.Sleep(3 * time.Second)
	endM, err := scrape(addr)
	if err != nil {
		return err
	}
	peak, err := vmHWM(pid)
	if err != nil {
		return err
	}
	counts, err := uploadCounts(uploads)
	if err != nil {
		return err
	}
	dups := 0
	for _, c := range counts {
		if c > 1 {
			dups++
		}
	}
	lost := made - len(counts)
	fmt.Printf("soak: %d bursts over %s: %d new runs, %d jobs (%v)\n", burst, duration.Round(time.Second), made, burst**jobs, jobStates)
	fmt.Printf("idle between bursts: %s CPU over %s = %.2f%% of one core\n", idleCPU, idleWall.Round(time.Second),
		100*idleCPU.Seconds()/idleWall.Seconds())
	fmt.Printf("RSS: peak %.1f MB, end %.1f MB\n", float64(peak)/(1<<20), endM["process_resident_memory_bytes"]/(1<<20))
	fmt.Printf("goroutines %.0f -> %.0f, open fds %.0f -> %.0f\n", start["go_goroutines"], endM["go_goroutines"],
		start["process_open_fds"], endM["process_open_fds"])
	fmt.Printf("runs lost %d, uploaded twice %d\n", lost, dups)
	var fails []string
	if lost != 0 || dups != 0 {
		fails = append(fails, "runs lost or uploaded twice")
	}
	if endM["process_open_fds"] > start["process_open_fds"]+5 || endM["go_goroutines"] > start["go_goroutines"]+10 {
		fails = append(fails, "fds or goroutines grew")
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}

func newRun(parent, id string) error {
	dir := filepath.Join(parent, "offline-run-20260101_000000-"+id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		return err
	}
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: id, Project: "soak", StartTime: time.Now()})
	_ = w.Row(0, 0, time.Now(), map[string]float64{"train/loss": 1})
	_ = w.Exit(0, 1)
	return w.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// scrape reads the gauges of the daemon's metrics endpoint.
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out, sc.Err()
}

// vmHWM is the peak RSS of pid.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// countJobs counts the ledger's jobs by state.
func countJobs(ctx context.Context, runner string, env []string) (map[string]int, error) {
	out, err := kit.Command(ctx, env, runner, "jobs", "--json")
	if err != nil {
		return nil, fmt.Errorf("runner jobs: %w: %s", err, out)
	}
	var list []struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("runner jobs --json: %w", err)
	}
	counts := map[string]int{}
	for _, j := range list {
		counts[j.State]++
	}
	return counts, nil
}

// uploadCounts counts the fake CLI's uploads per run id.
func uploadCounts(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			RunID string `json:"run_id"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.RunID != "" {
			out[e.RunID]++
		}
	}
	return out, nil
}
