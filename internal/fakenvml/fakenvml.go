// Package fakenvml builds a stand-in for the NVIDIA driver's NVML library
// (libnvidia-ml.so.1) for tests, so the real go-nvml binding and its cgo
// path run in CI without a GPU. The library answers the calls the GPU
// inventory makes (init, shutdown, count, handle by index, UUID, name,
// memory, utilisation, power, energy, running processes, error strings)
// from a text file that it reads again on each init and device count: a
// test rewrites the file to change the GPUs while a daemon runs.
//
// The file's lines (see Config.Write):
//
//	init RET                                   nvmlInit's return (18: driver/library version mismatch)
//	gpu UUID TOTAL USED UTIL MW MJ STATE NAME  one GPU; STATE ok or lost (every call on it: GPU_IS_LOST)
//	proc INDEX PID USED                        a process on GPU INDEX
package fakenvml

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed testdata/fakenvml.c
var source []byte

// ConfigEnv names the file the library reads.
const ConfigEnv = "FAKE_NVML_CONFIG"

// LibName is the name go-nvml opens (through the dynamic loader's search
// path, so LD_LIBRARY_PATH finds the stand-in).
const LibName = "libnvidia-ml.so.1"

// NVML return codes the tests script.
const (
	Success                   = 0
	ErrorDriverNotLoaded      = 9
	ErrorGPUIsLost            = 15
	ErrorLibRMVersionMismatch = 18
)

// GPU is one device. PowerMW or EnergyMJ 0 reads as "not supported".
type GPU struct {
	UUID, Name  string
	Total, Used uint64
	Util        uint32
	PowerMW     uint32
	EnergyMJ    uint64
	Lost        bool
	Procs       []Proc
}

// Proc is a process using a GPU.
type Proc struct {
	PID  int
	Used uint64
}

// Config is what the library reports.
type Config struct {
	Init int // nvmlInit's return
	GPUs []GPU
}

// Build compiles the library into a new temp dir and returns that dir (for
// LD_LIBRARY_PATH) and the library's path. It needs a C compiler ($CC, else
// gcc), as the go-nvml binding itself does.
func Build(tb testing.TB) (dir, lib string) {
	tb.Helper()
	dir = tb.TempDir()
	src := filepath.Join(dir, "fakenvml.c")
	if err := os.WriteFile(src, source, 0o600); err != nil {
		tb.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	lib = filepath.Join(dir, LibName)
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib, src).CombinedOutput()
	if err != nil {
		tb.Fatalf("build the stand-in NVML library with %s: %v\n%s", cc, err, out)
	}
	return dir, lib
}

// Write writes c to path in one rename, so the library never reads half.
func (c Config) Write(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "init %d\n", c.Init)
	for _, g := range c.GPUs {
		state := "ok"
		if g.Lost {
			state = "lost"
		}
		fmt.Fprintf(&b, "gpu %s %d %d %d %d %d %s %s\n", g.UUID, g.Total, g.Used, g.Util, g.PowerMW, g.EnergyMJ, state, g.Name)
	}
	for i, g := range c.GPUs {
		for _, p := range g.Procs {
			fmt.Fprintf(&b, "proc %d %d %d\n", i, p.PID, p.Used)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
