package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
