// Command ledger measures the report commands on a large ledger the way a
// user runs them: the runner binary, one process per command, wall time and
// peak RSS. It generates a ledger of -runs run dirs (ledgertest.Generate: a
// lab's history, stage pairs, ties, NaN, jobs, regressions), then runs each
// command -reps times and prints the median, the fastest and the peak RSS.
//
// With -before REV it also builds runner from that git revision and runs the
// same commands with it, alternating the two, on a copy of the same ledger
// (made at the older binary's schema; the newer binary's first open
// migrates it, and that is timed too), and says whether the two printed the
// same bytes.
//
//	go run ./bench/ledger                          # 100,000 run dirs
//	go run ./bench/ledger -before main -runs 1000000 -reps 3
//	go run ./bench/ledger -runs 1000000 -ledger /tmp/gen1m.db   # generated once, then copied
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/runnerhq/runner/bench/internal/kit"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, reps int
	before     string
	keep       bool
	only       string
	ledger     string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 100_000, "run dirs in the generated ledger")
	fs.IntVar(&o.reps, "reps", 5, "runs of each command (and binary)")
	fs.StringVar(&o.before, "before", "", "git revision to build the baseline runner from (empty: none)")
	fs.StringVar(&o.only, "only", "", "only the commands whose line contains this")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary dir (ledgers, binaries)")
	fs.StringVar(&o.ledger, "ledger", "", "a generated ledger to reuse: made there (by the oldest binary, never opened for writing) if it does not exist, copied from there if it does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "runner-ledger-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("dir:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	after := &binary{label: "after", path: filepath.Join(tmp, "after", "runner")}
	if err := kit.BuildRunner(ctx, ".", after.path); err != nil {
		return err
	}
	bins := []*binary{after}
	if o.before != "" {
		src := filepath.Join(tmp, "src-before")
		if err := kit.Export(ctx, o.before, src); err != nil {
			return err
		}
		before := &binary{label: "before", path: filepath.Join(tmp, "before", "runner")}
		if err := kit.BuildRunner(ctx, src, before.path); err != nil {
			return err
		}
		bins = []*binary{before, after}
	}
	for _, b := range bins {
		b.home = filepath.Join(tmp, "home-"+b.label)
		b.db = filepath.Join(b.home, "ledger.db")
		if err := os.MkdirAll(b.home, 0o700); err != nil {
			return err
		}
	}

	// The oldest binary makes the ledger, so every binary can open it.
	empty := filepath.Join(tmp, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return err
	}
	first := bins[0]
	g, err := generate(ctx, o, first, empty, filepath.Join(tmp, "tree"))
	if err != nil {
		return err
	}
	for _, b := range bins[1:] {
		if err := copyFile(first.db, b.db); err != nil {
			return err
		}
	}
	// The first write command of each binary: a migration for the newer one.
	for _, b := range bins {
		t0 := time.Now()
		_, rss, err := b.run(ctx, "backfill", empty)
		if err != nil {
			return fmt.Errorf("%s: first open: %w", b.label, err)
		}
		fmt.Printf("%s: first write command (backfill of an empty tree; migrates an older ledger): %s, peak RSS %s; ledger %s\n",
			b.label, time.Since(t0).Round(time.Millisecond), mb(rss), size(b.db))
	}

	// Two pipeline runs and two single ones from the middle of the ledger.
	pick := func(w int) (id, name string) {
		return fmt.Sprintf("%08x", (uint64(w)*2654435761)%4294967296), fmt.Sprintf("exp-%d", w)
	}
	idA, nameA := pick(g.Pairs / 2)
	idB, nameB := pick(g.Pairs/2 + 1)
	idC, _ := pick(g.Runs - 10)
	cmds := [][]string{
		{"leaderboard", "--metric", "eval/nrmse", "--top", "10"},
		{"leaderboard", "--metric", "eval/nrmse", "--top", "10", "--json"},
		{"leaderboard", "--metric", "eval/nrmse", "--top", "10", "--project", "proj-07"},
		{"leaderboard", "--metric", "train/loss", "--top", "10", "--group", "sweep-3"},
		{"leaderboard", "--metric", "eval.physics.energy_drift", "--top", "10", "--goal", "lower"},
		{"regressions"},
		{"regressions", "--json"},
		{"regressions", "--metric", "eval/nrmse", "--since", "1d"},
		{"compare", idA, idB, idC},
		{"compare", nameA, nameB, "--json"},
		{"runs", "--json"},
		{"runs", "--state", "failed", "--json"},
		{"runs", "--project", "proj-07", "--json"},
		{"runs", "--project", "lab", "--state", "pending"},
		{"runs"},
		{"version"},
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	head := "command"
	for _, b := range bins {
		head += fmt.Sprintf("\t%s median\t(fastest)\tpeak RSS", b.label)
	}
	if len(bins) > 1 {
		head += "\tsame output"
	}
	fmt.Fprintln(tw, head)
	for _, c := range cmds {
		line := "runner " + strings.Join(c, " ")
		if o.only != "" && !strings.Contains(line, o.only) {
			continue
		}
		times := make([][]time.Duration, len(bins))
		peaks := make([]int64, len(bins))
		sums := make([]string, len(bins))
		for range o.reps {
			for i, b := range bins { // alternating: both see the same noise
				t0 := time.Now()
				sum, rss, err := b.run(ctx, c...)
				if err != nil {
					return fmt.Errorf("%s %s: %w", b.label, line, err)
				}
				times[i] = append(times[i], time.Since(t0))
				peaks[i] = max(peaks[i], rss)
				sums[i] = sum
			}
		}
		for i := range bins {
			slices.Sort(times[i])
			line += fmt.Sprintf("\t%s\t(%s)\t%s", dur(times[i][len(times[i])/2]), dur(times[i][0]), mb(peaks[i]))
		}
		if len(bins) > 1 {
			same := "yes"
			if sums[0] != sums[1] {
				same = "NO"
			}
			line += "\t" + same
		}
		fmt.Fprintln(tw, line)
		tw.Flush()
	}
	return tw.Flush()
}

// generate fills first's ledger: generated there, or copied from o.ledger
// when that exists. Generating 1,000,000 dirs takes minutes and the copy
// seconds, so a -ledger kept from one run serves the next ones; it is
// copied before any binary opens it for writing, so each run times the
// first write command (the migration) on the same untouched ledger.
func generate(ctx context.Context, o options, first *binary, empty, tree string) (ledgertest.Generated, error) {
	if o.ledger != "" {
		if _, err := os.Stat(o.ledger); err == nil {
			pairs := o.runs * 3 / 10
			g := ledgertest.Generated{Dirs: o.runs, Pairs: pairs, Runs: o.runs - pairs}
			if err := copyFile(o.ledger, first.db); err != nil {
				return g, err
			}
			fmt.Printf("ledger: %d run dirs (-runs: say the count it was made with), copied from %s, %s\n", g.Dirs, o.ledger, size(first.db))
			return g, nil
		}
	}
	if _, _, err := first.run(ctx, "backfill", empty); err != nil {
		return ledgertest.Generated{}, fmt.Errorf("create the ledger: %w", err)
	}
	t0 := time.Now()
	g, err := ledgertest.Generate(ctx, first.db, tree, o.runs)
	if err != nil {
		return g, err
	}
	fmt.Printf("ledger: %d run dirs, %d W&B runs (%d of two stages), %d jobs, %d regressions; generated in %s, %s\n",
		g.Dirs, g.Runs, g.Pairs, g.Jobs, g.Flagged, time.Since(t0).Round(time.Millisecond), size(first.db))
	if o.ledger != "" {
		if err := copyFile(first.db, o.ledger); err != nil {
			return g, err
		}
	}
	return g, nil
}

// binary is one runner build with a ledger of its own.
type binary struct {
	label, path, home, db string
}

// run runs the binary and returns a digest of its stdout and its peak RSS.
func (b *binary) run(ctx context.Context, args ...string) (string, int64, error) {
	cmd := exec.CommandContext(ctx, b.path, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.home, "RUNNER_DB=" + b.db, "TZ=UTC"}
	h := sha256.New()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = h, &stderr
	err := cmd.Run()
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // kB on Linux
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && args[0] == "backfill" {
		err = nil // an empty tree: nothing to record is not a failure here
	}
	if err != nil {
		return "", rss, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return fmt.Sprintf("%x", h.Sum(nil)), rss, nil
}

func copyFile(from, to string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return kit.WriteFile(to, f, 0o600)
}

func size(path string) string {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return mb(n)
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

func dur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
