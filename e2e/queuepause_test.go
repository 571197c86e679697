package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// runner pause holds the whole queue against a live daemon: a running job
// goes on, a new one stays queued with "queue paused" as its reason and in
// status; runner resume starts it.
func TestPauseAndResumeTheQueue(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1", "--sample-interval", "200ms")
	gate := filepath.Join(t.TempDir(), "go")
	running := h.submit("sh", "-c", "while [ ! -e "+gate+" ]; do sleep 0.05; done")
	h.waitJob(running, ledger.JobRunning)
	if out, code := h.run("pause"); code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("pause: exit %d %q", code, out)
	}
	queued := h.submit("true")
	time.Sleep(time.Second) // several plans and samples
	if j := h.job(queued); j.State != ledger.JobQueued {
		t.Fatalf("a job submitted to a paused queue is %s", j.State)
	}
	if out, _ := h.run("jobs"); !strings.Contains(out, "queue paused") {
		t.Errorf("jobs does not say the queue is paused:\n%s", out)
	}
	if out, _ := h.run("status"); !strings.Contains(out, "queue paused") {
		t.Errorf("status does not say the queue is paused:\n%s", out)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitJob(running, ledger.JobSucceeded) // running jobs go on
	if j := h.job(queued); j.State != ledger.JobQueued {
		t.Fatalf("after the running job ended, the paused queue started job %d (%s)", queued, j.State)
	}
	if out, code := h.run("resume"); code != 0 || !strings.Contains(out, "resumed") {
		t.Fatalf("resume: exit %d %q", code, out)
	}
	h.waitJob(queued, ledger.JobSucceeded)
}
