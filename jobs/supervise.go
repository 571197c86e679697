package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// SuperviseCommand is the hidden subcommand Launch runs: the CLI must map
// `runner _supervise --job ID` (spec JSON on stdin) to ReadSpec + Supervise.
const SuperviseCommand = "_supervise"

// DefaultGrace is the time between SIGTERM and SIGKILL when Spec.Grace is 0.
const DefaultGrace = 10 * time.Second

// launchWait bounds how long Launch waits for the supervisor to report
// that the job started.
const launchWait = 10 * time.Second

// Spec is everything the supervisor needs to run one job.
type Spec struct {
	ID         int64         `json:"id"`
	Argv       []string      `json:"argv"`
	Dir        string        `json:"dir"`         // working directory; "" = the launcher's
	Env        []string      `json:"env"`         // K=V added on top of the base environment (--env)
	BaseEnv    []string      `json:"base_env"`    // the captured environment, when OwnEnv
	OwnEnv     bool          `json:"own_env"`     // base is BaseEnv, not the supervisor's environment
	User       *User         `json:"user"`        // run the command as this user; nil: as the supervisor
	LogPath    string        `json:"log_path"`    // stdout+stderr, appended, 0600
	Output     string        `json:"output"`      // the command's stdout instead (submit --output, expanded); "": LogPath
	Error      string        `json:"error"`       // its stderr (--error); "": with stdout
	StatusPath string        `json:"status_path"` // <statedir>/jobs/<id>/status.json
	GPUUUIDs   []string      `json:"gpu_uuids"`   // empty for a CPU job
	RunID      string        `json:"run_id"`      // WANDB_RUN_ID
	WandbDir   string        `json:"wandb_dir"`   // WANDB_DIR
	RunGroup   string        `json:"run_group"`   // WANDB_RUN_GROUP when set (arrays)
	ArrayID    int64         `json:"array_id"`    // RUNNER_ARRAY_ID, with RUNNER_ARRAY_INDEX, when not 0
	ArrayIndex int64         `json:"array_index"`
	Timeout    time.Duration `json:"timeout"` // 0 = none
	Grace      time.Duration `json:"grace"`   // SIGTERM to SIGKILL; 0 = DefaultGrace
}

func (s Spec) validate() error {
	switch {
	case s.ID <= 0:
		return fmt.Errorf("job spec: id %d is not a job id", s.ID)
	case len(s.Argv) == 0 || s.Argv[0] == "":
		return fmt.Errorf("job %d spec: no command", s.ID)
	case s.LogPath == "":
		return fmt.Errorf("job %d spec: no log path", s.ID)
	case s.StatusPath == "":
		return fmt.Errorf("job %d spec: no status path", s.ID)
	case s.Timeout < 0 || s.Grace < 0:
		return fmt.Errorf("job %d spec: negative timeout or grace", s.ID)
	}
	return nil
}

func (s Spec) grace() time.Duration {
	if s.Grace <= 0 {
		return DefaultGrace
	}
	return s.Grace
}

// ReadSpec decodes and checks the spec Launch sends on the supervisor's stdin.
func ReadSpec(r io.Reader) (Spec, error) {
	var s Spec
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("read job spec: %w", err)
	}
	return s, s.validate()
}

// openLog opens a job log for appending, creating it 0600 (and its
// directory 0700) so other users cannot read job output.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open job log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open job log: %w", err)
	}
	return f, nil
}

// Launch starts `self _supervise --job ID` as a detached process (its own
// session, stdin from a pipe carrying the spec, output to the job log), so
// the job survives the caller exiting. It returns the supervisor's pid once
// the supervisor has recorded the job's start in s.StatusPath (read it
// with ReadStatus for the job's pid, pgid and start ticks). If the command
// cannot start, the error wraps ErrStartFailed and the status file records
// the end. Secrets in s.Env travel through the pipe, never argv or disk.
func Launch(self string, s Spec) (int, error) {
	return LaunchWith(self, nil, s)
}

// Spare is a supervisor started ahead of need: it waits for its job's spec on
// stdin, so starting a job does not wait for a runner process to start (most
// of the dispatch latency otherwise). A spare whose daemon goes away reads EOF
// and exits.
type Spare struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	gone  chan struct{}
	err   error
}

// SpareFlag is the `_supervise` flag of a spare supervisor.
const SpareFlag = "spare"

// StartSpare starts a spare supervisor, detached like Launch's.
func StartSpare(self string) (*Spare, error) {
	cmd := exec.Command(self, SuperviseCommand, "--"+SpareFlag)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start spare supervisor: %w", err)
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start spare supervisor: %w", err)
	}
	sp := &Spare{cmd: cmd, stdin: in, gone: make(chan struct{})}
	go func() {
		sp.err = cmd.Wait()
		close(sp.gone)
	}()
	return sp, nil
}

// Close dismisses an unused spare.
func (sp *Spare) Close() error { return sp.stdin.Close() }

// LaunchWith is Launch through a spare supervisor when sp is not nil (it is
// used up either way). A spare that died meanwhile falls back to a new one.
func LaunchWith(self string, sp *Spare, s Spec) (int, error) {
	if err := prepareLaunch(&s); err != nil {
		return 0, err
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("launch job %d: encode spec: %w", s.ID, err)
	}
	if sp != nil {
		_, werr := sp.stdin.Write(spec)
		cerr := sp.stdin.Close()
		if werr == nil && cerr == nil {
			return waitLaunched(s, sp.cmd.Process.Pid, sp.gone, func() error { return sp.err })
		}
		// The spare is gone (killed, or exited): start a fresh supervisor.
	}
	logf, err := openLog(s.LogPath)
	if err != nil {
		return 0, fmt.Errorf("launch job %d: %w", s.ID, err)
	}
	defer logf.Close()

	cmd := exec.Command(self, SuperviseCommand, "--job", strconv.FormatInt(s.ID, 10))
	cmd.Stdin = bytes.NewReader(spec)
	// The supervisor's own complaints land in the job log, where a user
	// looking at a failed job will see them.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/" // do not pin the caller's working directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("launch job %d: start supervisor: %w", s.ID, err)
	}
	gone := make(chan struct{})
	var waitErr error
	go func() {
		// Reap the supervisor if it ends while we still run; once we
		// exit, init adopts it.
		waitErr = cmd.Wait()
		close(gone)
	}()
	return waitLaunched(s, cmd.Process.Pid, gone, func() error { return waitErr })
}

// prepareLaunch fills in s's working directory, checks s and clears the
// status a previous attempt left.
func prepareLaunch(s *Spec) error {
	if s.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("launch job %d: working directory: %w", s.ID, err)
		}
		s.Dir = wd
	}
	if err := s.validate(); err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.StatusPath), 0o700); err != nil {
		return fmt.Errorf("launch job %d: %w", s.ID, err)
	}
	// A retried job keeps its id: an old status must not look like this run.
	if err := os.Remove(s.StatusPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("launch job %d: remove old status: %w", s.ID, err)
	}
	return nil
}

// waitLaunched waits until the supervisor pid reports the job started (or
// could not start). With pid 0 (a unit's supervisor, not our child) the pid
// is the one the status records, and gone is nil.
func waitLaunched(s Spec, pid int, gone <-chan struct{}, waitErr func() error) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), launchWait)
	defer cancel()
	st, err := waitStatus(ctx, s.StatusPath, func(st Status) bool { return st.PID > 0 || st.EndedAt != nil }, gone)
	switch {
	case errors.Is(err, ErrSupervisorGone):
		return pid, fmt.Errorf("launch job %d: supervisor exited before starting the job (%v); see %s", s.ID, waitErr(), s.LogPath)
	case err != nil:
		return pid, fmt.Errorf("launch job %d: %w", s.ID, err)
	}
	if pid == 0 {
		pid = st.SupervisorPID
	}
	if st.PID == 0 {
		return pid, fmt.Errorf("launch job %d: %w: %s", s.ID, ErrStartFailed, st.Reason)
	}
	return pid, nil
}

// Supervise runs the job described by s and records its status; it is
// what `runner _supervise` calls, in the process Launch started. It starts
// the command in a new process group with JobEnv, stdin /dev/null and
// output appended to the log, records the start, and waits. On timeout it
// stops the group (SIGTERM, grace, SIGKILL) and records Reason "timeout";
// when ctx ends it does the same with Reason "cancelled". A job stopped by
// someone else (runner cancel calls Terminate) is recorded with its signal.
// Processes the job leaves behind in its group are stopped too, so nothing
// keeps holding its GPUs. The end is recorded before Supervise returns.
func Supervise(ctx context.Context, s Spec) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	logf, err := openLog(s.LogPath)
	if err != nil {
		return fmt.Errorf("supervise job %d: %w", s.ID, err)
	}
	defer logf.Close()
	if s.User != nil {
		// The output is the owner's to read, and only theirs.
		if err := logf.Chown(s.User.UID, s.User.GID); err != nil {
			return fmt.Errorf("supervise job %d: job log: %w", s.ID, err)
		}
	}
	// The command's own files (--output, --error) are opened as its owner;
	// the notes go where its stdout goes, which is what runner logs reads.
	stdout, stderr, openErr := s.outputs(logf)
	defer func() {
		for _, f := range []*os.File{stdout, stderr} {
			if f != logf && f != nil {
				f.Close()
			}
		}
	}()
	note := func(format string, args ...any) {
		fmt.Fprintf(stdout, "[runner] "+format+"\n", args...)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("supervise job %d: %w", s.ID, err)
	}
	defer devnull.Close()

	env := JobEnv(os.Environ(), s)
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	if s.OwnEnv {
		cmd.Path, cmd.Err = lookPath(s.Argv[0], env, s.Dir)
	}
	cmd.Dir = s.Dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.User.credential()}
	st := Status{SupervisorPID: os.Getpid(), StartedAt: time.Now()}
	err = openErr
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		now := time.Now()
		st.EndedAt, st.Reason = &now, "start failed: "+err.Error()
		note("job %d could not start: %v", s.ID, err)
		if werr := writeStatus(s.StatusPath, st); werr != nil {
			return fmt.Errorf("supervise job %d: %w (after start failure: %v)", s.ID, werr, err)
		}
		return fmt.Errorf("supervise job %d: %w: %w", s.ID, ErrStartFailed, err)
	}
	st.PID, st.PGID = cmd.Process.Pid, cmd.Process.Pid
	// Read before anything waits on the child: until it is reaped its
	// /proc entry exists, even if it has already exited.
	if st.StartTicks, err = ProcStartTicks(st.PID); err != nil {
		note("job %d: cannot read its start time: %v", s.ID, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := writeStatus(s.StatusPath, st); err != nil {
		// Unrecorded jobs would hold GPUs the daemon cannot see: stop it.
		note("job %d stopped: cannot record its status: %v", s.ID, err)
		_ = Terminate(st.PGID, s.grace())
		<-done
		return fmt.Errorf("supervise job %d: %w", s.ID, err)
	}

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var stopErr error
	select {
	case <-done:
	case <-timeout:
		st.Reason = "timeout"
		note("job %d reached its timeout of %s: sending SIGTERM, SIGKILL after %s", s.ID, s.Timeout, s.grace())
		stopErr = Terminate(st.PGID, s.grace())
		<-done
	case <-ctx.Done():
		st.Reason = "cancelled"
		note("job %d cancelled: sending SIGTERM, SIGKILL after %s", s.ID, s.grace())
		stopErr = Terminate(st.PGID, s.grace())
		<-done
	}
	if stopErr == nil && groupAlive(st.PGID) {
		note("job %d's main process ended; stopping the processes it left running", s.ID)
		stopErr = Terminate(st.PGID, s.grace())
	}
	if stopErr != nil && !errors.Is(stopErr, ErrNotRunning) {
		note("job %d: %v", s.ID, stopErr)
	}

	end := time.Now()
	st.EndedAt = &end
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st.Signal = signalName(ws.Signal())
	} else {
		code := cmd.ProcessState.ExitCode()
		st.ExitCode = &code
	}
	if err := writeStatus(s.StatusPath, st); err != nil {
		note("job %d ended but its status could not be recorded: %v", s.ID, err)
		return fmt.Errorf("supervise job %d: %w", s.ID, err)
	}
	return nil
}

// outputs opens the command's stdout and stderr: s.Output and s.Error as
// s.User, falling back to log (the job log) for what is not set. When one
// cannot be opened, both are log (where the reason is noted) and the error
// says why: the job then does not start.
func (s Spec) outputs(log *os.File) (stdout, stderr *os.File, err error) {
	stdout, stderr = log, log
	if s.Output != "" {
		if stdout, err = openOutput(s.Output, s.User); err != nil {
			return log, log, fmt.Errorf("--output: %w", err)
		}
		stderr = stdout
	}
	if s.Error != "" {
		if stderr, err = openOutput(s.Error, s.User); err != nil {
			if stdout != log {
				stdout.Close()
			}
			return log, log, fmt.Errorf("--error: %w", err)
		}
	}
	return stdout, stderr, nil
}

// Wait blocks until the status file at statusPath records the job's end,
// and returns that status. It watches the directory with fsnotify rather
// than polling. It cannot tell a supervisor that died (killed, machine
// rebooted): callers bound it with ctx and check Alive.
func Wait(ctx context.Context, statusPath string) (Status, error) {
	return waitStatus(ctx, statusPath, func(st Status) bool { return st.EndedAt != nil }, nil)
}

// waitStatus waits until the status file satisfies cond. When gone closes
// (the writer exited) it reads once more and gives up with
// ErrSupervisorGone.
func waitStatus(ctx context.Context, path string, cond func(Status) bool, gone <-chan struct{}) (Status, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return Status{}, fmt.Errorf("watch job status: %w", err)
	}
	defer w.Close()
	// Watch before the first read so an update in between is not missed.
	if err := w.Add(filepath.Dir(path)); err != nil {
		return Status{}, fmt.Errorf("watch job status %s: %w", path, err)
	}
	base := filepath.Base(path)
	check := func() (Status, bool, error) {
		st, err := ReadStatus(path)
		if errors.Is(err, fs.ErrNotExist) {
			return Status{}, false, nil
		}
		if err != nil {
			return Status{}, false, err
		}
		return st, cond(st), nil
	}
	for {
		st, ok, err := check()
		if err != nil || ok {
			return st, err
		}
	events:
		for {
			select {
			case ev, open := <-w.Events:
				if !open {
					return Status{}, fmt.Errorf("watch job status %s: watcher closed", path)
				}
				// The log may live in the same directory; skip its writes.
				if filepath.Base(ev.Name) == base {
					break events
				}
			case err := <-w.Errors:
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					break events
				}
				return Status{}, fmt.Errorf("watch job status %s: %w", path, err)
			case <-gone:
				if st, ok, err := check(); err != nil || ok {
					return st, err
				}
				return Status{}, ErrSupervisorGone
			case <-ctx.Done():
				return Status{}, fmt.Errorf("wait for job status %s: %w", path, ctx.Err())
			}
		}
	}
}

// RunSupervisor is the body of `runner _supervise`: read the spec from in
// (or, for a systemd unit's supervisor, from specFile, which it removes) and
// supervise the job. A spare supervisor (spare true) waits for its spec and
// exits quietly when the daemon dismisses it (EOF); once it has a job, its
// own output goes to the job's log like a launched supervisor's. A launched
// supervisor's spec must be for job id.
func RunSupervisor(ctx context.Context, in io.Reader, spare bool, id int64, specFile string) error {
	var (
		b   []byte
		err error
	)
	if specFile != "" {
		b, err = readSpecFile(specFile)
	} else {
		b, err = io.ReadAll(in)
	}
	if err != nil {
		return fmt.Errorf("read job spec: %w", err)
	}
	if spare && len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	spec, err := ReadSpec(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if !spare && spec.ID != id {
		return fmt.Errorf("%s: --job %d does not match the spec's job %d", SuperviseCommand, id, spec.ID)
	}
	if spare || specFile != "" {
		// Nobody opened the job log for us: the supervisor's own
		// complaints belong there, where the job's owner looks.
		if logf, err := openLog(spec.LogPath); err == nil {
			_ = syscall.Dup3(int(logf.Fd()), 1, 0)
			_ = syscall.Dup3(int(logf.Fd()), 2, 0)
			logf.Close()
		}
	}
	return Supervise(ctx, spec)
}
