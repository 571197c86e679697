package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestOpenInventorySpecs(t *testing.T) {
	noDriver := func(*slog.Logger) (Inventory, error) {
		return nil, fmt.Errorf("%w: NVML init: ERROR_LIBRARY_NOT_FOUND", ErrNoDriver)
	}
	noCgo := func(*slog.Logger) (Inventory, error) { return nil, ErrNoNVMLSupport }
	withGPU := func(*slog.Logger) (Inventory, error) { return NewFake(1, 1<<30), nil }
	tests := []struct {
		spec       string
		open       func(*slog.Logger) (Inventory, error)
		wantName   string
		wantDevs   int
		wantMem    uint64
		wantReason string // substring of Reason for "none"
		wantErr    error
	}{
		{"auto", noDriver, "none", 0, 0, "no NVIDIA driver: NVML init: ERROR_LIBRARY_NOT_FOUND", nil},
		{"auto", noCgo, "none", 0, 0, "built without NVML support (CGO_ENABLED=0)", nil},
		{"auto", withGPU, "fake", 1, 1 << 30, "", nil}, // the opener's inventory is used as is
		{"nvml", noDriver, "", 0, 0, "", ErrNoDriver},
		{"nvml", noCgo, "", 0, 0, "", ErrNoNVMLSupport},
		{"none", noDriver, "none", 0, 0, "--gpus none", nil},
		{"fake:4", noDriver, "fake", 4, 80 << 30, "", nil},
		{"fake:2:20GiB", noDriver, "fake", 2, 20 << 30, "", nil},
		{"fake:0", noDriver, "", 0, 0, "", ErrBadGPUSpec},
		{"fake:x", noDriver, "", 0, 0, "", ErrBadGPUSpec},
		{"fake:2:lots", noDriver, "", 0, 0, "", ErrBadGPUSpec},
		{"fake:2:0", noDriver, "", 0, 0, "", ErrBadGPUSpec},
		{"fake:2:1GiB:x", noDriver, "", 0, 0, "", ErrBadGPUSpec},
		{"cuda", noDriver, "", 0, 0, "", ErrBadGPUSpec},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			inv, err := openInventory(tt.spec, nil, tt.open)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if errors.Is(err, ErrBadGPUSpec) && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.spec)) {
					t.Fatalf("error %q does not name the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer inv.Close()
			if inv.Name() != tt.wantName {
				t.Fatalf("Name = %q, want %q", inv.Name(), tt.wantName)
			}
			devs, err := inv.Devices(context.Background())
			if err != nil || len(devs) != tt.wantDevs {
				t.Fatalf("Devices = %d, %v; want %d", len(devs), err, tt.wantDevs)
			}
			for _, d := range devs {
				if d.MemTotal != tt.wantMem || d.MemUsed != 0 || !strings.HasPrefix(d.UUID, "GPU-fake-") {
					t.Fatalf("device %+v, want an idle fake GPU of %d bytes", d, tt.wantMem)
				}
			}
			if tt.wantReason != "" && !strings.Contains(Reason(inv), tt.wantReason) {
				t.Fatalf("Reason = %q, want it to contain %q", Reason(inv), tt.wantReason)
			}
		})
	}
}

// TestOpenInventoryOnThisMachine runs the real driver probe: "auto" must
// work everywhere, as NVML where a driver loads and as none elsewhere.
func TestOpenInventoryOnThisMachine(t *testing.T) {
	inv, err := OpenInventory("auto", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("auto must not fail: %v", err)
	}
	defer inv.Close()
	devs, err := inv.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	switch inv.Name() {
	case "nvml":
		for _, d := range devs {
			if !strings.HasPrefix(d.UUID, "GPU-") || d.MemTotal == 0 {
				t.Errorf("real GPU %+v lacks a UUID or memory size", d)
			}
		}
		t.Logf("NVML: %d GPUs", len(devs))
	case "none":
		r := Reason(inv)
		if !strings.Contains(r, "no NVIDIA driver") && !strings.Contains(r, "CGO_ENABLED=0") && !strings.Contains(r, "NVML failed") {
			t.Fatalf("none inventory without a reason: %q", r)
		}
		if devs != nil {
			t.Fatalf("none inventory listed %d devices", len(devs))
		}
		nv, err := OpenInventory("nvml", nil)
		if err == nil {
			nv.Close()
			t.Fatal(`"nvml" opened where "auto" found no driver`)
		}
	default:
		t.Fatalf("auto gave a %q inventory; it must never fall back to fake", inv.Name())
	}
}

func TestFakeDrivenByTests(t *testing.T) {
	f := NewFake(2, 10<<30)
	f.SetUsed(0, 1<<30)
	f.AddProc(0, 100, 2<<30)
	f.AddProc(0, 100, 3<<30) // same pid replaces
	f.AddProc(1, 200, 1<<30)
	f.SetUtil(1, 90)
	f.SetPower(1, 300)
	f.SetEnergy(1, 5000)
	devs, err := f.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if devs[0].MemUsed != 4<<30 || len(devs[0].Procs) != 1 || *devs[0].Procs[0].UsedMem != 3<<30 {
		t.Fatalf("GPU 0 = %+v, want 1 GiB + one 3 GiB process in use", devs[0])
	}
	if *devs[1].Util != 90 || *devs[1].Power != 300 || *devs[1].Energy != 5000 {
		t.Fatalf("GPU 1 metrics = %d %v %v", *devs[1].Util, *devs[1].Power, *devs[1].Energy)
	}
	// Callers get copies: changing them does not change the fake.
	*devs[1].Util = 1
	devs[0].Procs[0].PID = 999
	f.RemoveProc(0, 100)
	again, _ := f.Devices(context.Background())
	if *again[1].Util != 90 || len(again[0].Procs) != 0 || again[0].MemUsed != 1<<30 {
		t.Fatalf("after RemoveProc: %+v", again)
	}
	if devs[0].UUID == devs[1].UUID {
		t.Fatal("fake GPUs share a UUID")
	}
	f.Close()
	if _, err := f.Devices(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Devices after Close: %v", err)
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake(4, 1<<30)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 200 {
				f.AddProc(i, j, 1)
				f.SetUtil(i, j%100)
				f.RemoveProc(i, j)
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := f.Devices(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
