package jobs

// The rules of the queue verbs beside submit (runner hold, release,
// requeue, cancel, wait), so that every front end changes jobs the same way.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/jobs/jobspec"
	"github.com/runnerhq/runner/ledger"
)

// ErrNotOwner: a caller asked to change or read another user's job.
var ErrNotOwner = errors.New("only its owner or root may")

// MayTouch says whether the user uid may change job j or read its output
// (what names the act): root and the job's owner may.
func MayTouch(uid int, j ledger.Job, what string) error {
	if uid == 0 || uid == j.OwnerUID {
		return nil
	}
	return fmt.Errorf("job %d belongs to %s: %w %s it", j.ID, j.Owner, ErrNotOwner, what)
}

// Owned are the jobs of list that uid owns; root owns them all.
func Owned(list []ledger.Job, uid int) []ledger.Job {
	var mine []ledger.Job
	for _, j := range list {
		if uid == 0 || j.OwnerUID == uid {
			mine = append(mine, j)
		}
	}
	return mine
}

// Holder is what Hold needs from the ledger.
type Holder interface {
	SetHeld(ctx context.Context, ids []int64, held bool) (changed []int64, err error)
}

var _ Holder = (*ledger.DB)(nil)

// Hold holds (hold) or releases the jobs of list: an engine's job where it
// waits, as the user as gives, then every one in the ledger; say gets a
// line per job, changed or not and why.
func Hold(ctx context.Context, db Holder, list []ledger.Job, hold bool, as func() (*User, error), say func(string)) error {
	if err := HoldOnEngine(ctx, list, hold, as); err != nil {
		return err
	}
	ids := make([]int64, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	changed, err := db.SetHeld(ctx, ids, hold)
	if err != nil {
		return err
	}
	verb := "held"
	if !hold {
		verb = "released"
	}
	for _, j := range list {
		switch {
		case slices.Contains(changed, j.ID):
			say(fmt.Sprintf("job %d %s", j.ID, verb))
		case j.Held:
			say(fmt.Sprintf("job %d: not changed (%s, held)", j.ID, j.State))
		default:
			say(fmt.Sprintf("job %d: not changed (%s)", j.ID, j.State))
		}
	}
	return nil
}

// Requeuer is what Requeue needs from the ledger.
type Requeuer interface {
	RequeueJob(ctx context.Context, id int64, newRun bool) ([]int64, error)
}

var _ Requeuer = (*ledger.DB)(nil)

// Requeue queues the jobs of list again, with the jobs skipped because of
// them; one that an earlier one already queued again (a dependent) is
// passed. An engine's job is refused (a Refusal) before any is queued: an
// ended Slurm job is not run again under its id. say gets a line per job.
func Requeue(ctx context.Context, db Requeuer, list []ledger.Job, newRun bool, say func(string)) error {
	for _, j := range list {
		if j.Executor != ledger.ExecutorLocal {
			return refusef("job %d ran under %s (job %s): requeue runs only local jobs again; submit it again", j.ID, j.Executor, safe.Dash(j.EngineID))
		}
	}
	again := map[int64]bool{}
	for _, j := range list {
		if again[j.ID] {
			continue
		}
		ids, err := db.RequeueJob(ctx, j.ID, newRun)
		if errors.Is(err, ledger.ErrJobNotEnded) {
			return &Refusal{Err: err}
		}
		if err != nil {
			return err
		}
		say(fmt.Sprintf("job %d queued again", j.ID))
		for _, d := range ids[1:] {
			again[d] = true
			say(fmt.Sprintf("job %d queued again (it was skipped because of job %d)", d, j.ID))
		}
	}
	return nil
}

// CancelWithoutDaemon is cancel for a user who may not read the ledger
// while the daemon is down: their job runs as them, so they may signal it;
// it is found by the RUNNER_JOB_ID of its command (OwnJobGroup). The cancel
// itself cannot be recorded: the daemon records the end, by signal, when it
// is back.
func CancelWithoutDaemon(id int64, say func(string)) error {
	pgid, err := OwnJobGroup(id)
	if err != nil {
		return fmt.Errorf("cancel: the daemon is down and %w", err)
	}
	say(fmt.Sprintf("job %d: the daemon is down; stopping your job's processes (SIGTERM, then SIGKILL after %s)", id, DefaultGrace))
	if err := Terminate(pgid, DefaultGrace); err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("cancel job %d: %w", id, err)
	}
	say(fmt.Sprintf("job %d stopped; the daemon records its end (killed by SIGTERM) when it is back", id))
	return nil
}

// Exit codes of wait besides a job's own (srun and `ts -w` pass the job's through).
const (
	ExitNotRun   = 1   // cancelled, skipped, lost, or failed without an exit code
	ExitTimedOut = 124 // the wait's own timeout, as timeout(1)
)

// WaitCode is the exit of a wait for ended jobs, taken in order: 0 when
// all succeeded, else the first one that did not: its exit code, 128+n for
// a signal (as a shell says it), ExitNotRun when it was cancelled, skipped
// or lost.
func WaitCode(list []ledger.Job) int {
	for _, j := range list {
		switch {
		case j.State == ledger.JobSucceeded:
			continue
		case j.State == ledger.JobFailed && j.ExitCode != nil && *j.ExitCode != 0:
			return *j.ExitCode
		case j.State == ledger.JobFailed && j.Signal != "":
			if n := SignalNumber(j.Signal); n > 0 {
				return 128 + n
			}
		}
		return ExitNotRun
	}
	return 0
}

// CancelArgsWithoutDaemon is CancelWithoutDaemon for cancel's arguments as
// typed: exactly one job id (a Refusal otherwise).
func CancelArgsWithoutDaemon(args []string, say func(string)) error {
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--" })
	if len(args) != 1 {
		return refusef("cancel: want one job id")
	}
	id, err := ParseJobID(args[0])
	if err != nil {
		return refusef("cancel: %v", err)
	}
	return CancelWithoutDaemon(id, say)
}

// ParseJobID reads one job id. An array task's id as runner jobs shows a
// collapsed row (17_5, 17_[5-49]) says where that task's own id is.
func ParseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		if array, _, ok := strings.Cut(s, "_"); ok {
			if a, err := strconv.ParseInt(array, 10, 64); err == nil && a > 0 {
				return 0, fmt.Errorf("%q is a task of array %d, not a job id: give the task's own id (runner jobs --array %d), or %d for all its jobs", s, a, a, a)
			}
		}
		return 0, fmt.Errorf("%q is not a job id", s)
	}
	return id, nil
}

// ParseTaskID reads an array task as Slurm names it, ARRAY_INDEX (17_5:
// the task of array 17 with --array index 5); ok is false for anything else.
func ParseTaskID(s string) (array, index int64, ok bool) {
	a, i, cut := strings.Cut(s, "_")
	if !cut {
		return 0, 0, false
	}
	array, err := strconv.ParseInt(a, 10, 64)
	if err != nil || array <= 0 {
		return 0, 0, false
	}
	index, err = strconv.ParseInt(i, 10, 64)
	if err != nil || index < 0 {
		return 0, 0, false
	}
	return array, index, true
}

// Expand turns one submit into its jobs (docs/design.md "Arrays and
// sweeps"): base alone, or an array from array (indexes like 0-99, %K for
// at most K running) and the grid readSweep reads (sweep names it; ""
// for none). Its errors are Refusals but readSweep's, passed on as they are.
func Expand(base ledger.JobSpec, array, sweep string, readSweep func() ([]byte, error)) ([]ledger.JobSpec, bool, error) {
	if array == "" && sweep == "" {
		return []ledger.JobSpec{base}, false, nil
	}
	var (
		indexes []int64
		limit   int64
		points  []jobspec.Point
		err     error
	)
	if array != "" {
		if indexes, limit, err = jobspec.ParseArray(array); err != nil {
			return nil, false, refusef("submit: --array: %v", err)
		}
	}
	if sweep != "" {
		if len(indexes) > 0 {
			return nil, false, refusef("submit: --sweep makes the array's indexes; with it, --array takes only %%K")
		}
		data, err := readSweep()
		if err != nil {
			return nil, false, err
		}
		if points, err = jobspec.ParseSweep(data); err != nil {
			return nil, false, refusef("submit: --sweep %s: %v", sweep, err)
		}
		for i := range points {
			indexes = append(indexes, int64(i))
		}
	} else if len(indexes) == 0 {
		return nil, false, refusef("submit: --array %q: no indexes (only %%K goes with --sweep)", array)
	}
	if base.SameRun {
		return nil, false, refusef("submit: --same-run cannot go with an array: every job of an array is its own W&B run")
	}
	specs := make([]ledger.JobSpec, len(indexes))
	for i, idx := range indexes {
		s := base
		s.ArrayIndex, s.ArrayLimit, s.RunGroup = idx, limit, base.Name
		if points != nil {
			s.Argv = append(slices.Clone(base.Argv), points[i].Args...)
			s.Env = append(slices.Clone(base.Env), points[i].Env...)
		}
		specs[i] = s
	}
	return specs, true, nil
}

// Lister lists jobs.
type Lister interface {
	ListJobs(ctx context.Context, f ledger.JobFilter) ([]ledger.Job, error)
}

var _ Lister = (*ledger.DB)(nil)

// CancelTargets is what cancel --all/--name/--state selects: uid's queued
// and running jobs (root's: everyone's), of one of those states when state
// is given, whose names match nameGlob when it is not "".
func CancelTargets(ctx context.Context, db Lister, state ledger.JobState, nameGlob string, uid int) ([]ledger.Job, error) {
	f := ledger.JobFilter{States: []ledger.JobState{ledger.JobQueued, ledger.JobRunning}, NameGlob: nameGlob}
	if state != "" {
		if state != ledger.JobQueued && state != ledger.JobRunning {
			return nil, refusef("--state %q: only queued or running jobs can be cancelled", state)
		}
		f.States = []ledger.JobState{state}
	}
	all, err := db.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	return Owned(all, uid), nil
}

// RequeueTargets is what requeue --state selects: the local jobs in those
// states (failed, cancelled, skipped or lost: a succeeded job only by id)
// that may says the caller may touch.
func RequeueTargets(ctx context.Context, db Lister, states []ledger.JobState, may func(ledger.Job) bool) ([]ledger.Job, error) {
	if slices.ContainsFunc(states, func(s ledger.JobState) bool { return !s.Ended() || s == ledger.JobSucceeded }) {
		return nil, refusef("--state takes failed, cancelled, skipped or lost (one succeeded job: requeue ID)")
	}
	all, err := db.ListJobs(ctx, ledger.JobFilter{States: states})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(j ledger.Job) bool { return !may(j) || j.Executor != ledger.ExecutorLocal }), nil
}

// ParseLabels reads a repeatable --label K=V of command cmd (nil when none
// is given); a word without "=" or a key is a Refusal.
func ParseLabels(cmd string, kvs []string) (map[string]string, error) {
	var labels map[string]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, refusef("%s: --label %q: want KEY=VALUE", cmd, kv)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[k] = v
	}
	return labels, nil
}
