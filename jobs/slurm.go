package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Slurm is the Engine of a Slurm cluster, through its commands: sbatch,
// squeue, sacct (scontrol where accounting is off) and scancel
// (docs/design.md "Slurm"). They find the cluster as Slurm's own clients
// do (SLURM_CONF); sbatch runs in the submitter's environment.
type Slurm struct{}

// slurmTimeout bounds each Slurm command: a hung slurmctld must not hang
// a submit or the daemon's polls.
const slurmTimeout = 30 * time.Second

var _ Engine = (*Slurm)(nil)

// MaxSlurmScript is the largest batch script runner hands sbatch: Slurm's
// default max_script_size is 4 MB, and an array's script holds a line per job.
const MaxSlurmScript = 4 << 20

// ErrSlurmScriptTooLarge: an array too large for one batch script.
var ErrSlurmScriptTooLarge = errors.New("too many jobs for one Slurm batch script (4 MB): split the array")

// SbatchArgs is the sbatch command line of sub, less the script (stdin).
// The environment goes as sbatch's own (--export=ALL), never on the command
// line: the command line is visible to everyone on the host.
func SbatchArgs(sub Submission) []string {
	args := []string{"--parsable", "--export=ALL", "--chdir=" + sub.Dir}
	if sub.Name != "" {
		args = append(args, "--job-name="+sub.Name)
	} else if len(sub.Jobs) > 0 {
		args = append(args, "--job-name=runner-"+strconv.FormatInt(sub.Jobs[0].ID, 10))
	}
	if sub.GPUs > 0 {
		args = append(args, "--gres=gpu:"+strconv.Itoa(sub.GPUs))
	}
	if sub.CPUs > 0 {
		args = append(args, "--cpus-per-task="+strconv.Itoa(sub.CPUs))
	}
	if sub.MemMax > 0 {
		// Slurm's sizes are MiB unless suffixed; K is KiB.
		args = append(args, "--mem="+strconv.FormatUint((sub.MemMax+1023)/1024, 10)+"K")
	}
	if sub.Timeout > 0 {
		args = append(args, "--time="+slurmTime(sub.Timeout))
	}
	var deps []string
	if len(sub.After) > 0 {
		deps = append(deps, "afterok:"+strings.Join(sub.After, ":"))
	}
	if len(sub.AfterAny) > 0 {
		deps = append(deps, "afterany:"+strings.Join(sub.AfterAny, ":"))
	}
	if len(sub.AfterNotOK) > 0 {
		deps = append(deps, "afternotok:"+strings.Join(sub.AfterNotOK, ":"))
	}
	if len(deps) > 0 {
		args = append(args, "--dependency="+strings.Join(deps, ","))
	}
	if sub.Hold {
		args = append(args, "--hold")
	}
	if sub.Array {
		idx := make([]string, len(sub.Jobs))
		for i, j := range sub.Jobs {
			idx[i] = strconv.FormatInt(j.ArrayIndex, 10)
		}
		spec := strings.Join(idx, ",")
		if sub.ArrayLimit > 0 {
			spec += "%" + strconv.FormatInt(sub.ArrayLimit, 10)
		}
		args = append(args, "--array="+spec)
	}
	args = append(args, "--output="+slurmOutput(sub), "--open-mode=append")
	return args
}

// SlurmLogPath is where a Slurm job's output goes: runner-job-ID.log in its
// working directory (where Slurm's own slurm-ID.out would go; the cluster's
// shared storage, where `runner logs` can read it), an array's
// runner-job-ARRAYID_INDEX.log.
func SlurmLogPath(dir string, id, arrayID, index int64, array bool) string {
	if array {
		return dir + "/runner-job-" + strconv.FormatInt(arrayID, 10) + "_" + strconv.FormatInt(index, 10) + ".log"
	}
	return dir + "/runner-job-" + strconv.FormatInt(id, 10) + ".log"
}

// slurmOutput is sbatch's --output: the jobs' SlurmLogPath with Slurm's
// %a for the array index. A literal % is %% there.
func slurmOutput(sub Submission) string {
	dir := strings.ReplaceAll(sub.Dir, "%", "%%")
	if sub.Array {
		return dir + "/runner-job-" + strconv.FormatInt(sub.Jobs[0].ID, 10) + "_%a.log"
	}
	return dir + "/runner-job-" + strconv.FormatInt(sub.Jobs[0].ID, 10) + ".log"
}

// slurmTime is a duration as Slurm's --time, D-HH:MM:SS, rounded up to a
// whole minute (Slurm's time limits are minutes).
func slurmTime(d time.Duration) string {
	m := int64((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d-%02d:%02d:00", m/(24*60), m/60%24, m%60)
}

// SlurmScript is the batch script of sub: each job's runner variables and
// command, chosen by SLURM_ARRAY_TASK_ID for an array. It holds no secret
// (credentials are refused in --env and never captured without --env-keep,
// and those travel in the environment, not here): Slurm keeps scripts in
// its state directory.
func SlurmScript(sub Submission) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n# Written by runner submit; docs/design.md \"Slurm\".\n")
	line := func(j EngineJob) {
		b.WriteString("exec env")
		for _, kv := range j.Env {
			b.WriteString(" " + shellQuote(kv))
		}
		for _, a := range j.Argv {
			b.WriteString(" " + shellQuote(a))
		}
		// --output/--error: redirected here, per job, rather than by sbatch's
		// one --output pattern, which cannot name runner's id of each task.
		if j.Stdout != "" {
			b.WriteString(" >>" + shellQuote(j.Stdout))
		}
		switch {
		case j.Stderr != "":
			b.WriteString(" 2>>" + shellQuote(j.Stderr))
		case j.Stdout != "":
			b.WriteString(" 2>&1")
		}
	}
	if !sub.Array {
		line(sub.Jobs[0])
		b.WriteString("\n")
	} else {
		b.WriteString("case \"${SLURM_ARRAY_TASK_ID-}\" in\n")
		for _, j := range sub.Jobs {
			fmt.Fprintf(&b, "%d) ", j.ArrayIndex)
			line(j)
			b.WriteString(" ;;\n")
		}
		b.WriteString("esac\necho \"runner: no job for array index ${SLURM_ARRAY_TASK_ID-}\" >&2\nexit 1\n")
	}
	if b.Len() > MaxSlurmScript {
		return nil, fmt.Errorf("%d jobs: %w", len(sub.Jobs), ErrSlurmScriptTooLarge)
	}
	return b.Bytes(), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Submit runs sbatch once for sub, as sub.User, with the submitter's
// environment, and returns each job's Slurm id (an array's: ID_INDEX).
func (s *Slurm) Submit(ctx context.Context, sub Submission) ([]string, error) {
	if len(sub.Jobs) == 0 {
		return nil, errors.New("slurm: nothing to submit")
	}
	script, err := SlurmScript(sub)
	if err != nil {
		return nil, err
	}
	out, err := s.command(ctx, "sbatch", SbatchArgs(sub), sub.Env, sub.User, script, sub.Dir)
	if err != nil {
		return nil, err
	}
	// --parsable prints "id" or "id;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, fmt.Errorf("sbatch: unexpected output %q", strings.TrimSpace(string(out)))
	}
	ids := make([]string, len(sub.Jobs))
	for i, j := range sub.Jobs {
		ids[i] = id
		if sub.Array {
			ids[i] = id + "_" + strconv.FormatInt(j.ArrayIndex, 10)
		}
	}
	return ids, nil
}

// Cancel runs scancel for ids as user as.
func (s *Slurm) Cancel(ctx context.Context, ids []string, as *User) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.command(ctx, "scancel", ids, nil, as, nil, "")
	return err
}

// Hold runs scontrol hold (or release) for ids as user as.
func (s *Slurm) Hold(ctx context.Context, ids []string, hold bool, as *User) error {
	if len(ids) == 0 {
		return nil
	}
	verb := "hold"
	if !hold {
		verb = "release"
	}
	_, err := s.command(ctx, "scontrol", append([]string{verb}, ids...), nil, as, nil, "")
	return err
}

// States asks squeue for the jobs slurmctld holds (one call), then for the
// ended or forgotten ones sacct, or scontrol show job where accounting is
// off (it remembers ended jobs for MinJobAge).
func (s *Slurm) States(ctx context.Context, ids []string) (map[string]EngineState, error) {
	out := map[string]EngineState{}
	if len(ids) == 0 {
		return out, nil
	}
	bases := slurmBases(ids)
	q, err := s.command(ctx, "squeue", []string{"--noheader", "--array", "--states=all", "--format=%i|%T|%N|%r|%S",
		"--jobs=" + strings.Join(bases, ",")}, nil, nil, nil, "")
	if err != nil && !strings.Contains(err.Error(), "Invalid job id") {
		return nil, err
	}
	live := ParseSqueue(q)
	var ended []string
	for _, id := range ids {
		st, ok := live[id]
		if ok && st.Phase != PhaseEnded {
			out[id] = st
			continue
		}
		ended = append(ended, id)
	}
	if len(ended) == 0 {
		return out, nil
	}
	// By base id: an array's is one short word however many of its tasks
	// ended, and sacct lists every task of it.
	acct, err := s.command(ctx, "sacct", []string{"--parsable2", "--noheader", "--allocations",
		"--format=JobID,State,ExitCode,NodeList,Start,End", "--jobs=" + strings.Join(slurmBases(ended), ",")}, nil, nil, nil, "")
	var known map[string]EngineState
	if err == nil {
		known = ParseSacct(acct)
	} else {
		// Accounting is off ("Slurm accounting storage is disabled"):
		// scontrol knows the ended jobs slurmctld still holds.
		known = map[string]EngineState{}
		for _, base := range slurmBases(ended) {
			sc, err := s.command(ctx, "scontrol", []string{"--oneliner", "show", "job", base}, nil, nil, nil, "")
			if err != nil {
				if strings.Contains(err.Error(), "Invalid job id") {
					continue // forgotten
				}
				return nil, err
			}
			for id, st := range ParseScontrol(sc) {
				known[id] = st
			}
		}
	}
	for _, id := range ended {
		if st, ok := known[id]; ok {
			out[id] = st
		} else if st, ok := live[id]; ok {
			out[id] = endNotKnown(st)
		}
	}
	return out, nil
}

// endNotKnown is a job that has ended, or may have, but how is not known
// yet: running, on its node, until Slurm says how it ended.
func endNotKnown(st EngineState) EngineState {
	return EngineState{Phase: PhaseRunning, Node: st.Node, StartedAt: st.StartedAt}
}

// slurmBases are the distinct job ids of ids (123 for 123_4), in order.
func slurmBases(ids []string) []string {
	var out []string
	for _, id := range ids {
		base, _, _ := strings.Cut(id, "_")
		if !slices.Contains(out, base) {
			out = append(out, base)
		}
	}
	return out
}

// command runs a Slurm command; its error names the command and carries
// its own error line.
func (s *Slurm) command(ctx context.Context, name string, args, env []string, as *User, stdin []byte, dir string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, slurmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// In the job's directory, which its user can enter: the daemon's own
	// may not let the user sbatch runs as even look around.
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if as != nil && as.UID != os.Geteuid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: as.credential()}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && as != nil && errors.Is(err, syscall.EPERM) && stderr.Len() == 0 {
		// The root daemon could not become the user: under runner.service
		// that is the capability bounding set.
		return nil, fmt.Errorf("%s: cannot run it as %s: the daemon may not switch users (runner.service needs the drop-in deploy/slurm/runner-slurm.conf: CAP_SETUID CAP_SETGID)", name, as.Name)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		if name == "sbatch" && ctx.Err() == nil {
			return nil, fmt.Errorf("sbatch %w: %s", ErrEngineRefused, msg)
		}
		return nil, fmt.Errorf("%s: %s", name, msg)
	}
	return out, nil
}

// slurmPhase maps a Slurm job state (squeue's %T, sacct's State,
// scontrol's JobState) to a phase and, for an end, its reason.
func slurmPhase(state string) (Phase, string) {
	state, _, _ = strings.Cut(state, " ") // sacct: "CANCELLED by 0"
	switch strings.TrimSuffix(state, "+") {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT":
		return PhasePending, ""
	case "COMPLETED", "FAILED":
		return PhaseEnded, ""
	case "CANCELLED":
		return PhaseEnded, "cancelled"
	case "TIMEOUT":
		return PhaseEnded, "timeout"
	case "OUT_OF_MEMORY":
		return PhaseEnded, "out of memory (Slurm)"
	case "NODE_FAIL":
		return PhaseEnded, "node failure (Slurm)"
	case "BOOT_FAIL":
		return PhaseEnded, "node boot failure (Slurm)"
	case "DEADLINE":
		return PhaseEnded, "deadline reached (Slurm)"
	case "PREEMPTED":
		return PhaseEnded, "preempted (Slurm)"
	case "REVOKED":
		return PhaseEnded, "revoked (Slurm)"
	}
	// RUNNING, CONFIGURING, COMPLETING, SUSPENDED, STOPPED, SIGNALING,
	// STAGE_OUT, RESIZING: the job has its node and has not ended yet.
	return PhaseRunning, ""
}

// slurmExit fills an ended state's exit from Slurm's "code:signal".
func slurmExit(st *EngineState, exit string) {
	code, sig, ok := strings.Cut(exit, ":")
	c, err1 := strconv.Atoi(code)
	n, err2 := strconv.Atoi(sig)
	if !ok || err1 != nil || err2 != nil {
		return
	}
	switch {
	case n > 0 && n < 65:
		st.Signal = signalName(syscall.Signal(n))
		return
	case n != 0:
		return // not a signal: Slurm's own mark (0:125 for its OOM kill); EndReason tells
	}
	st.ExitCode = &c
}

// slurmNode is a node list, "" for none ("None assigned", "(null)").
func slurmNode(s string) string {
	if s == "" || strings.HasPrefix(s, "None") || s == "(null)" {
		return ""
	}
	return s
}

// ParseSqueue reads `squeue --format=%i|%T|%N|%r|%S` lines. Ended jobs
// carry no exit code there: their phase is PhaseEnded with nothing else.
func ParseSqueue(out []byte) map[string]EngineState {
	m := map[string]EngineState{}
	for _, ln := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(ln), "|")
		if len(f) < 5 || f[0] == "" {
			continue
		}
		ph, _ := slurmPhase(f[1])
		st := EngineState{Phase: ph, Node: slurmNode(f[2])}
		if ph == PhasePending {
			st.Reason, st.NeverRuns = pendingReason(f[3])
		} else {
			st.StartedAt = slurmTimeOf(f[4])
		}
		m[f[0]] = st
	}
	return m
}

// pendingReason is Slurm's reason a job waits ("" for None), and whether
// it never will run.
func pendingReason(r string) (string, bool) {
	if r == "None" || r == "(null)" {
		r = ""
	}
	return r, r == "DependencyNeverSatisfied"
}

// slurmTimeOf reads Slurm's local time stamps; zero for Unknown, N/A, None.
func slurmTimeOf(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.Local)
	if err != nil {
		return time.Time{}
	}
	return t
}

// ParseSacct reads `sacct --parsable2 --noheader --allocations
// --format=JobID,State,ExitCode,NodeList,Start,End` lines.
func ParseSacct(out []byte) map[string]EngineState {
	m := map[string]EngineState{}
	for _, ln := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(ln), "|")
		if len(f) < 6 || f[0] == "" || strings.Contains(f[0], ".") {
			continue // steps (123.batch) are not jobs
		}
		st := slurmState(f[1], f[2], f[3], f[4], f[5], "")
		if st.Phase == PhaseEnded && st.EndReason == "" && st.EndedAt.IsZero() {
			// COMPLETED or FAILED without an end: a record slurmdbd has only
			// from the job's start message. Sent late (a loaded slurmctld),
			// it carries the state the job had already ended in but neither
			// its end nor its exit code ("FAILED|0:0|…|Unknown"), which would
			// read as a success. The job-complete message fills them in;
			// until then the job has not ended for us. (Seen once in e2e
			// under heavy load: a job that exited 3 recorded as succeeded.)
			st = endNotKnown(st)
		}
		m[f[0]] = st
	}
	return m
}

// ParseScontrol reads `scontrol --oneliner show job` lines (an array's
// tasks each on its line, JobId=4 ArrayJobId=2 ArrayTaskId=1 for 2_1).
func ParseScontrol(out []byte) map[string]EngineState {
	m := map[string]EngineState{}
	for _, ln := range strings.Split(string(out), "\n") {
		kv := map[string]string{}
		for _, f := range strings.Fields(ln) {
			if k, v, ok := strings.Cut(f, "="); ok {
				if _, seen := kv[k]; !seen {
					kv[k] = v
				}
			}
		}
		id := kv["JobId"]
		if id == "" {
			continue
		}
		if a, t := kv["ArrayJobId"], kv["ArrayTaskId"]; a != "" && t != "" && !strings.ContainsAny(t, "[,-") {
			id = a + "_" + t
		}
		m[id] = slurmState(kv["JobState"], kv["ExitCode"], kv["NodeList"], kv["StartTime"], kv["EndTime"], kv["Reason"])
	}
	return m
}

// slurmState is one job's state from sacct's or scontrol's fields.
func slurmState(state, exit, node, start, end, reason string) EngineState {
	ph, why := slurmPhase(state)
	st := EngineState{Phase: ph, Node: slurmNode(node)}
	switch ph {
	case PhasePending:
		st.Reason, st.NeverRuns = pendingReason(reason)
		st.Node = ""
	case PhaseRunning:
		st.StartedAt = slurmTimeOf(start)
	case PhaseEnded:
		st.EndReason, st.StartedAt, st.EndedAt = why, slurmTimeOf(start), slurmTimeOf(end)
		slurmExit(&st, exit)
		if why != "" && st.ExitCode != nil && *st.ExitCode == 0 {
			// sacct's allocation line of a job scancel stopped says 0:0
			// (its batch step has the signal): no exit code, not a success.
			st.ExitCode = nil
		}
	}
	return st
}

// Ping asks slurmctld whether it is up (`scontrol ping`), for runner doctor.
func (s *Slurm) Ping(ctx context.Context) (string, error) {
	out, err := s.command(ctx, "scontrol", []string{"ping"}, nil, nil, nil, "")
	if err != nil {
		return "", err
	}
	msg := strings.Join(strings.Fields(string(out)), " ")
	if !strings.Contains(msg, "is UP") {
		return "", errors.New(msg)
	}
	return msg, nil
}
