package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
)

// Every command refuses arguments it does not use, naming the first one.
func TestExtraArgumentsAreUsageErrors(t *testing.T) {
	c := newShell(t)
	for _, tc := range []struct {
		args  []string
		extra string
	}{
		{[]string{"runs", "pde"}, "pde"}, {[]string{"status", "extra"}, "extra"}, {[]string{"logs", "1", "2"}, "2"},
		{[]string{"inspect", "a", "b"}, "b"}, {[]string{"jobs", "1", "x"}, "x"}, {[]string{"gc", "now"}, "now"},
		{[]string{"doctor", "x"}, "x"}, {[]string{"version", "x"}, "x"}, {[]string{"check", "r1", "r2"}, "r2"},
		{[]string{"leaderboard", "x", "--metric", "m"}, "x"},
	} {
		_, stderr, code := c.run(tc.args...)
		if code != 2 || !strings.Contains(stderr, `unexpected argument "`+tc.extra+`"`) {
			t.Errorf("runner %v: exit %d, %q; want 2 naming %q", tc.args, code, stderr, tc.extra)
		}
	}
}

// Global flags work after the command too, as the README says.
func TestGlobalFlagsAfterTheCommand(t *testing.T) {
	c := newShell(t)
	other := filepath.Join(t.TempDir(), "other.db")
	if _, stderr, code := c.run("submit", "--hold", "--db", other, "true"); code != 0 {
		t.Fatalf("submit --db after the command: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("--db after the command was not used: %v", err)
	}
	out, stderr, code := c.run("jobs", "--json", "--db", other, "--log-level", "debug")
	if code != 0 || !strings.Contains(out, `"command": [`) {
		t.Errorf("jobs --db after the command: exit %d, %q %q", code, out, stderr)
	}
	// The job's own flags stay the job's, even a global flag's name.
	if _, stderr, code := c.run("submit", "--hold", "--db", other, "python", "train.py", "--db", "mine"); code != 0 {
		t.Fatalf("submit with --db in the job's command: exit %d, %s", code, stderr)
	}
	out, _, _ = c.run("jobs", "--db", other, "--json")
	if !strings.Contains(out, `"--db",`) || !strings.Contains(out, `"mine"`) {
		t.Errorf("the job's --db was taken by runner:\n%s", out)
	}
}

// Environment variables configure; they never change what one call prints.
func TestEnvVarsAreForConfigurationOnly(t *testing.T) {
	c := newShell(t)
	if _, stderr, code := c.run("submit", "--hold", "--name", "mine", "true"); code != 0 {
		t.Fatal(stderr)
	}
	c.env["RUNNER_JSON"] = "1"
	c.env["RUNNER_STATE"] = "failed"
	c.env["RUNNER_NAME"] = "other"
	c.env["RUNNER_GPUS"] = "fake:4" // the daemon's inventory, not a job's GPU count
	out, stderr, code := c.run("jobs")
	if code != 0 || strings.HasPrefix(strings.TrimSpace(out), "[") || !strings.Contains(out, "mine") {
		t.Errorf("jobs with RUNNER_JSON/RUNNER_STATE set: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := c.run("submit", "--hold", "true"); code != 0 {
		t.Errorf("submit with RUNNER_GPUS=fake:4: exit %d, %s", code, stderr)
	}
	c.env["RUNNER_EXECUTOR"] = "slurm" // the daemon's default engine, not this submit's
	if out, stderr, code := c.run("submit", "--hold", "--json", "true"); code != 0 || !strings.Contains(out, `"state": "queued"`) {
		t.Errorf("submit with RUNNER_EXECUTOR=slurm: exit %d, %s%s", code, out, stderr)
	}
	if out, _, _ := c.run("jobs", "--json"); strings.Contains(out, `"executor": "slurm"`) {
		t.Errorf("RUNNER_EXECUTOR chose a submit's executor:\n%s", out)
	}
	help, _, _ := c.run("backfill", "--help")
	if !strings.Contains(help, "$RUNNER_CONCURRENCY") || strings.Contains(help, "$RUNNER_JSON") || strings.Contains(help, "$RUNNER_DRY_RUN") {
		t.Errorf("backfill's help shows the wrong environment variables:\n%s", help)
	}
}

// The README's configuration table lists exactly the variables the flags read.
func TestReadmeListsExactlyTheEnvVars(t *testing.T) {
	want := map[string]bool{}
	a := New(StdEnv())
	add := func(fs []cli.Flag) {
		for _, f := range fs {
			if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
				for _, e := range ev.GetEnvVars() {
					want[e] = true
				}
			}
		}
	}
	add(a.Flags)
	for _, c := range a.Commands {
		add(c.Flags)
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start, end := strings.Index(text, "## Configuration\n"), strings.Index(text, "Per-call flags are listed")
	if start < 0 || end < start {
		t.Fatal("README has no configuration table")
	}
	got := map[string]bool{}
	for _, line := range strings.Split(text[start:end], "\n") {
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		cols := strings.Split(line, "|")
		for _, f := range strings.Split(cols[2], ",") {
			got[strings.Trim(strings.TrimSpace(f), "`")] = true
		}
	}
	for e := range want {
		if !got[e] {
			t.Errorf("%s is read but not in the README's configuration table", e)
		}
	}
	for e := range got {
		if !want[e] {
			t.Errorf("the README lists %s, which no flag reads", e)
		}
	}
}

// Help: `runner help [COMMAND]`, examples in every command's help, each
// default said once, and a near miss named.
func TestHelp(t *testing.T) {
	c := newShell(t)
	if out, _, code := c.run("help"); code != 0 || !strings.Contains(out, "submit") {
		t.Errorf("runner help: exit %d\n%s", code, out)
	}
	for _, cmd := range New(StdEnv()).VisibleCommands() {
		if cmd.Name == "help" {
			continue
		}
		out, _, code := c.run("help", cmd.Name)
		_, ex, _ := strings.Cut(out, "Examples:\n")
		if code != 0 || !strings.HasPrefix(strings.TrimSpace(ex), "runner "+cmd.Name) {
			t.Errorf("runner help %s: exit %d, no example:\n%s", cmd.Name, code, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("runner help %s: a default said twice: %s", cmd.Name, line)
			}
		}
	}
	for args, want := range map[string]string{
		"stauts":        `unknown command "stauts"; did you mean "status"?`,
		"status --jsn":  "unknown flag --jsn; did you mean --json?",
		"status -bogus": "unknown flag --bogus",
		"plot --help":   "the metric to draw against step",
		"submit --lr 3": "unknown flag --lr",
		"help submit":   "runner submit --gpus 1 --name train python train.py --lr 3e-4",
	} {
		out, stderr, _ := c.run(strings.Fields(args)...)
		if !strings.Contains(out+stderr, want) {
			t.Errorf("runner %s: %q, want %q", args, out+stderr, want)
		}
	}
}

// Commands take a run by its W&B name or a unique id prefix too; one that
// changes state refuses an ambiguous name, listing the candidates.
func TestRunSelectionByNameAndPrefix(t *testing.T) {
	c := newShell(t)
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, r := range []struct{ id, name string }{{"abc123", "bad lr"}, {"abd999", "twin"}, {"xyz000", "twin"}} {
		dir := filepath.Join(root, "offline-run-20250101_000000-"+r.id)
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := db.UpsertRuns(context.Background(), []ledger.Observation{{Dir: dir, LogPath: filepath.Join(dir, "run-"+r.id+".wandb"),
			Size: 10, MTime: start, Meta: &ledger.Meta{RunID: r.id, Name: r.name, Project: "p", StartTime: &start}}}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if out, stderr, code := c.run("skip", "bad lr", "--reason", "typo in the config"); code != 0 || !strings.Contains(out, "skipped 1 run") {
		t.Errorf(`skip "bad lr": exit %d, %q %q`, code, out, stderr)
	}
	if out, stderr, code := c.run("unskip", "abc1"); code != 0 || !strings.Contains(out, "unskipped 1 run") {
		t.Errorf("unskip abc1 (a unique prefix): exit %d, %q %q", code, out, stderr)
	}
	_, stderr, code := c.run("skip", "twin")
	if code != 2 || !strings.Contains(stderr, `abd999 ("twin"), xyz000 ("twin")`) {
		t.Errorf("skip of an ambiguous name: exit %d, %q; want 2 listing both runs", code, stderr)
	}
	_, stderr, code = c.run("check", "nosuch")
	if code != 1 || !strings.Contains(stderr, `no run matches "nosuch"`) {
		t.Errorf("check of an unknown run: exit %d, %q; want the ledger's precise cause", code, stderr)
	}
}

// Colour only on a terminal and never with NO_COLOR (text.TestColourKeepsTheLayout:
// failed jobs are red and the table stays aligned).
func TestColour(t *testing.T) {
	tty := func(io.Writer) bool { return true }
	for _, tc := range []struct {
		env  Env
		want bool
	}{
		{Env{IsTerminal: tty, Getenv: func(string) string { return "" }}, true},
		{Env{IsTerminal: tty, Getenv: func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }}, false},
		{Env{IsTerminal: func(io.Writer) bool { return false }, Getenv: func(string) string { return "" }}, false},
	} {
		if got := tc.env.palette(io.Discard).On; got != tc.want {
			t.Errorf("palette on = %v, want %v", got, tc.want)
		}
	}
}

// skip and unskip answer as the queue verbs do: a run already so is exit 0
// with a message, a synced run cannot be skipped (exit 1, on stderr), and
// counts say "1 run dir", "2 run dirs".
func TestSkipAnswersLikeTheQueueVerbs(t *testing.T) {
	c, root := newUploadShell(t)
	if _, stderr, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, stderr)
	}
	if _, stderr, code := c.run("sync", "l69sfsyk"); code != 0 {
		t.Fatalf("sync l69sfsyk: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"skip", "rv0d9uzo", "2aftyuo2"}, 0, "skipped 2 run dirs\n", ""},
		{[]string{"skip", "rv0d9uzo"}, 0, "offline-run-20250126_193212-rv0d9uzo: already skipped\n", ""},
		{[]string{"skip", "l69sfsyk"}, 1, "", "runner: skip: offline-run-20250126_193314-l69sfsyk is synced: cannot skip it (it is already uploaded)\n"},
		{[]string{"skip", "rn7ku8ba", "l69sfsyk"}, 1, "skipped 1 run dir\n", "cannot skip it"},
		{[]string{"unskip", "g9dvvkua"}, 0, "offline-run-20210216_154407-g9dvvkua: not skipped (pending)\n", ""},
		{[]string{"unskip", "rv0d9uzo", "2aftyuo2"}, 0, "unskipped 2 run dirs\n", ""},
	} {
		out, stderr, code := c.run(tc.args...)
		if code != tc.code || out != tc.stdout || !strings.Contains(stderr, tc.errs) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", tc.args, code, out, stderr, tc.code, tc.stdout, tc.errs)
		}
	}
}
