// Package jobs holds the GPU side of runner's job queue: the GPU inventory
// (NVML, fake or none), the placement decision for queued jobs, and the
// detached supervisor that runs one job and records how it ended.
//
// Everything here is free of the ledger: callers pass in what the ledger
// knows (queued and running jobs) and store what comes back.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/runnerhq/runner/internal/units"
)

// Device is one GPU as seen at the moment Devices was called.
type Device struct {
	Index    int
	UUID     string
	Name     string
	MemTotal uint64   // bytes
	MemUsed  uint64   // bytes
	Util     *int     // percent, nil = unknown
	Power    *float64 // watts, nil = unknown
	Energy   *float64 // joules since the driver loaded, nil = unknown
	Procs    []Proc   // compute processes
}

// Proc is a compute process on a GPU. PIDs are host PIDs.
type Proc struct {
	PID     int
	UsedMem *uint64 // bytes, nil = unknown
}

// Inventory lists the GPUs of this machine.
type Inventory interface {
	Devices(ctx context.Context) ([]Device, error)
	Name() string // "nvml", "fake", "none"
	Close() error
}

var (
	// ErrNoDriver means no NVML library or NVIDIA driver could be loaded.
	ErrNoDriver = errors.New("no NVIDIA driver")
	// ErrNoNVMLSupport means the binary was built with CGO_ENABLED=0, so
	// it cannot talk to NVML at all.
	ErrNoNVMLSupport = errors.New("built without NVML support (CGO_ENABLED=0)")
	// ErrBadGPUSpec means the --gpus value is malformed (a usage error).
	ErrBadGPUSpec = errors.New("invalid --gpus value")
	// ErrClosed is returned by Devices after Close.
	ErrClosed = errors.New("GPU inventory is closed")
)

// DefaultFakeMem is the memory of each fake GPU when "fake:N" gives none.
const DefaultFakeMem uint64 = 80 << 30

// NoGPUs is the inventory of a machine where runner uses no GPU. Devices
// returns nil; Reason says why, for "GPU job waits" messages.
type NoGPUs struct {
	reason string
}

// NewNoGPUs returns an empty inventory that explains itself with reason.
func NewNoGPUs(reason string) *NoGPUs { return &NoGPUs{reason: reason} }

// Devices returns no devices.
func (n *NoGPUs) Devices(context.Context) ([]Device, error) { return nil, nil }

// Name returns "none".
func (n *NoGPUs) Name() string { return "none" }

// Close does nothing.
func (n *NoGPUs) Close() error { return nil }

// Reason says why there are no GPUs.
func (n *NoGPUs) Reason() string { return n.reason }

// Reason returns why inv has no devices when it is a NoGPUs inventory, and
// "no devices found" otherwise. Pass it to Plan as the no-GPU reason.
func Reason(inv Inventory) string {
	if r, ok := inv.(interface{ Reason() string }); ok && r.Reason() != "" {
		return r.Reason()
	}
	return "no devices found"
}

// OpenInventory opens the inventory named by a --gpus value:
//
//	auto, ""     NVML when a driver loads, else NoGPUs saying why
//	nvml         NVML, or an error wrapping ErrNoDriver / ErrNoNVMLSupport
//	none         NoGPUs
//	fake:N[:MEM] N fake GPUs of MEM each (default 80GiB)
//
// It never falls back to fake GPUs by itself. A malformed value gives an
// error wrapping ErrBadGPUSpec that names the value.
func OpenInventory(spec string, logger *slog.Logger) (Inventory, error) {
	return openInventory(spec, logger, openNVML)
}

// openInventory takes the NVML opener as a parameter so tests can choose
// what "the driver" does on machines with and without GPUs.
func openInventory(spec string, logger *slog.Logger, nvmlOpen func(*slog.Logger) (Inventory, error)) (Inventory, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch s := strings.TrimSpace(spec); {
	case s == "auto" || s == "":
		inv, err := nvmlOpen(logger)
		if err == nil {
			return inv, nil
		}
		reason := err.Error()
		if !errors.Is(err, ErrNoDriver) && !errors.Is(err, ErrNoNVMLSupport) {
			reason = "NVML failed: " + reason
		}
		// One line at start-up; the reason is repeated on each waiting GPU job.
		logger.Warn("GPU jobs disabled", "reason", reason)
		return NewNoGPUs(reason), nil
	case s == "nvml":
		return nvmlOpen(logger)
	case s == "none":
		return NewNoGPUs("GPUs disabled (--gpus none)"), nil
	case strings.HasPrefix(s, "fake:"):
		parts := strings.Split(strings.TrimPrefix(s, "fake:"), ":")
		if len(parts) > 2 {
			return nil, fmt.Errorf("%w %q: want fake:N or fake:N:MEM", ErrBadGPUSpec, spec)
		}
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("%w %q: N must be a GPU count from 1 to 1024", ErrBadGPUSpec, spec)
		}
		mem := DefaultFakeMem
		if len(parts) == 2 {
			mem, err = units.ParseSize(parts[1])
			if err != nil || mem == 0 {
				return nil, fmt.Errorf("%w %q: memory must be a size like 80GiB", ErrBadGPUSpec, spec)
			}
		}
		return NewFake(n, mem), nil
	default:
		return nil, fmt.Errorf("%w %q: want auto, nvml, none or fake:N[:MEM]", ErrBadGPUSpec, spec)
	}
}
