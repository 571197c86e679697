//go:build cgo

package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/runnerhq/runner/internal/fakenvml"
)

// The inventory through the real go-nvml binding (dlopen, cgo calls) against
// a stand-in libnvidia-ml.so.1: what CI can check of the driver path
// without a GPU. One library per process: the dynamic loader binds each
// NVML symbol once, so every case here uses the same build.
func TestNVMLInventoryThroughTheRealBinding(t *testing.T) {
	_, lib := fakenvml.Build(t)
	cfgPath := filepath.Join(t.TempDir(), "gpus")
	t.Setenv(fakenvml.ConfigEnv, cfgPath)
	write := func(c fakenvml.Config) {
		t.Helper()
		if err := c.Write(cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	gpus := []fakenvml.GPU{
		{UUID: "GPU-aaaa", Name: "NVIDIA H100 80GB HBM3", Total: 80 << 30, Used: 1 << 30, Util: 37, PowerMW: 250500,
			EnergyMJ: 9_000_000, Procs: []fakenvml.Proc{{PID: 4242, Used: 1 << 30}, {PID: 4343, Used: 2 << 20}, {PID: 4444, Used: 3}}},
		{UUID: "GPU-bbbb", Name: "NVIDIA A10", Total: 24 << 30},
	}
	write(fakenvml.Config{GPUs: gpus})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	open := func() (*nvmlInventory, error) { return newNVMLInventory(nvml.New(nvml.WithLibraryPath(lib)), logger) }

	inv, err := open()
	if err != nil {
		t.Fatalf("open the stand-in library: %v", err)
	}
	ctx := context.Background()
	devs, err := inv.Devices(ctx)
	if err != nil || len(devs) != 2 {
		t.Fatalf("Devices: %v, %d devices; want 2", err, len(devs))
	}
	a, b := devs[0], devs[1]
	if a.UUID != "GPU-aaaa" || a.Name != "NVIDIA H100 80GB HBM3" || a.MemTotal != 80<<30 || a.MemUsed != 1<<30 {
		t.Errorf("GPU 0: %+v", a)
	}
	if a.Util == nil || *a.Util != 37 || a.Power == nil || *a.Power != 250.5 || a.Energy == nil || *a.Energy != 9000 {
		t.Errorf("GPU 0 telemetry: util %v power %v energy %v; want 37 %%, 250.5 W, 9000 J", a.Util, a.Power, a.Energy)
	}
	// Three processes: more than go-nvml's first buffer, so the
	// INSUFFICIENT_SIZE retry runs too.
	if len(a.Procs) != 3 || a.Procs[0].PID != 4242 || a.Procs[0].UsedMem == nil || *a.Procs[0].UsedMem != 1<<30 || a.Procs[2].PID != 4444 {
		t.Errorf("GPU 0 processes: %+v", a.Procs)
	}
	// A GPU without power and energy sensors: unknown, not zero.
	if b.UUID != "GPU-bbbb" || b.Power != nil || b.Energy != nil || len(b.Procs) != 0 {
		t.Errorf("GPU 1: %+v (power %v energy %v)", b, b.Power, b.Energy)
	}

	// A GPU falls off the bus while the daemon runs: it leaves the
	// inventory (nothing is placed on it) with a warning; the other stays.
	gpus[0].Lost = true
	write(fakenvml.Config{GPUs: gpus})
	devs, err = inv.Devices(ctx)
	if err != nil || len(devs) != 1 || devs[0].UUID != "GPU-bbbb" {
		t.Fatalf("Devices with GPU 0 lost: %v, %+v; want only GPU-bbbb", err, devs)
	}
	if !strings.Contains(logs.String(), "GPU left out of the inventory") || !strings.Contains(logs.String(), "GPU is lost") {
		t.Errorf("no warning naming the lost GPU:\n%s", logs.String())
	}
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Devices(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Devices after Close: %v, want ErrClosed", err)
	}

	// Driver and library from different versions (after a driver update
	// without a reboot): no GPUs, and the reason says why.
	write(fakenvml.Config{Init: fakenvml.ErrorLibRMVersionMismatch, GPUs: gpus})
	if _, err := open(); !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "version mismatch") {
		t.Errorf("open with a version mismatch: %v; want ErrNoDriver naming the mismatch", err)
	}
	// No library at that path at all.
	if _, err := newNVMLInventory(nvml.New(nvml.WithLibraryPath(filepath.Join(t.TempDir(), fakenvml.LibName))), logger); !errors.Is(err, ErrNoDriver) {
		t.Errorf("open a missing library: %v, want ErrNoDriver", err)
	}

	// Working again after the reboot: the same handle opens and reads.
	gpus[0].Lost = false
	write(fakenvml.Config{GPUs: gpus})
	inv, err = open()
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer inv.Close()
	if devs, err := inv.Devices(ctx); err != nil || len(devs) != 2 {
		t.Errorf("Devices after reopening: %v, %d devices", err, len(devs))
	}
}
