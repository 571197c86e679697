// Package e2e runs the real runner binary as a user would: a daemon on a temp
// tree, the fake wandb CLI, SIGTERM and SIGKILL, a backfill beside it.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// apiKey is a well-formed fake key (the fake CLI checks the 40-char rule).
const apiKey = "0123456789abcdef0123456789abcdef01234567"

type harness struct {
	t       *testing.T
	runner  string
	wandb   string
	root    string // watched tree
	db      string
	upLog   string // the fake wandb's upload log
	env     []string
	daemon  *exec.Cmd
	stderr  *os.File
	started int
	// wrap, when set, starts the daemon under this command (setpriv ...).
	wrap []string
}

func newHarness(t *testing.T, extraEnv ...string) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		runner: testbin.Build(t, ".", "runner"),
		wandb:  testbin.Build(t, "./testdata/fakewandb", "wandb"),
	}
	dir := t.TempDir()
	h.root = filepath.Join(dir, "workspace")
	h.db = filepath.Join(dir, "state", "ledger.db")
	h.upLog = filepath.Join(dir, "uploads.jsonl")
	if err := os.MkdirAll(h.root, 0o755); err != nil {
		t.Fatal(err)
	}
	h.env = append(os.Environ(),
		"RUNNER_DB="+h.db, "RUNNER_WANDB="+h.wandb, "WANDB_API_KEY="+apiKey,
		"FAKE_WANDB_LOG="+h.upLog, "FAKE_WANDB_STATE="+filepath.Join(dir, "fake-state"),
		"RUNNER_QUIET=2s", "RUNNER_SETTLE=3s", "RUNNER_BACKOFF=200ms", "RUNNER_LEASE=3s",
		"RUNNER_RECONCILE=2s", "RUNNER_LOG_LEVEL=debug",
	)
	h.env = append(h.env, extraEnv...)
	t.Cleanup(func() {
		if h.daemon != nil && h.daemon.ProcessState == nil {
			_ = h.daemon.Process.Kill()
			_ = h.daemon.Wait()
		}
		if t.Failed() {
			h.dumpLogs()
		}
	})
	return h
}

func (h *harness) dumpLogs() {
	if h.stderr == nil {
		return
	}
	b, _ := os.ReadFile(h.stderr.Name())
	lines := strings.Split(string(b), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	h.t.Logf("daemon log tail:\n%s", strings.Join(lines, "\n"))
}

// startDaemon starts `runner daemon --watch ROOT` and waits until it is up.
func (h *harness) startDaemon(args ...string) {
	h.t.Helper()
	h.started++
	f, err := os.Create(filepath.Join(h.t.TempDir(), fmt.Sprintf("daemon-%d.log", h.started)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.stderr = f
	argv := append(append(append([]string{}, h.wrap...), h.runner, "daemon", "--watch", h.root), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.daemon = cmd
	h.eventually(10*time.Second, "daemon up", func() bool {
		b, _ := os.ReadFile(f.Name())
		return strings.Contains(string(b), "daemon started")
	})
}

// stopDaemon sends SIGTERM and expects a clean exit 0.
func (h *harness) stopDaemon() {
	h.t.Helper()
	_ = h.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- h.daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			h.t.Fatalf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Fatal("daemon did not stop within 15s of SIGTERM")
	}
}

// killDaemon sends SIGKILL: no cleanup of any kind happens.
func (h *harness) killDaemon() {
	h.t.Helper()
	_ = h.daemon.Process.Signal(syscall.SIGKILL)
	_ = h.daemon.Wait()
}

// run runs a runner command to completion and returns stdout and the exit code.
func (h *harness) run(args ...string) (string, int) {
	h.t.Helper()
	out, errOut, code, hung := h.command(nil, 60*time.Second, args...)
	if hung {
		h.t.Fatalf("runner %v did not end within 60 s", args)
	}
	if errOut != "" {
		h.t.Logf("runner %v stderr:\n%s", args, errOut)
	}
	return out, code
}

// command runs runner as cred (nil: as the test itself) and reports it hung
// when it has not ended limit after its start; then it gets SIGTERM, and
// SIGKILL 5 s later.
func (h *harness) command(cred *syscall.Credential, limit time.Duration, args ...string) (stdout, stderr string, code int, hung bool) {
	h.t.Helper()
	cmd := exec.Command(h.runner, args...)
	cmd.Env = h.env
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		hung = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("runner %v: %v", args, err)
	}
	return out.String(), errb.String(), code, hung
}

func (h *harness) eventually(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runs reads the ledger the way `runner runs --json` shows it.
func (h *harness) runs() []ledger.Run {
	h.t.Helper()
	db, err := ledger.Open(context.Background(), h.db, ledger.Options{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer db.Close()
	rs, err := db.ListRuns(context.Background(), ledger.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

func (h *harness) statesByID() map[string]ledger.State {
	m := map[string]ledger.State{}
	for _, r := range h.runs() {
		m[r.RunID] = r.State
	}
	return m
}

func (h *harness) waitStates(timeout time.Duration, want map[string]ledger.State) {
	h.t.Helper()
	var got map[string]ledger.State
	deadline := time.Now().Add(timeout)
	for {
		got = h.statesByID()
		ok := true
		for id, st := range want {
			ok = ok && got[id] == st
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s: run states %v, want %v", timeout, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// upload is one line of the fake wandb's upload log.
type upload struct {
	At       time.Time `json:"at"`
	PID      int       `json:"pid"`
	RunID    string    `json:"run_id"`
	Dir      string    `json:"dir"`
	File     string    `json:"file"`
	Size     int64     `json:"size"`
	Records  int       `json:"records"`
	Finished bool      `json:"finished"`
	Footer   bool      `json:"footer"`
	Torn     bool      `json:"torn"`
	KeyOK    bool      `json:"key_ok"`
	Mode     string    `json:"wandb_mode"`
	ArgvKey  bool      `json:"argv_has_key"`
}

func (h *harness) uploads() []upload {
	h.t.Helper()
	f, err := os.Open(h.upLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var out []upload
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var u upload
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			h.t.Fatalf("bad upload log line %q: %v", sc.Text(), err)
		}
		out = append(out, u)
	}
	return out
}

func (h *harness) uploadCounts() map[string]int {
	m := map[string]int{}
	for _, u := range h.uploads() {
		m[u.RunID]++
	}
	return m
}

// runLog is an offline run being written, like the wandb SDK does.
type runLog struct {
	t   *testing.T
	dir string
	w   *wandbtest.Writer
}

// newRun creates <parent>/offline-run-<ts>-<id>/run-<id>.wandb with a header
// and a run record, flushed to disk.
func newRun(t *testing.T, parent, id string, start time.Time) *runLog {
	t.Helper()
	dir := filepath.Join(parent, "offline-run-"+start.Format("20060102_150405")+"-"+id)
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := wandbtest.Create(filepath.Join(dir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &runLog{t: t, dir: dir, w: w}
	r.do(w.Header(0))
	r.do(w.Run(wandbtest.Run{ID: id, Project: "e2e", Name: "run " + id, StartTime: start, CLIVersion: "0.23.0"}))
	r.flush()
	return r
}

func (r *runLog) do(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *runLog) flush() { r.t.Helper(); r.do(r.w.Flush()) }

func (r *runLog) rows(from, n int) {
	r.t.Helper()
	for i := from; i < from+n; i++ {
		r.do(r.w.Row(int64(i), float64(i), time.Unix(1700000000+int64(i), 0), map[string]float64{"train/loss": 1 / float64(i+1)}))
	}
	r.flush()
}

func (r *runLog) exit(code int32) { r.t.Helper(); r.do(r.w.Exit(code, 60)); r.flush() }

func (r *runLog) close() { r.t.Helper(); r.do(r.w.Close()) }

// finishedRun writes a complete wandb-core style log (ends at exit).
func finishedRun(t *testing.T, parent, id string, start time.Time) string {
	t.Helper()
	r := newRun(t, parent, id, start)
	r.rows(0, 5)
	r.exit(0)
	r.close()
	return r.dir
}

// age sets a run log's times into the past, like a run dir copied in from elsewhere.
func age(t *testing.T, dir string, by time.Duration) {
	t.Helper()
	old := time.Now().Add(-by)
	matches, _ := filepath.Glob(filepath.Join(dir, "run-*.wandb"))
	for _, m := range matches {
		if err := os.Chtimes(m, old, old); err != nil {
			t.Fatal(err)
		}
	}
}
