// Package kit holds what the bench commands share: building runner and
// the fake wandb CLI, laying out run trees, running runner commands, and
// reading a process's CPU time and memory from /proc.
package kit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// Build builds runner and the fake wandb CLI into dir (run from the module
// root) and returns their paths.
func Build(ctx context.Context, dir string) (runner, wandb string, err error) {
	for pkg, name := range map[string]string{".": "runner", "./testdata/fakewandb": "wandb"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), pkg)
		// go-nvml's cgo prologue warns about deprecated NVML calls: noise.
		cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("build %s (run from the module root): %w", pkg, err)
		}
	}
	return filepath.Join(dir, "runner"), filepath.Join(dir, "wandb"), nil
}

// Status is the part of `runner status --json` the benches read.
type Status struct {
	Runs map[string]int `json:"runs"`
}

// LayTree writes n finished runs, long quiet; all but uploads have a marker.
func LayTree(root string, n, uploads int) error {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("i%07d", i)
		dir := filepath.Join(root, fmt.Sprintf("proj-%03d", i/100), "wandb", fmt.Sprintf("offline-run-20250101_%06d-%s", i%100, id))
		if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
			return err
		}
		logPath := filepath.Join(dir, "run-"+id+".wandb")
		w, err := wandbtest.Create(logPath, wandbtest.Options{})
		if err != nil {
			return err
		}
		_ = w.Header(0)
		_ = w.Run(wandbtest.Run{ID: id, Project: fmt.Sprintf("proj-%03d", i/100), StartTime: start.Add(time.Duration(i) * time.Second), CLIVersion: "0.23.0"})
		for s := range 3 {
			_ = w.Row(int64(s), float64(s), start, map[string]float64{"train/loss": 1 / float64(s+1)})
		}
		_ = w.Exit(0, 10)
		if err := w.Close(); err != nil {
			return err
		}
		if i >= uploads {
			if err := os.WriteFile(logPath+".synced", nil, 0o644); err != nil {
				return err
			}
		}
		if err := os.Chtimes(logPath, start, start); err != nil {
			return err
		}
	}
	return nil
}

// ReadStatus runs `runner status --json`.
func ReadStatus(ctx context.Context, runner string, env []string) (Status, error) {
	out, _ := Command(ctx, env, runner, "status", "--json") // exit 1 while uploads are paused or the daemon starts
	var st Status
	err := json.Unmarshal(out, &st)
	return st, err
}

// Command runs name with env and returns its stdout (stdout and stderr on failure).
func Command(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// WaitFor polls done every 200 ms until it says true, limit passes or ctx ends.
func WaitFor(ctx context.Context, limit time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CPUTicks is utime+stime of pid in clock ticks (/proc/PID/stat fields 14, 15).
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return u + s, nil
}

// RSSBytes is VmRSS of pid.
func RSSBytes(pid int) (int64, error) { return statusBytes(pid, "VmRSS") }

// PeakRSSBytes is VmHWM of pid: the most RSS it has held.
func PeakRSSBytes(pid int) (int64, error) { return statusBytes(pid, "VmHWM") }

// statusBytes is /proc/PID/status's field (a size in kB) in bytes.
func statusBytes(pid int, field string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// StartDaemon starts `runner daemon ARGS...` with env, its output in
// logPath; stop sends SIGTERM and waits for it.
func StartDaemon(runner string, env []string, logPath string, args ...string) (cmd *exec.Cmd, stop func(), err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd = exec.Command(runner, append([]string{"daemon"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	return cmd, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
	}, nil
}
