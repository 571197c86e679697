//go:build cgo

package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlLib is the part of nvml.Interface the inventory uses; both the real
// library and go-nvml's mock.Interface satisfy it.
type nvmlLib interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	Extensions() nvml.ExtendedInterface
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return)
}

// nvmlInventory reads GPUs through NVML.
type nvmlInventory struct {
	logger *slog.Logger

	mu     sync.Mutex // guards closed and serialises calls with Shutdown
	lib    nvmlLib
	closed bool

	// Optional calls, enabled only when the driver exports the symbol.
	hasName, hasUtil, hasPower, hasEnergy, hasProcs bool
}

// openNVML loads the NVIDIA driver's NVML library.
func openNVML(logger *slog.Logger) (Inventory, error) {
	return newNVMLInventory(nvml.New(), logger)
}

// newNVMLInventory initialises lib. Nothing but Init may be called before
// Init has succeeded: any other call on an unloaded library ends the
// process with "symbol lookup error".
func newNVMLInventory(lib nvmlLib, logger *slog.Logger) (*nvmlInventory, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIB_RM_VERSION_MISMATCH {
			// The usual cause, said where the user will look (a job's reason).
			return nil, fmt.Errorf("%w: NVML init: %s (the driver was updated without a reboot or module reload?)", ErrNoDriver, nvml.ErrorString(ret))
		}
		return nil, fmt.Errorf("%w: NVML init: %s", ErrNoDriver, nvml.ErrorString(ret))
	}
	ext := lib.Extensions()
	has := func(names ...string) bool {
		for _, n := range names {
			if ext.LookupSymbol(n) == nil {
				return true
			}
		}
		return false
	}
	// Symbols the inventory cannot work without. Calling a symbol the
	// driver lacks kills the process (no Go panic), so they are checked first.
	for _, sym := range []string{"nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo"} {
		if !has(sym) {
			lib.Shutdown()
			return nil, fmt.Errorf("%w: NVML library lacks %s (driver too old?)", ErrNoDriver, sym)
		}
	}
	inv := &nvmlInventory{
		logger:    logger,
		lib:       lib,
		hasName:   has("nvmlDeviceGetName"),
		hasUtil:   has("nvmlDeviceGetUtilizationRates"),
		hasPower:  has("nvmlDeviceGetPowerUsage"),
		hasEnergy: has("nvmlDeviceGetTotalEnergyConsumption"),
		hasProcs: has("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
			"nvmlDeviceGetComputeRunningProcesses"),
	}
	return inv, nil
}

func (n *nvmlInventory) Name() string { return "nvml" }

// Close shuts NVML down; later Devices calls return ErrClosed instead of
// touching the unloaded library.
func (n *nvmlInventory) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML shutdown: %s", nvml.ErrorString(ret))
	}
	return nil
}

// Devices lists every GPU NVML reports. A metric the GPU or driver does
// not support is left nil. A GPU whose identity or memory cannot be read
// (for example "GPU is lost") is left out with a warning, so nothing is
// ever placed on it.
func (n *nvmlInventory) Devices(ctx context.Context) ([]Device, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("NVML device count: %s", nvml.ErrorString(ret))
	}
	devs := make([]Device, 0, count)
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := n.device(i)
		if err != nil {
			n.logger.Warn("GPU left out of the inventory", "index", i, "err", err)
			continue
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func (n *nvmlInventory) device(i int) (Device, error) {
	h, ret := n.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU %d handle: %s", i, nvml.ErrorString(ret))
	}
	d := Device{Index: i}
	if d.UUID, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU %d UUID: %s", i, nvml.ErrorString(ret))
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU %d memory: %s", i, nvml.ErrorString(ret))
	}
	d.MemTotal, d.MemUsed = mem.Total, mem.Used
	if n.hasName {
		if name, ret := h.GetName(); n.ok(ret, i, "name") {
			d.Name = name
		}
	}
	if n.hasUtil {
		// Not supported on MIG-enabled GPUs: stays unknown there.
		if u, ret := h.GetUtilizationRates(); n.ok(ret, i, "utilization") {
			v := int(u.Gpu)
			d.Util = &v
		}
	}
	if n.hasPower {
		if mw, ret := h.GetPowerUsage(); n.ok(ret, i, "power") {
			w := float64(mw) / 1000
			d.Power = &w
		}
	}
	if n.hasEnergy {
		if mj, ret := h.GetTotalEnergyConsumption(); n.ok(ret, i, "energy") {
			j := float64(mj) / 1000
			d.Energy = &j
		}
	}
	if n.hasProcs {
		if ps, ret := h.GetComputeRunningProcesses(); n.ok(ret, i, "processes") {
			for _, p := range ps {
				proc := Proc{PID: int(p.Pid)}
				// NVML reports "not available" (VALUE_NOT_AVAILABLE, -1) as
				// all ones, e.g. without permission or under some drivers.
				if p.UsedGpuMemory != ^uint64(0) {
					m := p.UsedGpuMemory
					proc.UsedMem = &m
				}
				d.Procs = append(d.Procs, proc)
			}
		}
	}
	return d, nil
}

// ok reports whether an optional metric was read. Unsupported metrics are
// expected and stay silent; other failures are worth a debug line.
func (n *nvmlInventory) ok(ret nvml.Return, index int, what string) bool {
	switch {
	case ret == nvml.SUCCESS:
		return true
	case ret == nvml.ERROR_NOT_SUPPORTED, ret == nvml.ERROR_FUNCTION_NOT_FOUND, ret == nvml.ERROR_NO_PERMISSION:
		return false
	default:
		n.logger.Debug("GPU metric unavailable", "index", index, "metric", what, "err", nvml.ErrorString(ret))
		return false
	}
}
