package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// fakeSystemdRun is a systemd-run that records its arguments (one per line,
// a blank line after each call) and starts the command after "--" detached,
// as systemd would start the transient service.
const fakeSystemdRun = `#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done >> "$FAKE_SYSTEMD_RUN_LOG"
echo >> "$FAKE_SYSTEMD_RUN_LOG"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
setsid "$@" </dev/null >/dev/null 2>&1 &
`

func systemdRunCalls(t *testing.T, log string) [][]string {
	t.Helper()
	var calls [][]string
	for _, c := range strings.Split(strings.TrimSuffix(readAll(t, log), "\n\n"), "\n\n") {
		if c != "" {
			calls = append(calls, strings.Split(c, "\n"))
		}
	}
	return calls
}

// Under --job-units systemd every job (and every retry) starts through
// systemd-run as its own transient service, with --mem as MemoryMax=; the
// supervisor gets its spec from a file it removes.
func TestJobsStartAsSystemdUnits(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemd-run"), []byte(fakeSystemdRun), 0o755); err != nil {
		t.Fatal(err)
	}
	callLog := filepath.Join(t.TempDir(), "systemd-run.log")
	h := newHarness(t, "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_SYSTEMD_RUN_LOG="+callLog)

	// Without units, --mem is refused at submit (exit 2, saying why).
	h.startDaemon("--gpus", "fake:1", "--job-units", "off")
	_, errOut, code, _ := h.command(nil, 30*time.Second, "submit", "--mem", "1GiB", "--", "true")
	if code != 2 || !strings.Contains(errOut, "--mem needs jobs started as systemd units") {
		t.Fatalf("submit --mem without units: exit %d, %q", code, errOut)
	}
	h.stopDaemon()

	h.startDaemon("--gpus", "fake:1", "--job-units", "systemd")
	id := h.submit("--mem", "1GiB", "--name", "train", "--", "sh", "-c", "echo in-unit")
	j := h.waitJob(id, ledger.JobSucceeded)
	if out := readAll(t, j.LogPath); out != "in-unit\n" {
		t.Errorf("job output %q", out)
	}
	sid := strconv.FormatInt(id, 10)
	spec := filepath.Join(filepath.Dir(j.LogPath), "spec.json")
	want := []string{filepath.Join(bin, "systemd-run"), "--unit=runner-job-" + sid + ".service",
		"--slice=runner-jobs.slice", "--description=runner job " + sid + " (train)", "--collect", "--quiet",
		"--property=KillMode=mixed", "--property=TimeoutStopSec=20s", "--property=MemoryMax=1073741824",
		"--", h.runner, "_supervise", "--job", sid, "--spec-file", spec}
	calls := systemdRunCalls(t, callLog)
	if len(calls) != 1 || !slices.Equal(append([]string{filepath.Join(bin, "systemd-run")}, calls[0]...), want) {
		t.Fatalf("systemd-run calls %q\nwant one: %q", calls, want[1:])
	}
	if _, err := os.Stat(spec); !os.IsNotExist(err) {
		t.Errorf("spec file %s left behind (%v)", spec, err)
	}

	// A retry is a unit of its own.
	id2 := h.submit("--retries", "1", "--", "sh", "-c", "exit 3")
	j2 := h.waitJob(id2, ledger.JobFailed)
	if j2.Attempts != 2 || j2.ExitCode == nil || *j2.ExitCode != 3 {
		t.Errorf("job %d: attempts %d exit %v, want 2 attempts and exit 3", id2, j2.Attempts, j2.ExitCode)
	}
	calls = systemdRunCalls(t, callLog)
	var units []string
	for _, c := range calls[1:] {
		units = append(units, c[0])
	}
	sid2 := strconv.FormatInt(id2, 10)
	if !slices.Equal(units, []string{"--unit=runner-job-" + sid2 + ".service", "--unit=runner-job-" + sid2 + "-2.service"}) {
		t.Errorf("retry units %q", units)
	}
}
