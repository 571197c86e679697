//go:build cgo

package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// mockGPU scripts one device; a zero Return means SUCCESS.
type mockGPU struct {
	uuid        string
	handleRet   nvml.Return
	memRet      nvml.Return
	total, used uint64
	utilRet     nvml.Return
	util        uint32
	powerRet    nvml.Return
	milliwatts  uint32
	energyRet   nvml.Return
	millijoules uint64
	procsRet    nvml.Return
	procs       []nvml.ProcessInfo
}

// newMockLib builds a mock NVML library. Funcs left nil panic when called,
// so a test that leaves out a symbol also proves the inventory never calls
// it. missing lists symbols LookupSymbol reports as absent.
func newMockLib(initRet nvml.Return, gpus []mockGPU, missing ...string) *mock.Interface {
	lib := &mock.Interface{
		InitFunc:     func() nvml.Return { return initRet },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(s string) error {
				for _, m := range missing {
					if m == s {
						return fmt.Errorf("symbol %s not found", s)
					}
				}
				return nil
			}}
		},
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(gpus), nvml.SUCCESS },
	}
	lib.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		g := gpus[i]
		if g.handleRet != nvml.SUCCESS {
			return nil, g.handleRet
		}
		return &mock.Device{
			GetUUIDFunc: func() (string, nvml.Return) { return g.uuid, nvml.SUCCESS },
			GetNameFunc: func() (string, nvml.Return) { return "Mock H100", nvml.SUCCESS },
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				return nvml.Memory{Total: g.total, Used: g.used, Free: g.total - g.used}, g.memRet
			},
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
				return nvml.Utilization{Gpu: g.util}, g.utilRet
			},
			GetPowerUsageFunc:              func() (uint32, nvml.Return) { return g.milliwatts, g.powerRet },
			GetTotalEnergyConsumptionFunc:  func() (uint64, nvml.Return) { return g.millijoules, g.energyRet },
			GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) { return g.procs, g.procsRet },
		}, nvml.SUCCESS
	}
	return lib
}

func TestNVMLInitFailureCallsNothingElse(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_LIB_RM_VERSION_MISMATCH} {
		t.Run(nvml.ErrorString(ret), func(t *testing.T) {
			// Only InitFunc is set: any other call would panic, as the
			// real library would kill the process.
			lib := &mock.Interface{InitFunc: func() nvml.Return { return ret }}
			_, err := newNVMLInventory(lib, slog.New(slog.DiscardHandler))
			if !errors.Is(err, ErrNoDriver) {
				t.Fatalf("err = %v, want ErrNoDriver", err)
			}
			if len(lib.InitCalls()) != 1 {
				t.Fatalf("Init called %d times", len(lib.InitCalls()))
			}
		})
	}
}

func TestNVMLRefusesDriverWithoutRequiredSymbol(t *testing.T) {
	lib := newMockLib(nvml.SUCCESS, nil, "nvmlDeviceGetUUID")
	_, err := newNVMLInventory(lib, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("err = %v, want ErrNoDriver", err)
	}
	if len(lib.DeviceGetCountCalls()) != 0 {
		t.Fatal("device calls made on a library missing a required symbol")
	}
	if len(lib.ShutdownCalls()) != 1 {
		t.Fatal("NVML not shut down after refusing it")
	}
}

func TestNVMLDevices(t *testing.T) {
	const gib = 1 << 30
	full := mockGPU{
		uuid: "GPU-aaaa", total: 80 * gib, used: 2 * gib, util: 37, milliwatts: 250500, millijoules: 1234567,
		procs: []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: gib}, {Pid: 4343, UsedGpuMemory: ^uint64(0)}},
	}
	unsupported := mockGPU{
		uuid: "GPU-bbbb", total: 40 * gib,
		utilRet: nvml.ERROR_NOT_SUPPORTED, powerRet: nvml.ERROR_NOT_SUPPORTED,
		energyRet: nvml.ERROR_FUNCTION_NOT_FOUND, procsRet: nvml.ERROR_NO_PERMISSION,
	}
	lost := mockGPU{uuid: "GPU-lost", handleRet: nvml.ERROR_GPU_IS_LOST}
	noMem := mockGPU{uuid: "GPU-nomem", memRet: nvml.ERROR_UNKNOWN}

	inv, err := newNVMLInventory(newMockLib(nvml.SUCCESS, []mockGPU{full, unsupported, lost, noMem}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := inv.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("got %d devices, want the 2 readable ones: %+v", len(devs), devs)
	}
	a, b := devs[0], devs[1]
	if a.Index != 0 || a.UUID != "GPU-aaaa" || a.Name != "Mock H100" || a.MemTotal != 80*gib || a.MemUsed != 2*gib {
		t.Errorf("GPU 0 = %+v", a)
	}
	if a.Util == nil || *a.Util != 37 {
		t.Errorf("GPU 0 util = %v, want 37", a.Util)
	}
	if a.Power == nil || *a.Power != 250.5 {
		t.Errorf("GPU 0 power = %v, want 250.5 W", a.Power)
	}
	if a.Energy == nil || *a.Energy != 1234.567 {
		t.Errorf("GPU 0 energy = %v, want 1234.567 J", a.Energy)
	}
	if len(a.Procs) != 2 || a.Procs[0].PID != 4242 || a.Procs[0].UsedMem == nil || *a.Procs[0].UsedMem != gib {
		t.Errorf("GPU 0 procs = %+v", a.Procs)
	}
	if len(a.Procs) == 2 && a.Procs[1].UsedMem != nil {
		t.Errorf("process memory reported as not available should be unknown, got %d", *a.Procs[1].UsedMem)
	}
	if b.Index != 1 || b.Util != nil || b.Power != nil || b.Energy != nil || b.Procs != nil {
		t.Errorf("unsupported metrics should be unknown: %+v", b)
	}
}

func TestNVMLSkipsCallsTheDriverLacks(t *testing.T) {
	lib := newMockLib(nvml.SUCCESS, []mockGPU{{uuid: "GPU-old", total: 1 << 30}},
		"nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage")
	inv, err := newNVMLInventory(lib, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := inv.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Energy != nil || devs[0].Power != nil || devs[0].Util == nil {
		t.Fatalf("devices = %+v, want energy and power unknown, utilisation known", devs)
	}
	h, _ := lib.DeviceGetHandleByIndex(0)
	if n := len(h.(*mock.Device).GetTotalEnergyConsumptionCalls()); n != 0 {
		t.Fatalf("energy read %d times on a driver without the symbol", n)
	}
}

func TestNVMLCloseShutsDownOnce(t *testing.T) {
	lib := newMockLib(nvml.SUCCESS, []mockGPU{{uuid: "GPU-a", total: 1 << 30}})
	inv, err := newNVMLInventory(lib, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(lib.ShutdownCalls()); n != 1 {
		t.Fatalf("Shutdown called %d times, want 1", n)
	}
	if _, err := inv.Devices(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Devices after Close: err = %v, want ErrClosed", err)
	}
	if n := len(lib.DeviceGetCountCalls()); n != 0 {
		t.Fatalf("NVML called %d times after Shutdown", n)
	}
}

func TestNVMLDeviceCountFailure(t *testing.T) {
	lib := newMockLib(nvml.SUCCESS, nil)
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	inv, err := newNVMLInventory(lib, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Devices(context.Background()); err == nil {
		t.Fatal("a failed device count should be an error, not zero GPUs")
	}
}
