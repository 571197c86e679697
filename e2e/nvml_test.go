package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/fakenvml"
	"github.com/runnerhq/runner/ledger"
)

// The daemon on "the driver" (the stand-in libnvidia-ml.so.1 found through
// LD_LIBRARY_PATH, as the real one is found through the loader's path):
// jobs land on NVML's GPUs by UUID, and a GPU that falls off the bus while
// a job runs is never given to the next job.
func TestDaemonOnNVMLNeverPlacesAJobOnALostGPU(t *testing.T) {
	libDir, _ := fakenvml.Build(t)
	cfg := filepath.Join(t.TempDir(), "gpus")
	gpus := []fakenvml.GPU{
		{UUID: "GPU-11111111-aaaa", Name: "NVIDIA H100", Total: 80 << 30, Util: 5, PowerMW: 70000},
		{UUID: "GPU-22222222-bbbb", Name: "NVIDIA H100", Total: 80 << 30, Util: 5, PowerMW: 70000},
	}
	if err := (fakenvml.Config{GPUs: gpus}).Write(cfg); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "LD_LIBRARY_PATH="+libDir, fakenvml.ConfigEnv+"="+cfg)
	h.startDaemon("--gpus", "nvml", "--sample-interval", "200ms")
	gate := filepath.Join(t.TempDir(), "go")

	first := h.submit("--gpus", "1", "sh", "-c", "while [ ! -e "+gate+" ]; do sleep 0.05; done")
	j := h.waitJob(first, ledger.JobRunning)
	if len(j.GPUUUIDs) != 1 || !slices.ContainsFunc(gpus, func(g fakenvml.GPU) bool { return g.UUID == j.GPUUUIDs[0] }) {
		t.Fatalf("job on NVML GPUs got %v; want one of the driver's UUIDs", j.GPUUUIDs)
	}
	held := j.GPUUUIDs[0]
	// The other GPU falls off the bus.
	lost := slices.IndexFunc(gpus, func(g fakenvml.GPU) bool { return g.UUID != held })
	gpus[lost].Lost = true
	if err := (fakenvml.Config{GPUs: gpus}).Write(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // a few GPU samples
	second := h.submit("--gpus", "1", "true")
	time.Sleep(time.Second)
	if s := h.job(second); s.State != ledger.JobQueued {
		t.Fatalf("a 1-GPU job with the only free GPU lost is %s on %v; want it queued", s.State, s.GPUUUIDs)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitJob(first, ledger.JobSucceeded)
	s := h.waitJob(second, ledger.JobSucceeded)
	if !slices.Equal(s.GPUUUIDs, []string{held}) {
		t.Errorf("second job ran on %v; want the healthy %s, never the lost %s", s.GPUUUIDs, held, gpus[lost].UUID)
	}
	log, _ := os.ReadFile(h.stderr.Name())
	if !strings.Contains(string(log), "GPU left out of the inventory") {
		t.Errorf("daemon log does not say it left the lost GPU out")
	}
}

// A driver updated without a reboot (library and kernel module of
// different versions): the daemon runs, CPU jobs run, and a GPU job waits
// with the driver's own words as its reason.
func TestDaemonWithADriverVersionMismatchSaysSo(t *testing.T) {
	libDir, _ := fakenvml.Build(t)
	cfg := filepath.Join(t.TempDir(), "gpus")
	if err := (fakenvml.Config{Init: fakenvml.ErrorLibRMVersionMismatch}).Write(cfg); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "LD_LIBRARY_PATH="+libDir, fakenvml.ConfigEnv+"="+cfg)
	h.startDaemon("--sample-interval", "200ms")
	cpu := h.submit("true")
	gpu := h.submit("--gpus", "1", "true")
	h.waitJob(cpu, ledger.JobSucceeded)
	h.eventually(10*time.Second, "the GPU job's reason", func() bool { return h.job(gpu).Reason != "" })
	if j := h.job(gpu); j.State != ledger.JobQueued || !strings.Contains(j.Reason, "version mismatch") || !strings.Contains(j.Reason, "without a reboot") {
		t.Errorf("GPU job with a mismatched driver: %s %q; want queued, the reason naming the version mismatch", j.State, j.Reason)
	}
}

// doctor beside a running daemon reports the GPUs the daemon schedules on
// (here fake ones), not what doctor itself would find without a driver;
// an explicit --gpus is checked as given.
func TestDoctorReportsTheDaemonsGPUs(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:2", "--sample-interval", "200ms")
	var out string
	h.eventually(10*time.Second, "doctor's GPU line from the daemon", func() bool {
		out, _ = h.run("doctor")
		return strings.Contains(out, "2 GPUs (fake, as the running daemon sees them")
	})
	if out, _ := h.run("doctor", "--gpus", "none"); strings.Contains(out, "as the running daemon sees them") {
		t.Errorf("doctor --gpus none reported the daemon's GPUs:\n%s", out)
	}
}
