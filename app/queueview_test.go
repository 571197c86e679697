package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
)

// beat records a live daemon in the shell's ledger, as `runner daemon` does.
func (c *shell) beat() {
	c.t.Helper()
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if err := db.Heartbeat(context.Background(), ledger.Daemon{PID: 1, StartedAt: time.Now()}); err != nil {
		c.t.Fatal(err)
	}
}

// With no daemon running, submit still queues but says nothing will start,
// --wait fails at once instead of hanging, and jobs and status name why.
func TestSubmitSaysWhenNoDaemonRuns(t *testing.T) {
	c := newShell(t)
	out, stderr, code := c.run("submit", "--name", "train", "--", "true")
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("submit: exit %d %q %q", code, out, stderr)
	}
	if !strings.Contains(stderr, "no daemon is running: job 1 is queued, but nothing will start until `runner daemon` runs") {
		t.Errorf("submit stderr %q", stderr)
	}
	done := make(chan struct{})
	var waitErr string
	go func() {
		defer close(done)
		_, waitErr, code = c.run("submit", "--wait", "--", "true")
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("submit --wait with no daemon did not return")
	}
	if code != 1 || !strings.Contains(waitErr, "job 2 is queued but will not start (daemon down)") {
		t.Errorf("submit --wait: exit %d %q", code, waitErr)
	}
	out, _, _ = c.run("jobs")
	if !strings.Contains(out, "daemon down") {
		t.Errorf("jobs does not say the daemon is down:\n%s", out)
	}
	out, _, _ = c.run("status", "--json")
	var st status.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.QueueBlock != "daemon down" {
		t.Errorf("status --json queue_block %q (%v)", st.QueueBlock, err)
	}

	// A live daemon: no notice, and the job's own reason shows.
	c.beat()
	out, stderr, code = c.run("submit", "--", "true")
	if code != 0 || strings.Contains(stderr, "daemon") {
		t.Errorf("submit with a daemon: exit %d %q %q", code, out, stderr)
	}
	out, _, _ = c.run("jobs")
	if strings.Contains(out, "daemon down") {
		t.Errorf("jobs with a live daemon:\n%s", out)
	}
	out, _, _ = c.run("status")
	if !strings.Contains(out, "jobs:     3 queued,") && !strings.Contains(out, "jobs:     3 queued\n") {
		t.Errorf("status with a live daemon:\n%s", out)
	}
}

// endedAgo cancels queued job id as if it happened ago before now.
func (c *shell) endedAgo(id int64, ago time.Duration) {
	c.t.Helper()
	at := time.Now().Add(-ago)
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{Clock: fixedClock{at}})
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CancelJob(context.Background(), id); err != nil {
		c.t.Fatal(err)
	}
}

type fixedClock struct{ t time.Time }

func (f fixedClock) Now() time.Time { return f.t }

// ids reads the first column of a jobs table without its header.
func ids(out string) string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			got = append(got, f[0])
		}
	}
	return strings.Join(got, " ")
}

func TestJobsViewStaysShort(t *testing.T) {
	c := newShell(t)
	for _, name := range []string{"a1", "a2", "b1", "a/x"} {
		if _, stderr, code := c.run("submit", "--name", name, "--", "true"); code != 0 {
			t.Fatalf("submit %s: %s", name, stderr)
		}
	}
	c.endedAgo(1, 48*time.Hour) // a1: ended two days ago
	if _, stderr, code := c.run("cancel", "2"); code != 0 {
		t.Fatalf("cancel 2: %s", stderr)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		ids    string
		footer string
	}{
		{"default: live and recent", nil, "2 3 4", "1 older ended job not shown (--all)"},
		{"all", []string{"--all"}, "1 2 3 4", ""},
		{"states however old", []string{"--state", "cancelled"}, "1 2", ""},
		{"state list", []string{"--state", "running,queued"}, "3 4", ""},
		{"name glob within the window", []string{"--name", "a*"}, "2", "1 older ended job not shown (--all)"},
		{"name glob, all", []string{"--name", "a*", "--all"}, "1 2", ""},
		{"glob stops at /", []string{"--name", "a/*", "--all"}, "4", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := c.run(append([]string{"jobs", "--no-header", "--format", "id,state,name"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := ids(out); got != tc.ids {
				t.Errorf("jobs %q shows %q, want %q:\n%s", tc.args, got, tc.ids, out)
			}
			if strings.TrimSpace(stderr) != tc.footer {
				t.Errorf("footer %q, want %q", stderr, tc.footer)
			}
		})
	}
	out, _, _ := c.run("jobs", "--format", "state,id")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || strings.Fields(lines[0])[0] != "STATE" ||
		strings.Join(strings.Fields(lines[1]), " ") != "cancelled 2" {
		t.Errorf("jobs --format state,id:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--state", "running,done"}, `invalid state "done": want a comma list of queued, running, succeeded`},
		{[]string{"--format", "id,colour"}, `unknown column "colour": want a comma list of id,name,owner,state`},
		{[]string{"--name", "[a"}, "bad name pattern"},
		{[]string{"1", "2"}, `unexpected argument "2"`},
	} {
		if _, stderr, code := c.run(append([]string{"jobs"}, tc.args...)...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("jobs %q: exit %d %q, want exit 2 with %q", tc.args, code, stderr, tc.want)
		}
	}
	out, _, code := c.run("jobs", "3")
	for _, want := range []string{"id:", "name:", "b1", "state:", "queued", "reason:", "daemon down", "log_path:", "command:", "true"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("jobs 3 lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	if _, stderr, code := c.run("jobs", "99"); code != 1 || !strings.Contains(stderr, "job 99") {
		t.Errorf("jobs 99: exit %d %q", code, stderr)
	}
}

// ranAgo runs queued job id to its end with exit code, ago before now,
// with an output log, and returns the log's path.
func (c *shell) ranAgo(id int64, exit int, ago time.Duration) string {
	c.t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-ago)
	db, err := ledger.Open(ctx, c.env["RUNNER_DB"], ledger.Options{Clock: fixedClock{at}})
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	log := filepath.Join(filepath.Dir(c.env["RUNNER_DB"]), "jobs", strconv.FormatInt(id, 10), "output.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o700); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("out\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	if _, ok, err := db.StartJob(ctx, id, ledger.JobStart{LogPath: log}); err != nil || !ok {
		c.t.Fatalf("start job %d: %v %v", id, ok, err)
	}
	if _, ok, err := db.EndJob(ctx, id, ledger.JobEnd{ExitCode: &exit}); err != nil || !ok {
		c.t.Fatalf("end job %d: %v %v", id, ok, err)
	}
	return log
}

func TestCleanRemovesEndedJobs(t *testing.T) {
	c := newShell(t)
	if out, _, code := c.run("clean"); code != 0 || strings.TrimSpace(out) != "no ended job to clean" {
		t.Errorf("clean with nothing to clean: exit %d %q", code, out)
	}
	for i := 0; i < 3; i++ {
		if _, stderr, code := c.run("submit", "--", "true"); code != 0 {
			t.Fatal(stderr)
		}
	}
	log1 := c.ranAgo(1, 3, 48*time.Hour) // failed two days ago
	c.ranAgo(3, 0, 48*time.Hour)         // succeeded two days ago; job 4 waits for it
	if _, stderr, code := c.run("cancel", "2"); code != 0 {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{{"submit", "--after", "3", "--", "true"}, {"submit", "--", "true"}} {
		if _, stderr, code := c.run(args...); code != 0 {
			t.Fatal(stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clean", "--state", "queued"}, "only ended jobs are cleaned: queued is not an ended state"},
		{[]string{"clean", "--state", "done"}, `invalid state "done"`},
		{[]string{"clean", "--before", "soon"}, `invalid time "soon"`},
	} {
		if _, stderr, code := c.run(tc.args...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d %q, want exit 2 with %q", tc.args, code, stderr, tc.want)
		}
	}
	all := func() string {
		out, _, _ := c.run("jobs", "--all", "--no-header", "--format", "id")
		return ids(out)
	}
	for _, tc := range []struct {
		args []string
		out  string
		left string
	}{
		{[]string{"--dry-run", "--before", "1d"}, "would remove 1 ended job and 2 files", "1 2 3 4 5"},
		{[]string{"--before", "1d"}, "removed 1 ended job and 2 files", "2 3 4 5"}, // its log and environment; 3 stays: 4 waits for it
		{[]string{"--before", "1d"}, "no ended job to clean", "2 3 4 5"},
		{[]string{"--state", "failed,succeeded"}, "no ended job to clean", "2 3 4 5"},
		{[]string{"--state", "cancelled"}, "removed 1 ended job and 1 file", "3 4 5"},
	} {
		out, stderr, code := c.run(append([]string{"clean"}, tc.args...)...)
		if code != 0 || strings.TrimSpace(out) != tc.out {
			t.Errorf("clean %q: exit %d %q %q, want %q", tc.args, code, out, stderr, tc.out)
		}
		if got := all(); got != tc.left {
			t.Errorf("after clean %q the ledger has jobs %q, want %q", tc.args, got, tc.left)
		}
		if _, err := os.Stat(log1); (err == nil) != slices.Contains(tc.args, "--dry-run") {
			t.Errorf("after clean %q job 1's log: %v", tc.args, err)
		}
	}
}

func TestRequeueByState(t *testing.T) {
	c := newShell(t)
	for i := 0; i < 3; i++ {
		if _, stderr, code := c.run("submit", "--", "true"); code != 0 {
			t.Fatal(stderr)
		}
	}
	c.ranAgo(1, 3, time.Hour)
	if _, stderr, code := c.run("cancel", "2"); code != 0 {
		t.Fatal(stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--state", "queued"}, 2, ""},
		{[]string{"--state", "succeeded"}, 2, ""},
		{[]string{"--state", "failed", "1"}, 2, ""},
		{[]string{"--state", "failed,cancelled"}, 0, "job 1 queued again\njob 2 queued again"},
		{[]string{"--state", "failed"}, 0, "no job to requeue"},
	} {
		out, stderr, code := c.run(append([]string{"requeue"}, tc.args...)...)
		if code != tc.code || strings.TrimSpace(out) != tc.out {
			t.Errorf("requeue %q: exit %d %q %q; want exit %d %q", tc.args, code, out, stderr, tc.code, tc.out)
		}
	}
	out, _, _ := c.run("jobs", "--state", "queued", "--no-header", "--format", "id")
	if got := ids(out); got != "1 2 3" {
		t.Errorf("queued after requeue --state: %q", got)
	}
}

// runner pause keeps queued jobs queued and says so in jobs and status;
// runner resume lifts it. (The scheduler's side: TestPausedQueueStartsNothing.)
func TestPauseAndResumeTheQueue(t *testing.T) {
	c := newShell(t)
	c.beat()
	if _, stderr, code := c.run("submit", "--", "true"); code != 0 {
		t.Fatal(stderr)
	}
	for _, tc := range []struct {
		cmd, out, reason string
	}{
		{"pause", "job queue paused: queued jobs stay queued, running jobs go on", "queue paused"},
		{"pause", "job queue already paused", "queue paused"},
		{"resume", "job queue resumed", "-"},
		{"resume", "job queue was not paused", "-"},
	} {
		out, stderr, code := c.run(tc.cmd)
		if code != 0 || strings.TrimSpace(out) != tc.out {
			t.Errorf("%s: exit %d %q %q, want %q", tc.cmd, code, out, stderr, tc.out)
		}
		out, _, _ = c.run("jobs", "--no-header", "--format", "reason")
		if strings.TrimSpace(out) != tc.reason {
			t.Errorf("after %s the job's reason is %q, want %q", tc.cmd, out, tc.reason)
		}
	}
	c.run("pause")
	out, _, _ := c.run("status")
	if !strings.Contains(out, "1 queued (queue paused)") {
		t.Errorf("status of a paused queue:\n%s", out)
	}
	if _, stderr, _ := c.run("submit", "--", "true"); !strings.Contains(stderr, "job 2 is queued, but nothing will start: queue paused (runner resume)") {
		t.Errorf("submit to a paused queue: %q", stderr)
	}
}

// A paused upload configuration reads as a sentence: what is paused, why,
// since when and by which process; no scope hashes.
func TestStatusSaysWhoPausedUploadsInWords(t *testing.T) {
	c := newShell(t)
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PauseUploads(context.Background(), ledger.Pause{Scope: "key:471527328113", Config: "API key 471527328113 (a hash)",
		Reason: "the API key was rejected (401)", By: "gpu-box:22391:8812:0a1b2c3d"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, _, _ := c.run("status")
	want := "paused: API key 471527328113 (a hash): the API key was rejected (401) (since now, by process 22391 on gpu-box)"
	if !strings.Contains(out, want) || strings.Contains(out, "key:") || strings.Contains(out, "0a1b2c3d") {
		t.Errorf("status pause line: want %q in\n%s", want, out)
	}
}

// clean --user removes only that user's ended jobs (root may name anyone;
// the rule for others is jobs.Clean's, TestCleanOfAnotherUsersJobs).
func TestCleanOneUsersJobs(t *testing.T) {
	c := newShell(t)
	if _, stderr, code := c.run("submit", "--", "true"); code != 0 { // creates the ledger
		t.Fatal(stderr)
	}
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"alice", "bob", "alice"} {
		if _, err := db.SubmitJob(context.Background(), ledger.JobSpec{Argv: []string{"true"}, Cwd: "/", Owner: owner, OwnerUID: 1000 + len(owner)}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if _, stderr, code := c.run("cancel", "1", "2", "3", "4"); code != 0 {
		t.Fatal(stderr)
	}
	if out, stderr, code := c.run("clean", "--user", "alice"); code != 0 || out != "removed 2 ended jobs and 0 files\n" {
		t.Errorf("clean --user alice: exit %d %q %q", code, out, stderr)
	}
	if out, _, _ := c.run("jobs", "--all", "--no-header", "--format", "id,owner"); ids(out) != "1 3" {
		t.Errorf("after clean --user alice the ledger has jobs %q, want 1 and 3 (not alice's)", ids(out))
	}
}

// On a terminal that reports no size (script -qc 'runner jobs' /dev/null),
// the table fits COLUMNS; in a pipe it is never cut, whatever COLUMNS says.
func TestJobsTableFitsColumnsOnASizelessTerminal(t *testing.T) {
	long := "python train.py --config configs/very/long/path/to/an/experiment.yaml --lr 3e-4 --epochs 100"
	for _, tc := range []struct {
		name     string
		tty      bool
		columns  string
		maxWidth int // 0: the whole command is there
	}{
		{"terminal, COLUMNS=80", true, "80", 80},
		{"terminal, COLUMNS=60", true, "60", 60},
		{"pipe, COLUMNS=80", false, "80", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newShell(t)
			c.env["NO_COLOR"] = "1"
			if _, stderr, code := c.run(append([]string{"submit", "--name", "train", "--"}, strings.Fields(long)...)...); code != 0 {
				t.Fatalf("submit: exit %d: %s", code, stderr)
			}
			c.tty, c.env["COLUMNS"] = tc.tty, tc.columns
			out, stderr, code := c.run("jobs")
			if code != 0 {
				t.Fatalf("jobs: exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "1 ") {
				t.Fatalf("jobs: %q; want a header and job 1", out)
			}
			for _, l := range lines {
				if tc.maxWidth > 0 && utf8.RuneCountInString(l) > tc.maxWidth {
					t.Errorf("line of %d columns on a %d-column terminal: %q", utf8.RuneCountInString(l), tc.maxWidth, l)
				}
			}
			if tc.maxWidth == 0 && !strings.Contains(out, long) {
				t.Errorf("a pipe cut the command: %q", out)
			}
		})
	}
}
