package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// runner config changes a live daemon's CPU slots and GPUs at its next
// plan: a job waiting for a slot starts as soon as there are two, a GPU
// job gets only the GPU the list names, "none" keeps GPU jobs queued with
// the reason, running jobs go on, and a restart keeps the limits over
// the daemon's own --cpu-slots.
func TestConfigChangesALiveQueue(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:2", "--cpu-slots", "1", "--sample-interval", "200ms")
	gate := filepath.Join(t.TempDir(), "go")
	wait := "while [ ! -e " + gate + " ]; do sleep 0.05; done"
	first := h.submit("sh", "-c", wait)
	h.waitJob(first, ledger.JobRunning)
	second := h.submit("sh", "-c", wait)
	h.eventually(10*time.Second, "the second CPU job waits for a slot", func() bool {
		return strings.Contains(h.job(second).Reason, "waiting for 1 CPU slot")
	})
	if out, code := h.run("config", "set", "cpu-slots", "2"); code != 0 || !strings.Contains(out, "cpu-slots: 2") {
		t.Fatalf("config set cpu-slots 2: exit %d %q", code, out)
	}
	h.waitJob(second, ledger.JobRunning)

	var gpus []struct {
		Index int    `json:"index"`
		UUID  string `json:"uuid"`
	}
	if err := json.Unmarshal([]byte(h.runOK("gpus", "--json")), &gpus); err != nil || len(gpus) != 2 {
		t.Fatalf("gpus --json: %v %+v", err, gpus)
	}
	h.runOK("config", "set", "gpus", "1")
	onOne := h.submit("--gpus", "1", "--cpus", "0", "sh", "-c", wait)
	if j := h.waitJob(onOne, ledger.JobRunning); len(j.GPUUUIDs) != 1 || j.GPUUUIDs[0] != gpus[1].UUID {
		t.Errorf("with gpus 1 the job got %v; want GPU 1 (%s)", j.GPUUUIDs, gpus[1].UUID)
	}
	h.runOK("config", "set", "gpus", "none")
	none := h.submit("--gpus", "1", "--cpus", "0", "true")
	h.eventually(10*time.Second, "a GPU job waits while no GPU is given to jobs", func() bool {
		return strings.Contains(h.job(none).Reason, "no GPU is given to jobs")
	})
	if j := h.job(onOne); j.State != ledger.JobRunning {
		t.Errorf("the job on GPU 1 is %s after gpus none; running jobs go on", j.State)
	}
	if out := h.runOK("status"); !strings.Contains(out, "limits:   cpu-slots 2, gpus none") {
		t.Errorf("status does not show the limits:\n%s", out)
	}

	// A restart with --cpu-slots 1 keeps runner config's 2.
	h.stopDaemon()
	h.startDaemon("--gpus", "fake:2", "--cpu-slots", "1", "--sample-interval", "200ms")
	h.runOK("config", "unset", "gpus")
	h.waitJob(none, ledger.JobSucceeded)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{first, second, onOne} {
		h.waitJob(id, ledger.JobSucceeded)
	}
	gate2 := gate + "2"
	wait2 := "while [ ! -e " + gate2 + " ]; do sleep 0.05; done"
	a, b := h.submit("sh", "-c", wait2), h.submit("sh", "-c", wait2)
	h.waitJob(a, ledger.JobRunning)
	h.waitJob(b, ledger.JobRunning) // two at once: cpu-slots 2 over --cpu-slots 1
	if err := os.WriteFile(gate2, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitJob(b, ledger.JobSucceeded)
}
