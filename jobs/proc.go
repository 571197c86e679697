package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/runnerhq/runner/internal/proc"
)

var (
	// ErrNotRunning means a process or process group no longer exists.
	ErrNotRunning = proc.ErrNotRunning
	// ErrStartFailed means the supervisor could not start the job command
	// (for example, it does not exist); the status file says why.
	ErrStartFailed = errors.New("job failed to start")
	// ErrMemNeedsUnits: a memory limit (submit --mem) is a systemd unit's
	// MemoryMax=, so it needs jobs started as units.
	ErrMemNeedsUnits = errors.New("--mem needs jobs started as systemd units (runner daemon under systemd, or --job-units systemd)")
	// ErrSupervisorGone means the supervisor exited without recording
	// what it was asked to record.
	ErrSupervisorGone = errors.New("job supervisor exited")
)

// Status is what the supervisor records in <statedir>/jobs/<id>/status.json.
// A status with PID set and no EndedAt is a running job; EndedAt set means
// the job has ended and nothing will change the file again.
type Status struct {
	PID, PGID     int
	StartTicks    uint64 // /proc/<pid>/stat start time, see Alive
	SupervisorPID int
	StartedAt     time.Time
	EndedAt       *time.Time
	ExitCode      *int   // nil when killed by a signal or never started
	Signal        string // "SIGTERM", "SIGKILL", ... when killed by a signal
	Reason        string // "timeout", "cancelled", "start failed: ...", or ""
}

// statusFile is the on-disk form; absent values are null.
type statusFile struct {
	PID           int        `json:"pid"`
	PGID          int        `json:"pgid"`
	StartTime     uint64     `json:"start_time"`
	SupervisorPID int        `json:"supervisor_pid"`
	StartedAt     time.Time  `json:"started_at"`
	EndedAt       *time.Time `json:"ended_at"`
	ExitCode      *int       `json:"exit_code"`
	Signal        *string    `json:"signal"`
	Reason        *string    `json:"reason"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ReadStatus reads a status file written by the supervisor.
func ReadStatus(path string) (Status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Status{}, fmt.Errorf("read job status: %w", err)
	}
	var f statusFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Status{}, fmt.Errorf("read job status %s: %w", path, err)
	}
	st := Status{
		PID: f.PID, PGID: f.PGID, StartTicks: f.StartTime, SupervisorPID: f.SupervisorPID,
		StartedAt: f.StartedAt, EndedAt: f.EndedAt, ExitCode: f.ExitCode,
	}
	if f.Signal != nil {
		st.Signal = *f.Signal
	}
	if f.Reason != nil {
		st.Reason = *f.Reason
	}
	return st, nil
}

// writeStatus replaces path atomically (temp file, fsync, rename), so a
// reader sees either the old or the new status, never half of one.
func writeStatus(path string, st Status) error {
	f := statusFile{
		PID: st.PID, PGID: st.PGID, StartTime: st.StartTicks, SupervisorPID: st.SupervisorPID,
		StartedAt: st.StartedAt.UTC(), ExitCode: st.ExitCode,
		Signal: optString(st.Signal), Reason: optString(st.Reason),
	}
	if st.EndedAt != nil {
		t := st.EndedAt.UTC()
		f.EndedAt = &t
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode job status: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".status-*.tmp")
	if err != nil {
		return fmt.Errorf("write job status: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write job status %s: %w", tmp.Name(), err)
	}
	// Rename first, then make it durable: the daemon watches for the rename,
	// and a job's end waiting on two fsyncs was most of the time between one
	// job ending and the next starting. A crash in between leaves a status
	// the reader rejects, which the daemon treats like a missing one.
	if err := os.Rename(tmp.Name(), path); err != nil {
		tmp.Close()
		return fmt.Errorf("write job status: %w", err)
	}
	serr := tmp.Sync()
	if err := tmp.Close(); err != nil && serr == nil {
		serr = err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if serr != nil {
		return fmt.Errorf("write job status %s: %w", path, serr)
	}
	return nil
}

// procStat is proc.Stat (the one reading of /proc/<pid>/stat).
func procStat(pid int) (state byte, pgrp int, startTicks uint64, err error) { return proc.Stat(pid) }

// ProcStartTicks returns pid's start time in clock ticks since boot.
func ProcStartTicks(pid int) (uint64, error) { return proc.StartTicks(pid) }

// Alive reports whether pid exists, is not a zombie, and started at
// startTicks, so a reused pid does not count as the job (proc.Alive).
func Alive(pid int, startTicks uint64) bool { return proc.Alive(pid, startTicks) }

// groupAlive reports whether process group pgid has a member that is not a
// zombie. Zombies are skipped because an init that does not reap (common in
// containers) would otherwise make a dead group look alive forever.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; kill(2) said the group exists
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, _, err := procStat(pid)
		if err == nil && pgrp == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// KillWait is how long Terminate waits for a group to go after SIGKILL.
const KillWait = 3 * time.Second

// StopBudget is the longest a job started with timeout may hold its GPUs:
// the timeout, the grace between SIGTERM and SIGKILL, and KillWait. Zero
// timeout: no bound.
func StopBudget(timeout, grace time.Duration) time.Duration {
	if timeout <= 0 {
		return 0
	}
	return timeout + grace + KillWait
}

// Terminate stops process group pgid: SIGTERM to the whole group, then
// SIGKILL to whatever is left after grace. It returns once the group is
// gone, or an error if it survives SIGKILL for a few seconds. A group that
// does not exist gives ErrNotRunning. Check Alive(pid, startTicks) first:
// a pgid, like a pid, can be reused once the job is gone.
func Terminate(pgid int, grace time.Duration) error {
	if pgid <= 1 {
		// kill(-1) would signal every process we may signal.
		return fmt.Errorf("terminate process group %d: invalid process group", pgid)
	}
	// A group of zombies only (left by an init that does not reap) is gone.
	if !groupAlive(pgid) {
		return fmt.Errorf("terminate process group %d: %w", pgid, ErrNotRunning)
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("terminate process group %d: %w", pgid, ErrNotRunning)
		}
		return fmt.Errorf("terminate process group %d: %w", pgid, err)
	}
	if waitGroupGone(pgid, grace) {
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	if !waitGroupGone(pgid, KillWait) {
		return fmt.Errorf("process group %d still has processes after SIGKILL", pgid)
	}
	return nil
}

// waitGroupGone polls until group pgid has no live member or d passes.
// Polling is the only way to follow processes that are not our children.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(20*time.Millisecond, time.Until(deadline)))
	}
}

// signalName names the signals a job is likely to die of; others are
// given by number.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTRAP:
		return "SIGTRAP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGALRM:
		return "SIGALRM"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	default:
		return "signal " + strconv.Itoa(int(sig))
	}
}

// OwnJobGroup finds the process group of job id among the processes this
// user may inspect, by the RUNNER_JOB_ID its command was started with: how
// a job's owner, who may not read the ledger, reaches their job while the
// daemon is down. It returns ErrNotRunning when no such process exists. Only
// a group led by a process of the job (pgid = its pid) counts, so a process
// that merely inherited the variable elsewhere is not mistaken for the job.
func OwnJobGroup(id int64) (int, error) {
	want := []byte("RUNNER_JOB_ID=" + strconv.FormatInt(id, 10))
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("find job %d: %w", id, err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool { return bytes.Equal(kv, want) }) {
			continue
		}
		if _, pgrp, _, err := procStat(pid); err == nil && pgrp == pid {
			return pgrp, nil
		}
	}
	return 0, fmt.Errorf("job %d: %w among your processes", id, ErrNotRunning)
}

// SignalNumber is the number of the signal a status records by name
// ("SIGTERM" → 15), 0 for a name signalName does not give.
func SignalNumber(name string) int {
	for n := 1; n < 65; n++ {
		if signalName(syscall.Signal(n)) == name {
			return n
		}
	}
	return 0
}
