package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// A job followed or waited for to its end says how it ended and passes its
// exit code on: `runner logs -f` of a job that exited 7 exits 7, like wait.
func TestFollowedJobSaysHowItEnded(t *testing.T) {
	c := newShell(t)
	if _, _, code := c.run("submit", "--", "train.py"); code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	if _, _, code := c.run("submit", "--", "eval.py"); code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	ctx := context.Background()
	db, err := ledger.Open(ctx, c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seven, zero := 7, 0
	for id, exit := range map[int64]*int{1: &seven, 2: &zero} {
		log := filepath.Join(t.TempDir(), "job.log")
		if err := os.WriteFile(log, []byte("epoch 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.StartJob(ctx, id, ledger.JobStart{LogPath: log}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.EndJob(ctx, id, ledger.JobEnd{ExitCode: exit}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"logs", "-f", "1"}, 7, "job 1 failed (exit 7)"},
		{[]string{"logs", "-f", "2"}, 0, "job 2 succeeded (exit 0)"},
		{[]string{"wait", "1"}, 7, "job 1 failed (exit 7)"},
		{[]string{"wait", "2", "1"}, 7, "job 2 succeeded (exit 0)"},
	} {
		out, stderr, code := c.run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.says)
		}
		if tc.args[0] == "logs" && !strings.Contains(out, "epoch 1") {
			t.Errorf("%v: stdout %q, want the log", tc.args, out)
		}
	}
	// Without -f the log is printed and the command succeeds: it followed nothing.
	if _, stderr, code := c.run("logs", "1"); code != 0 || stderr != "" {
		t.Errorf("logs 1: exit %d %q; want 0 and nothing on stderr", code, stderr)
	}
}
