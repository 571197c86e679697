// Command active measures what the daemon costs while runs are being
// written, the way wandb writes them: N writers each create an
// offline-run dir and append a history row (about 200 B) to its .wandb log
// at -hz, while `runner daemon --no-upload` watches the tree. It reads the
// daemon's CPU time from /proc over the runs' creation (until `runner runs
// --json` shows them all, with each run's first-sight latency: dir creation
// to its row in the ledger) and then over -window with every run known and
// writing (and RSS after it), and, for one last run that stops writing,
// how long after its last write plus --settle it left `active`.
//
//	go run ./bench/active                    # 8 runs at 10 Hz for 30 s
//	go run ./bench/active -runs 64
//	go run ./bench/active -before main       # the same, first with runner built from main
//	go run ./bench/active -pprof 127.0.0.1:6061   # then take a profile during the window:
//	  go tool pprof 'http://127.0.0.1:6061/debug/pprof/profile?seconds=25'
//
// With -grow SIZE -over D it measures one growing log instead (issue 24):
// one run writes SIZE of history rows (about 1 KB each) at a steady rate
// over D; it prints the daemon's CPU seconds from the first write until
// the ledger holds the final size, the CPU seconds of one `runner backfill`
// of the finished file (a fresh ledger), their ratio, and the daemon's RSS
// over the growth (at each quarter, and its peak, VmHWM).
//
//	go run ./bench/active -grow 120MB -over 15s
//	go run ./bench/active -grow 1GB -over 2m
//
// It prints one line per figure (prefixed with the binary's label under
// -before) and exits 1 when the CPU is above -max-cpu (the targets of
// docs/benchmarks.md "Active runs").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	prof   string // file the window's CPU profile is written to, "" for none
	before string // git revision of a baseline runner, "" for none
	grow   int64  // bytes one growing log is written to; 0: the active-runs window
	over   time.Duration
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
	fs.StringVar(&o.prof, "profile", "", "write the daemon's CPU profile over the whole window to this file (needs -pprof; with -before, LABEL- is prefixed to the file's name)")
	fs.StringVar(&o.before, "before", "", "git revision to build a baseline runner from, measured first (empty: none)")
	grow := fs.String("grow", "", "measure one log growing to this size (e.g. 120MB, 1GB; MB = 2^20 B) instead of the active-runs window")
	fs.DurationVar(&o.over, "over", 15*time.Second, "with -grow: the time the log is written over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.prof != "" && o.pprof == "" {
		return fmt.Errorf("-profile %s: needs -pprof ADDR, the daemon's profiling address", o.prof)
	}
	if o.runs < 1 || o.hz <= 0 {
		return fmt.Errorf("-runs %d -hz %g: need at least one run and a positive rate", o.runs, o.hz)
	}
	if *grow != "" {
		n, err := parseSize(*grow)
		if err != nil || n <= 0 || o.over <= 0 {
			return fmt.Errorf("-grow %q -over %s: need a positive size (e.g. 120MB) and time", *grow, o.over)
		}
		o.grow = n
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
	type binary struct{ label, path string }
	after, _, err := kit.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	bins := []binary{{"", after}}
	if o.before != "" {
		before, err := kit.BuildRev(ctx, o.before, filepath.Join(tmp, "before"))
		if err != nil {
			return err
		}
		bins = []binary{{"before", before}, {"after", after}}
	}
	for _, b := range bins {
		dir := filepath.Join(tmp, "home-"+b.label)
		prefix := "active"
		if b.label != "" {
			prefix += " " + b.label
		}
		if o.grow > 0 {
			err = growing(ctx, o, prefix, b.path, dir)
		} else {
			err = window(ctx, o, prefix, b.path, dir)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
	}
	return nil
}

// window measures the daemon over o.window with o.runs runs writing at
// o.hz, then the readiness of one more run that stops.
func window(ctx context.Context, o options, prefix, runner, tmp string) error {
	tree := filepath.Join(tmp, "tree")
	env, logPath, daemon, stopDaemon, err := startDaemon(ctx, o, runner, tmp, tree)
	if err != nil {
		return err
	}
	defer stopDaemon()
	pid := daemon.Process.Pid

	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	created := make([]time.Time, o.runs)
	var wg sync.WaitGroup
	errs := make(chan error, o.runs+1)
	// Two phases: the runs' creation (first sights), then the window with
	// every run known and writing, which is what a box pays for hours of
	// training; a 30 s window that held the creation mostly measured it.
	c0, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	c0At := time.Now()
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
	// A sight is timed when the poll that saw it returns: the figure
	// includes up to one poll's run (printed beside it).
	var polls int
	var polled time.Duration
	found := 0
	giveUp := time.After(o.window + 30*time.Second)
	for found < o.runs {
		select {
		case <-giveUp:
			return fmt.Errorf("only %d of %d runs seen in the ledger within %s (log: %s)", found, o.runs, o.window+30*time.Second, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-time.After(50 * time.Millisecond):
		}
		t := time.Now()
		rows, err := listRuns(ctx, runner, env)
		if err != nil {
			continue
		}
		now := time.Now()
		polls, polled = polls+1, polled+now.Sub(t)
		for i := range o.runs {
			if seen[i] == 0 && rows[runDir(tree, fmt.Sprintf("w%04d", i))] != "" {
				seen[i] = now.Sub(created[i])
				found++
			}
		}
	}
	cpu0, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	fmt.Printf("%s: creation of %d runs: daemon %s CPU over %s (polled every 50 ms)\n", prefix, o.runs,
		ticks(cpu0-c0), time.Since(c0At).Round(time.Millisecond))
	slices.Sort(seen)
	fmt.Printf("%s: first sight p50 %s p99 %s max %s (a poll, runner runs --json, took %s on average)\n", prefix,
		quantile(seen, 0.5), quantile(seen, 0.99), seen[len(seen)-1].Round(time.Millisecond), (polled / time.Duration(max(polls, 1))).Round(time.Millisecond))

	w0 := time.Now()
	profiled := profileWindow(o, prefix)
	select {
	case <-time.After(o.window):
	case <-ctx.Done():
		return ctx.Err()
	case err := <-errs:
		return err
	}
	cpu1, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	wall := time.Since(w0)
	if err := <-profiled; err != nil {
		return err
	}
	rss, err := kit.RSSBytes(pid)
	if err != nil {
		return err
	}
	cpu := ticks(cpu1 - cpu0)
	pct := 100 * cpu.Seconds() / wall.Seconds()
	fmt.Printf("%s: %d runs at %g Hz, all known: daemon %s CPU over %s = %.2f%% of one core (max %.2f%%)\n",
		prefix, o.runs, o.hz, cpu, wall.Round(time.Millisecond), pct, o.maxCPU)
	fmt.Printf("%s: RSS %.1f MB\n", prefix, float64(rss)/(1<<20))

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
		// Pending (uploads are off); a log caught empty as wandb creates
		// it is skipped until it grows, and is not ready then.
		st := rows[dir]
		return st == "pending", nil
	}); err != nil {
		return fmt.Errorf("waiting for the last run to be ready: %w (log: %s)", err, logPath)
	}
	waited := time.Since(last) - o.settle
	// The daemon's own time of the move (its log line) against the log's
	// mtime: the figure without this command's polling (200 ms) and the
	// `runner runs` it polls with.
	moved := "?"
	if at, err := readyLogged(logPath, dir); err == nil {
		if st, err := os.Stat(filepath.Join(dir, "run-last.wandb")); err == nil {
			moved = (at.Sub(st.ModTime()) - o.settle).Round(time.Millisecond).String()
		}
	}
	fmt.Printf("%s: ready %s after the settle window (last write + %s; daemon's log: %s)\n", prefix,
		waited.Round(time.Millisecond), o.settle, moved)
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

// growing measures the daemon while one log grows to o.grow over o.over,
// against one backfill of the finished file.
func growing(ctx context.Context, o options, prefix, runner, tmp string) error {
	tree := filepath.Join(tmp, "tree")
	env, logPath, daemon, stopDaemon, err := startDaemon(ctx, o, runner, tmp, tree)
	if err != nil {
		return err
	}
	defer stopDaemon()
	pid := daemon.Process.Pid
	cpu0, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	// RSS at each quarter of the growth: flat, or carried along with the log.
	var quarters []int64
	size, err := writeGrowing(ctx, tree, "grow", o.grow, o.over, func(frac float64) {
		for len(quarters) < 4 && frac >= float64(len(quarters)+1)/4 {
			rss, _ := kit.RSSBytes(pid)
			quarters = append(quarters, rss)
		}
	})
	if err != nil {
		return err
	}
	wrote := time.Since(t0)
	// Growth ends for the daemon once the ledger holds the final size.
	dir := runDir(tree, "grow")
	if err := kit.WaitFor(ctx, time.Minute, func() (bool, error) {
		rows, err := listSizes(ctx, runner, env)
		return err == nil && rows[dir] == size, nil
	}); err != nil {
		return fmt.Errorf("waiting for the final size %d in the ledger: %w (log: %s)", size, err, logPath)
	}
	cpu1, err := kit.CPUTicks(pid)
	if err != nil {
		return err
	}
	recorded := time.Since(t0)
	peak, err := kit.PeakRSSBytes(pid)
	if err != nil {
		return err
	}
	daemonCPU := ticks(cpu1 - cpu0)

	// One backfill of the finished file, into a ledger of its own.
	bf := exec.CommandContext(ctx, runner, "backfill", tree)
	bf.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(tmp, "state-backfill"), "RUNNER_GPUS=none")
	if out, err := bf.CombinedOutput(); err != nil {
		return fmt.Errorf("backfill: %w: %s", err, out)
	}
	backfillCPU := bf.ProcessState.UserTime() + bf.ProcessState.SystemTime()
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
	fmt.Printf("%s: grow %s over %s (recorded after %s): daemon %.2fs CPU, backfill %.2fs CPU, ratio %.2fx\n",
		prefix, mb(size), wrote.Round(time.Millisecond), recorded.Round(time.Millisecond),
		daemonCPU.Seconds(), backfillCPU.Seconds(), daemonCPU.Seconds()/backfillCPU.Seconds())
	qs := make([]string, len(quarters))
	for i, q := range quarters {
		qs[i] = mb(q)
	}
	fmt.Printf("%s: grow RSS at 25/50/75/100%%: %s; peak (VmHWM) %s\n", prefix, strings.Join(qs, " / "), mb(peak))
	return nil
}

// writeGrowing writes run id's log at a steady rate until it holds total
// bytes, over about over, calling progress with the fraction written after
// each flush (every 20 ms); it returns the final size.
func writeGrowing(ctx context.Context, tree, id string, total int64, over time.Duration, progress func(float64)) (int64, error) {
	dir := runDir(tree, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		return 0, err
	}
	defer w.Close()
	start := time.Now()
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: id, Project: "active", StartTime: start})
	// About 1 KB a row: 40 scalars, as a model logging per-layer figures.
	keys := make([]string, 40)
	for k := range keys {
		keys[k] = fmt.Sprintf("train/layer%02d/grad_norm", k)
	}
	metrics := make(map[string]float64, len(keys))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for step := int64(0); w.Offset() < total; {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		due := min(total, int64(float64(total)*time.Since(start).Seconds()/over.Seconds()))
		for w.Offset() < due {
			for k, key := range keys {
				metrics[key] = 1 / float64(step+int64(k)+1)
			}
			if err := w.Row(step, time.Since(start).Seconds(), time.Now(), metrics); err != nil {
				return 0, err
			}
			step++
		}
		if err := w.Flush(); err != nil {
			return 0, err
		}
		progress(float64(w.Offset()) / float64(total))
	}
	return w.Offset(), nil
}

// parseSize reads 120MB, 1GB, 512KB or a number of bytes (KB = 2^10 B).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if v, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	return int64(n * float64(mult)), err
}

// startDaemon starts `runner daemon --no-upload` watching tree with its
// state under tmp, and waits until it answers.
func startDaemon(ctx context.Context, o options, runner, tmp, tree string) (env []string, logPath string, cmd *exec.Cmd, stop func(), err error) {
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return nil, "", nil, nil, err
	}
	env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(tmp, "state"), "RUNNER_GPUS=none")
	logPath = filepath.Join(tmp, "daemon.log")
	daemonArgs := []string{"--watch", tree, "--no-upload", "--reconcile", "24h", "--settle", o.settle.String()}
	if o.pprof != "" {
		daemonArgs = append(daemonArgs, "--pprof", o.pprof)
	}
	cmd, stop, err = kit.StartDaemon(runner, env, logPath, daemonArgs...)
	if err != nil {
		return nil, "", nil, nil, err
	}
	// The daemon is up once it answers; runs created before would be found
	// by its first scan, not by a watch event.
	if err := kit.WaitFor(ctx, time.Minute, func() (bool, error) {
		_, err := listRuns(ctx, runner, env)
		return err == nil, nil
	}); err != nil {
		stop()
		return nil, "", nil, nil, fmt.Errorf("waiting for the daemon: %w (log: %s)", err, logPath)
	}
	time.Sleep(time.Second)
	return env, logPath, cmd, stop, nil
}

// readyLogged is the time of the daemon's "run ready for upload" line for dir.
func readyLogged(logPath, dir string) (time.Time, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="run ready for upload"`) || !strings.Contains(line, "dir="+dir+" ") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		return time.Parse(time.RFC3339Nano, ts)
	}
	return time.Time{}, fmt.Errorf("no ready line for %s in %s", dir, logPath)
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

// runRow is what the bench reads of a run from `runner runs --json`.
type runRow struct {
	Dir   string `json:"dir"`
	State string `json:"state"`
	Size  int64  `json:"size"`
}

// listRunRows returns every run from `runner runs --json`.
func listRunRows(ctx context.Context, runner string, env []string) ([]runRow, error) {
	out, err := kit.Command(ctx, env, runner, "runs", "--json")
	if err != nil {
		return nil, fmt.Errorf("runs --json: %w: %s", err, out)
	}
	var rows []runRow
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("runs --json: %w", err)
	}
	return rows, nil
}

// listSizes returns each run's recorded log size by dir.
func listSizes(ctx context.Context, runner string, env []string) (map[string]int64, error) {
	rows, err := listRunRows(ctx, runner, env)
	m := make(map[string]int64, len(rows))
	for _, r := range rows {
		m[r.Dir] = r.Size
	}
	return m, err
}

// listRuns returns each run's state by dir.
func listRuns(ctx context.Context, runner string, env []string) (map[string]string, error) {
	rows, err := listRunRows(ctx, runner, env)
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r.Dir] = r.State
	}
	return m, err
}

// profileWindow takes the daemon's CPU profile over o.window, from now, so
// that the profile holds what the figure holds.
// The channel gives the write's error once the window is over.
func profileWindow(o options, prefix string) <-chan error {
	done := make(chan error, 1)
	if o.prof == "" {
		done <- nil
		return done
	}
	path := o.prof
	if label := strings.TrimPrefix(prefix, "active "); label != prefix {
		path = filepath.Join(filepath.Dir(path), label+"-"+filepath.Base(path))
	}
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", o.pprof, int(o.window.Seconds()))
		resp, err := http.Get(url)
		if err != nil {
			done <- fmt.Errorf("profile: %w", err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err == nil {
			fmt.Printf("%s: CPU profile of the window in %s\n", prefix, path)
		}
		done <- err
	}()
	return done
}

// ticks is a count of /proc clock ticks as time: 1/100 s on Linux (USER_HZ).
func ticks(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }
