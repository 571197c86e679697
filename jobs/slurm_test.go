package jobs

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The outputs below were read off slurm-wlm 22.05.8 (Debian 12) running
// deploy/slurm/testcluster.
func TestParseSlurmStates(t *testing.T) {
	start := time.Date(2026, 12, 2, 5, 50, 57, 0, time.Local)
	squeue := "7|CANCELLED|vm|None|2026-12-02T05:50:57\n5|FAILED|vm|NonZeroExitCode|2026-12-02T05:50:57\n" +
		"6|PENDING||DependencyNeverSatisfied|N/A\n2_0|PENDING||Resources|2026-12-02T06:50:57\n" +
		"2_1|RUNNING|vm|None|2026-12-02T05:50:57\n9|COMPLETING|vm|None|2026-12-02T05:50:57\n11|PENDING||None|N/A\n"
	got := ParseSqueue([]byte(squeue))
	want := map[string]EngineState{
		"7":   {Phase: PhaseEnded, Node: "vm", StartedAt: start},
		"5":   {Phase: PhaseEnded, Node: "vm", StartedAt: start},
		"6":   {Phase: PhasePending, Reason: "DependencyNeverSatisfied", NeverRuns: true},
		"2_0": {Phase: PhasePending, Reason: "Resources"},
		"2_1": {Phase: PhaseRunning, Node: "vm", StartedAt: start},
		"9":   {Phase: PhaseRunning, Node: "vm", StartedAt: start},
		"11":  {Phase: PhasePending},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("squeue:\n got %+v\nwant %+v", got, want)
	}

	end := time.Date(2026, 12, 2, 5, 55, 2, 0, time.Local)
	scontrol := "JobId=7 JobName=wrap UserId=root(0) JobState=CANCELLED Reason=None Dependency=(null) ExitCode=0:15 " +
		"StartTime=2026-12-02T05:50:57 EndTime=2026-12-02T05:55:02 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm\n" +
		"JobId=1 JobName=t1 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 EndTime=2026-12-02T05:55:02 NodeList=vm\n" +
		"JobId=4 ArrayJobId=2 ArrayTaskId=1 JobState=COMPLETED Reason=None ExitCode=0:0 EndTime=2026-12-02T05:55:02 NodeList=vm\n" +
		"JobId=6 JobState=PENDING Reason=DependencyNeverSatisfied Dependency=afterok:5(failed) ExitCode=0:0 EndTime=Unknown NodeList=(null)\n" +
		"JobId=8 ArrayJobId=8 ArrayTaskId=3-9%2 JobState=PENDING Reason=JobArrayTaskLimit ExitCode=0:0 NodeList=(null)\n" +
		"JobId=10 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 EndTime=2026-12-02T05:55:02 NodeList=vm\n"
	gotC := ParseScontrol([]byte(scontrol))
	wantC := map[string]EngineState{
		"7":   {Phase: PhaseEnded, Node: "vm", Signal: "SIGTERM", EndReason: "cancelled", StartedAt: start, EndedAt: end},
		"1":   {Phase: PhaseEnded, Node: "vm", ExitCode: ptr(3), EndedAt: end},
		"2_1": {Phase: PhaseEnded, Node: "vm", ExitCode: ptr(0), EndedAt: end},
		"6":   {Phase: PhasePending, Reason: "DependencyNeverSatisfied", NeverRuns: true},
		// A pending array's remaining tasks are one line: not any task's state.
		"8":  {Phase: PhasePending, Reason: "JobArrayTaskLimit"},
		"10": {Phase: PhaseEnded, Node: "vm", Signal: "SIGTERM", EndReason: "timeout", EndedAt: end},
	}
	if !reflect.DeepEqual(gotC, wantC) {
		t.Errorf("scontrol:\n got %+v\nwant %+v", gotC, wantC)
	}

	sacct := "12|COMPLETED|0:0|node7|2026-12-02T05:50:57|2026-12-02T05:55:02\n12.batch|COMPLETED|0:0|node7|2026-12-02T05:50:57|2026-12-02T05:55:02\n" +
		"13_4|CANCELLED by 1000|0:15|node3|2026-12-02T05:50:57|2026-12-02T05:55:02\n" +
		"31|CANCELLED by 0|0:0|vm|2026-12-02T05:50:57|2026-12-02T05:55:02\n14|OUT_OF_MEMORY|0:125|node1|2026-12-02T05:50:57|2026-12-02T05:55:02\n" +
		"15|RUNNING|0:0|node2|2026-12-02T05:50:57|Unknown\n16|FAILED|127:0|node2|2026-12-02T05:50:57|2026-12-02T05:55:02\n" +
		"17|NODE_FAIL|1:0|None assigned|Unknown|2026-12-02T05:55:02\n18|PENDING|0:0|None assigned|Unknown|Unknown\n" +
		"19|FAILED|0:0|vm|2026-12-02T05:50:57|Unknown\n"
	gotS := ParseSacct([]byte(sacct))
	wantS := map[string]EngineState{
		"12":   {Phase: PhaseEnded, Node: "node7", ExitCode: ptr(0), StartedAt: start, EndedAt: end},
		"13_4": {Phase: PhaseEnded, Node: "node3", Signal: "SIGTERM", EndReason: "cancelled", StartedAt: start, EndedAt: end},
		// Read off sacct with slurmdbd: a scancel'd job's allocation line.
		"31": {Phase: PhaseEnded, Node: "vm", EndReason: "cancelled", StartedAt: start, EndedAt: end},
		// 0:125 is Slurm's mark of its OOM kill, not a signal.
		"14": {Phase: PhaseEnded, Node: "node1", EndReason: "out of memory (Slurm)", StartedAt: start, EndedAt: end},
		"15": {Phase: PhaseRunning, Node: "node2", StartedAt: start},
		"16": {Phase: PhaseEnded, Node: "node2", ExitCode: ptr(127), StartedAt: start, EndedAt: end},
		"17": {Phase: PhaseEnded, ExitCode: ptr(1), EndReason: "node failure (Slurm)", EndedAt: end},
		"18": {Phase: PhasePending},
		// Known to slurmdbd only from a late start message: its end and
		// exit code are still to come, so it has not ended (not "exit 0").
		"19": {Phase: PhaseRunning, Node: "vm", StartedAt: start},
	}
	if !reflect.DeepEqual(gotS, wantS) {
		t.Errorf("sacct:\n got %+v\nwant %+v", gotS, wantS)
	}
}

func TestSbatchArgs(t *testing.T) {
	one := Submission{
		Jobs: []EngineJob{{ID: 12, Argv: []string{"python", "train.py"}}}, Name: "train", GPUs: 2, CPUs: 8,
		MemMax: 64 << 30, Timeout: 90*time.Minute + time.Second, Dir: "/home/a/proj", After: []string{"100", "101_3"},
		AfterAny: []string{"102"}, AfterNotOK: []string{"103"}, Hold: true,
	}
	want := []string{"--parsable", "--export=ALL", "--chdir=/home/a/proj", "--job-name=train", "--gres=gpu:2",
		"--cpus-per-task=8", "--mem=67108864K", "--time=0-01:31:00", "--dependency=afterok:100:101_3,afterany:102,afternotok:103", "--hold",
		"--output=/home/a/proj/runner-job-12.log", "--open-mode=append"}
	if got := SbatchArgs(one); !reflect.DeepEqual(got, want) {
		t.Errorf("one job:\n got %q\nwant %q", got, want)
	}
	arr := Submission{
		Jobs: []EngineJob{{ID: 20, ArrayIndex: 1}, {ID: 21, ArrayIndex: 3}, {ID: 22, ArrayIndex: 8}}, Array: true,
		ArrayLimit: 2, Dir: "/data/50%", Timeout: 3 * 24 * time.Hour,
	}
	want = []string{"--parsable", "--export=ALL", "--chdir=/data/50%", "--job-name=runner-20", "--time=3-00:00:00",
		"--array=1,3,8%2", "--output=/data/50%%/runner-job-20_%a.log", "--open-mode=append"}
	if got := SbatchArgs(arr); !reflect.DeepEqual(got, want) {
		t.Errorf("array:\n got %q\nwant %q", got, want)
	}
	// The log path runner records is the one Slurm writes.
	if got := SlurmLogPath("/data/50%", 21, 20, 3, true); got != "/data/50%/runner-job-20_3.log" {
		t.Errorf("array log path %q", got)
	}
	for _, a := range append(SbatchArgs(one), SbatchArgs(arr)...) {
		if strings.Contains(a, "KEY") || strings.Contains(a, "TOKEN") {
			t.Errorf("an environment value on sbatch's command line: %q", a)
		}
	}
}

// The batch script runs each job's command, as typed, with its variables,
// the array's job chosen by SLURM_ARRAY_TASK_ID.
func TestSlurmScriptRunsEachJob(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	sub := Submission{Array: true, Jobs: []EngineJob{
		{ID: 5, ArrayIndex: 0, Argv: []string{"printf", "%s|%s|%s\n", "it's", "$HOME"}, Env: []string{"RUNNER_JOB_ID=5", "WANDB_RUN_ID=aaaa1111"}},
		{ID: 6, ArrayIndex: 7, Argv: []string{"sh", "-c", `echo "$RUNNER_JOB_ID $WANDB_RUN_ID $X"`}, Env: []string{"RUNNER_JOB_ID=6", "WANDB_RUN_ID=bbbb2222", "X=a b"}},
	}}
	script, err := SlurmScript(sub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(path, script, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ task, want string }{
		{"0", "it's|$HOME|\n"},
		{"7", "6 bbbb2222 a b\n"},
	} {
		cmd := exec.Command(sh, path)
		cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+c.task)
		out, err := cmd.Output()
		if err != nil || string(out) != c.want {
			t.Errorf("task %s: %q, %v; want %q", c.task, out, err, c.want)
		}
	}
	cmd := exec.Command(sh, path)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=3")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no job for array index 3") {
		t.Errorf("unknown index: %q, %v", out, err)
	}

	big := Submission{Array: true}
	for i := range 40000 {
		big.Jobs = append(big.Jobs, EngineJob{ID: int64(i), ArrayIndex: int64(i), Argv: []string{"python", "train.py", "--lr", "0.001"},
			Env: []string{"RUNNER_JOB_ID=1000000", "WANDB_RUN_ID=abcdefgh", "WANDB_DIR=/shared/wandb/of/a/long/path"}})
	}
	if _, err := SlurmScript(big); err == nil {
		t.Error("a 40,000-job script past sbatch's 4 MB was accepted")
	}
}

// A Slurm job's --output and --error are opened by its shell on the node:
// stdout and stderr apart with both, together with --output alone, and
// appended to (a requeued job keeps its first attempt's lines); with --error
// alone stdout stays the script's, which sbatch's --output keeps.
func TestSlurmScriptWritesOutputFiles(t *testing.T) {
	dir := t.TempDir()
	out, errp, both := filepath.Join(dir, "it's.out"), filepath.Join(dir, "7.err"), filepath.Join(dir, "both.log")
	errOnly := filepath.Join(dir, "9.err")
	if err := os.WriteFile(out, []byte("earlier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := Submission{Array: true, Jobs: []EngineJob{
		{ID: 7, ArrayIndex: 0, Argv: []string{"sh", "-c", "echo o; echo e >&2"}, Stdout: out, Stderr: errp},
		{ID: 8, ArrayIndex: 1, Argv: []string{"sh", "-c", "echo o; echo e >&2"}, Stdout: both, Stderr: both},
		{ID: 9, ArrayIndex: 2, Argv: []string{"sh", "-c", "echo o; echo e >&2"}, Stderr: errOnly},
	}}
	script, err := SlurmScript(sub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(path, script, 0o700); err != nil {
		t.Fatal(err)
	}
	for task, want := range map[string]string{"0": "", "1": "", "2": "o\n"} {
		cmd := exec.Command("sh", path)
		cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+task)
		if got, err := cmd.CombinedOutput(); err != nil || string(got) != want {
			t.Errorf("task %s printed %q (%v), want %q (the rest in its files)", task, got, err, want)
		}
	}
	for path, want := range map[string]string{out: "earlier\no\n", errp: "e\n", both: "o\ne\n", errOnly: "e\n"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", filepath.Base(path), got, err, want)
		}
	}
}

func TestEngineEnvLeavesGPUsToTheEngine(t *testing.T) {
	env := EngineEnv(Spec{ID: 9, RunID: "r1", WandbDir: "/w", Env: []string{"A=1"}, ArrayID: 9, ArrayIndex: 2})
	want := []string{"A=1", "WANDB_MODE=offline", "WANDB_DIR=/w", "WANDB_RUN_ID=r1", "RUNNER_ARRAY_ID=9", "RUNNER_ARRAY_INDEX=2", "RUNNER_JOB_ID=9"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("got %q\nwant %q", env, want)
	}
	got := SubmitterEnv([]string{"PATH=/venv/bin", "CUDA_VISIBLE_DEVICES=3", "WANDB_RUN_ID=old", "NOTIFY_SOCKET=/x", "SLURM_CONF=/etc/s.conf"})
	if want := []string{"PATH=/venv/bin", "SLURM_CONF=/etc/s.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("submitter env %q, want %q", got, want)
	}
}

// States merges squeue (live jobs) with sacct (how ended ones ended), or
// scontrol where accounting is off; a job nobody knows is absent. The
// commands are fakes on PATH printing what the real ones print.
func TestSlurmStatesFallsBackToScontrol(t *testing.T) {
	for _, accounting := range []bool{true, false} {
		bin := t.TempDir()
		write := func(name, script string) {
			if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write("squeue", `echo "$*" >> "$(dirname "$0")/calls"
printf '%s\n' '20|RUNNING|n1|None|2026-12-02T05:50:57' '21|COMPLETED|n2|None|2026-12-02T05:50:57' '30_1|PENDING||Priority|N/A' '30_0|FAILED|n3|NonZeroExitCode|2026-12-02T05:50:57'
`)
		if accounting {
			write("sacct", `echo "$*" >> "$(dirname "$0")/calls"
printf '%s\n' '21|COMPLETED|0:0|n2|2026-12-02T05:50:57|2026-12-02T05:55:02' '21.batch|COMPLETED|0:0|n2|x|y' '30_0|FAILED|2:0|n3|2026-12-02T05:50:57|2026-12-02T05:55:02' '30_1|PENDING|0:0|None assigned|Unknown|Unknown'
`)
		} else {
			write("sacct", "echo 'Slurm accounting storage is disabled' >&2; exit 1\n")
		}
		write("scontrol", `echo "$*" >> "$(dirname "$0")/calls"
case "$4" in
21) echo 'JobId=21 JobState=COMPLETED Reason=None ExitCode=0:0 StartTime=2026-12-02T05:50:57 EndTime=2026-12-02T05:55:02 NodeList=n2' ;;
30) echo 'JobId=31 ArrayJobId=30 ArrayTaskId=0 JobState=FAILED Reason=NonZeroExitCode ExitCode=2:0 StartTime=2026-12-02T05:50:57 EndTime=2026-12-02T05:55:02 NodeList=n3'
    echo 'JobId=30 ArrayJobId=30 ArrayTaskId=1 JobState=PENDING Reason=Priority ExitCode=0:0 NodeList=(null)' ;;
*) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1 ;;
esac
`)
		t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
		got, err := (&Slurm{}).States(t.Context(), []string{"20", "21", "30_0", "30_1", "99"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 12, 2, 5, 50, 57, 0, time.Local)
		end := time.Date(2026, 12, 2, 5, 55, 2, 0, time.Local)
		want := map[string]EngineState{
			"20":   {Phase: PhaseRunning, Node: "n1", StartedAt: start},
			"21":   {Phase: PhaseEnded, Node: "n2", ExitCode: ptr(0), StartedAt: start, EndedAt: end},
			"30_0": {Phase: PhaseEnded, Node: "n3", ExitCode: ptr(2), StartedAt: start, EndedAt: end},
			"30_1": {Phase: PhasePending, Reason: "Priority"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("accounting %v:\n got %+v\nwant %+v", accounting, got, want)
		}
		calls, _ := os.ReadFile(filepath.Join(bin, "calls"))
		if accounting && !strings.Contains(string(calls), "--jobs=21,30,99\n") || !accounting && !strings.Contains(string(calls), "--oneliner show job 30\n") {
			t.Errorf("accounting %v: calls\n%s", accounting, calls)
		}
	}
}
