package jobs

// Told when a job ends: submit --notify and the daemon's --on-job-end run a
// shell command after each job's end, off the scheduler's loop
// (docs/design.md "Job end hooks").

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/runnerhq/runner/internal/secret"
	"github.com/runnerhq/runner/ledger"
)

// DefaultHookTimeout bounds one hook command: past it its process group is
// killed.
const DefaultHookTimeout = 60 * time.Second

// EndHooks runs the end hooks of jobs: the job's own (submit --notify) and
// the daemon's (OnJobEnd), each as `sh -c CMD` as the job's owner (when
// RunAsOwner), detached in a process group of its own, with the job's
// outcome in RUNNER_JOB_* variables on top of Environ less its
// credential-like variables. A failure is logged once, never retried.
type EndHooks struct {
	OnJobEnd   string // the daemon's --on-job-end; "": none
	Environ    []string
	RunAsOwner bool
	Timeout    time.Duration // 0: DefaultHookTimeout
	Logger     *slog.Logger
	wg         sync.WaitGroup
}

// Run starts j's hooks and returns at once.
func (h *EndHooks) Run(j ledger.Job) {
	for _, c := range []struct{ what, cmd string }{{"--notify", j.Notify}, {"--on-job-end", h.OnJobEnd}} {
		if c.cmd == "" {
			continue
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := h.run(j, c.cmd); err != nil {
				h.Logger.Warn("job end hook failed", "job", j.ID, "hook", c.what, "err", err)
			}
		}()
	}
}

// Wait waits for the hooks started so far (the daemon's shutdown, tests).
func (h *EndHooks) Wait() { h.wg.Wait() }

// HookEnv is what a hook of job j sees on top of base (less its
// credential-like variables, WANDB_API_KEY first).
func HookEnv(base []string, j ledger.Job, u *User) []string {
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if secret.EnvName(k) || strings.HasPrefix(k, "RUNNER_JOB_") {
			continue
		}
		if u != nil && (k == "HOME" || k == "USER" || k == "LOGNAME") {
			continue
		}
		env = append(env, kv)
	}
	if u != nil {
		env = append(env, "HOME="+u.Home, "USER="+u.Name, "LOGNAME="+u.Name)
	}
	exit := ""
	if j.ExitCode != nil {
		exit = strconv.Itoa(*j.ExitCode)
	}
	return append(env, "RUNNER_JOB_ID="+strconv.FormatInt(j.ID, 10), "RUNNER_JOB_STATE="+string(j.State),
		"RUNNER_JOB_EXIT_CODE="+exit, "RUNNER_JOB_SIGNAL="+j.Signal, "RUNNER_JOB_NAME="+j.Name, "RUNNER_RUN_ID="+j.RunID)
}

func (h *EndHooks) run(j ledger.Job, command string) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	var u *User
	if h.RunAsOwner && j.OwnerUID != 0 {
		var err error
		if u, err = LookupUser(j.OwnerUID); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = HookEnv(h.Environ, j, u)
	cmd.Dir = "/"
	if st, err := os.Stat(j.Cwd); err == nil && st.IsDir() {
		cmd.Dir = j.Cwd
	}
	// Its own session: the hook outlives nothing of the daemon's terminal,
	// and the whole group goes at the timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: u.credential()}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out strings.Builder
	w := &limited{w: &out, n: 1024} // one writer for both: written by one goroutine at a time
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%q: killed after %s", command, timeout)
	case err != nil:
		return fmt.Errorf("%q: %w: %s", command, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// limited keeps the first n bytes written to it: a hook's output is only
// for the line that says why it failed.
type limited struct {
	w interface{ WriteString(string) (int, error) }
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(l.n, len(p))
		_, _ = l.w.WriteString(string(p[:k]))
		l.n -= k
	}
	return len(p), nil
}
