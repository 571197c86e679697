package app

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
)

func TestSubmitValidationAndExitCodes(t *testing.T) {
	c := newShell(t)
	// A daemon configured with fake GPUs must not break a plain submit.
	c.env["RUNNER_GPUS"] = "fake:4"
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no command", []string{"submit", "--gpus", "1"}, 2, "missing the job command"},
		{"same-run without after", []string{"submit", "--same-run", "--", "true"}, 2, "exactly one --after"},
		{"bad size", []string{"submit", "--gpu-mem", "lots", "--", "true"}, 2, "--gpu-mem"},
		{"bad after", []string{"submit", "--after", "x", "--", "true"}, 2, "want a job id"},
		{"secret in env", []string{"submit", "--env", "WANDB_API_KEY=" + testKey, "--", "true"}, 2, "WANDB_API_KEY"},
		{"unknown after", []string{"submit", "--after", "77", "--", "true"}, 1, "--after 77: no such job"},
		{"cancel unknown", []string{"cancel", "77"}, 1, "job 77"},
		{"cancel not a number", []string{"cancel", "seven"}, 2, "not a job id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := c.run(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.err) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.err)
			}
			if strings.Contains(stderr, testKey) {
				t.Fatal("the API key was echoed")
			}
		})
	}
}

// The job's command line starts at the first argument that is not one of
// runner's flags and is kept as typed: flags after it belong to the job.
func TestSubmitKeepsTheCommandAsTyped(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command []string
		name    string
	}{
		{[]string{"echo", "train", "--name", "exp1"}, []string{"echo", "train", "--name", "exp1"}, ""},
		{[]string{"python", "train.py", "--lr", "3e-4"}, []string{"python", "train.py", "--lr", "3e-4"}, ""},
		{[]string{"--name", "x", "python", "t.py", "--gpus", "2"}, []string{"python", "t.py", "--gpus", "2"}, "x"},
		{[]string{"--name=y", "--", "ls", "-l"}, []string{"ls", "-l"}, "y"},
		{[]string{"--name", "-odd-", "sh", "-c", "exit 3"}, []string{"sh", "-c", "exit 3"}, "-odd-"},
	} {
		c := newShell(t)
		out, stderr, code := c.run(append([]string{"submit", "--json"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("submit %q: exit %d: %s", tc.args, code, stderr)
		}
		var sub struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal([]byte(out), &sub); err != nil {
			t.Fatalf("submit %q: %v: %s", tc.args, err, out)
		}
		out, _, _ = c.run("jobs", "--json")
		var list []JobJSON
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
			t.Fatalf("jobs --json: %v %s", err, out)
		}
		got := list[0]
		name := ""
		if got.Name != nil {
			name = *got.Name
		}
		if strings.Join(got.Command, "\x00") != strings.Join(tc.command, "\x00") || name != tc.name {
			t.Errorf("submit %q: command %q name %q, want %q name %q", tc.args, got.Command, name, tc.command, tc.name)
		}
	}
	c := newShell(t)
	_, stderr, code := c.run("submit", "--gpu", "1", "--", "true")
	if code != 2 || !strings.Contains(stderr, "-gpu") || !strings.Contains(stderr, "did you mean --gpus?") ||
		!strings.Contains(stderr, "the job's own flags go after its command") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("unknown flag before the command: exit %d %q, want 2, one line naming it with a suggestion", code, stderr)
	}
}

func TestSubmitJobsCancelAndStatus(t *testing.T) {
	c := newShell(t)
	out, stderr, code := c.run("submit", "--json", "--gpus", "2", "--name", "train", "--priority", "3", "--timeout", "1h",
		"--", "python", "train.py", "--lr", "3e-4")
	var sub struct {
		ID    int64  `json:"id"`
		RunID string `json:"run_id"`
		State string `json:"state"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sub) != nil || sub.ID != 1 || sub.State != "queued" || len(sub.RunID) != 8 {
		t.Fatalf("submit --json: exit %d %q %s", code, out, stderr)
	}
	out, _, code = c.run("submit", "--after", "1", "--same-run", "--", "python", "eval.py")
	if code != 0 || strings.TrimSpace(out) != "2" {
		t.Fatalf("second submit printed %q (exit %d), want 2", out, code)
	}
	out, _, code = c.run("jobs", "--json")
	var list []JobJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("jobs --json: exit %d %s", code, out)
	}
	j := list[0]
	if strings.Join(j.Command, " ") != "python train.py --lr 3e-4" || j.GPUsRequested != 2 || j.Priority != 3 ||
		j.TimeoutS == nil || *j.TimeoutS != 3600 || j.Name == nil || *j.Name != "train" {
		t.Errorf("job 1 = %+v", j)
	}
	if list[1].RunID != sub.RunID || len(list[1].After) != 1 || list[1].After[0] != 1 {
		t.Errorf("job 2 = %+v; want run id %s after job 1", list[1], sub.RunID)
	}
	// Every documented key is present, absent values as null.
	var raw []map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"id", "name", "state", "reason", "gpus", "run_id", "submitted_at", "started_at", "ended_at",
		"exit_code", "signal", "attempts", "peak_mem_bytes", "mean_util", "energy_j"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("jobs --json lacks %q", k)
		}
	}
	out, _, code = c.run("cancel", "2")
	if code != 0 || !strings.Contains(out, "job 2 cancelled") {
		t.Fatalf("cancel queued job: exit %d %q", code, out)
	}
	if out, stderr, code := c.run("cancel", "2"); code != 0 || out != "job 2: already cancelled\n" {
		t.Fatalf("second cancel: exit %d %q %q; want 0, nothing to do", code, out, stderr)
	}
	out, _, _ = c.run("jobs", "--state", "cancelled")
	if !strings.Contains(out, "cancelled") || strings.Contains(out, "train") {
		t.Errorf("jobs --state cancelled:\n%s", out)
	}
	if _, _, code := c.run("jobs", "--state", "done"); code != 2 {
		t.Errorf("jobs --state done: exit %d, want 2", code)
	}
	out, _, _ = c.run("status", "--json")
	var st status.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Jobs["queued"] != 1 || st.Jobs["cancelled"] != 1 || st.GPUs != nil {
		t.Fatalf("status jobs %v gpus %v (%v)", st.Jobs, st.GPUs, err)
	}
	out, _, _ = c.run("status")
	if !strings.Contains(out, "jobs:     1 queued (daemon down), 1 cancelled") {
		t.Errorf("status text:\n%s", out)
	}
	if _, stderr, code := c.run("logs", "1"); code != 1 || !strings.Contains(stderr, "no output yet") {
		t.Errorf("logs of a queued job: exit %d %q", code, stderr)
	}
}

func TestGPUsFromAnInventory(t *testing.T) {
	c := newShell(t)
	out, _, code := c.run("gpus", "--gpus", "fake:2:16GiB", "--json")
	var gpus []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &gpus) != nil || len(gpus) != 2 || gpus[1]["memory_total_bytes"] != float64(16<<30) {
		t.Fatalf("gpus --json: exit %d %s", code, out)
	}
	if _, ok := gpus[0]["held_by_job"]; !ok {
		t.Error("gpus --json lacks held_by_job")
	}
	if _, _, code := c.run("gpus", "--gpus", "fake:zero"); code != 2 {
		t.Errorf("bad --gpus: exit %d, want 2", code)
	}
	out, _, _ = c.run("gpus", "--gpus", "none")
	if !strings.Contains(out, "no GPUs") {
		t.Errorf("gpus --gpus none: %q", out)
	}
}

// A GPU job no GPU set of this machine can ever satisfy is refused at
// submit, naming the GPUs, once the daemon has seen them; --hold queues it.
func TestSubmitRefusesWhatCanNeverRun(t *testing.T) {
	c := newShell(t)
	if _, stderr, code := c.run("submit", "--gpus", "3", "true"); code != 0 {
		t.Fatalf("no GPU view yet: exit %d %s, want queued (it waits with a reason)", code, stderr)
	}
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := json.Marshal(jobs.Snapshot{Inventory: "fake", GPUs: []jobs.GPUStatus{
		{Index: 0, UUID: "GPU-a", Name: "Fake GPU", MemoryTotal: 16 << 30},
		{Index: 1, UUID: "GPU-b", Name: "Fake GPU", MemoryTotal: 16 << 30},
	}})
	if err := db.SetGPUSnapshot(context.Background(), string(snap)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--gpus", "3"}, 2, "this job can never run: it needs 3 GPUs but this machine has 2 (fake GPUs: 0: Fake GPU 16 GiB, 1: Fake GPU 16 GiB); --hold queues it anyway"},
		{[]string{"--gpus", "1", "--gpu-mem", "40GiB"}, 2, "needs 1 GPU with 40 GiB memory but this machine has 0"},
		{[]string{"--gpus", "2", "--gpu-mem", "16GiB"}, 0, ""},
		{[]string{"--gpus", "3", "--hold"}, 0, ""},
		{[]string{"--gpus", "0"}, 0, ""},
	} {
		_, stderr, code := c.run(append(append([]string{"submit"}, tc.args...), "true")...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("submit %v: exit %d %q, want %d with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// What Slurm cannot honour is refused at submit, saying why (exit 2); a
// submit sbatch refuses is exit 1 with sbatch's words and leaves no job
// behind (no failed row, no Slurm columns in the table); a Slurm job may
// not wait for a local one.
func TestSubmitToSlurmRefusals(t *testing.T) {
	c := newShell(t)
	bin := t.TempDir()
	sbatch := "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(sbatch), 0o755); err != nil {
		t.Fatal(err)
	}
	c.env["PATH"] = bin + ":" + c.env["PATH"]
	if _, stderr, code := c.run("submit", "--executor", "slurm", "--", "true"); code != 1 || !strings.Contains(stderr, "no daemon has run on this ledger yet") {
		t.Errorf("slurm submit before any daemon: exit %d %q", code, stderr)
	}
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Heartbeat(context.Background(), ledger.Daemon{PID: 1, Executor: ledger.ExecutorSlurm, JobsWandbDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	local, stderr, code := c.run("submit", "--executor", "local", "--", "true")
	if code != 0 {
		t.Fatalf("local submit beside a slurm daemon: exit %d %q", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--gpus", "1", "--gpu-mem", "20GiB"}, 2, "--executor slurm cannot honour --gpu-mem/--share (Slurm allocates whole GPUs: --gpus N)"},
		{[]string{"--retries", "2"}, 2, "--retries (Slurm requeues by its own rules"},
		{[]string{"--priority", "5"}, 2, "--priority (Slurm orders its queue"},
		{[]string{"--executor", "kubernetes"}, 2, `--executor "kubernetes": want local or slurm`},
		{[]string{"--after", strings.TrimSpace(local)}, 2, "that job runs on the local executor; a slurm job can only wait for slurm jobs"},
		{nil, 1, "sbatch refused: sbatch: error: Batch job submission failed: Invalid partition name specified"},
	} {
		_, stderr, code := c.run(append(append([]string{"submit"}, tc.args...), "--", "true")...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("submit %v: exit %d %q, want %d and one line with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	out, _, _ := c.run("jobs", "--json")
	var list []JobJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if n := len(list); n != 1 || list[0].Executor != "local" {
		t.Errorf("jobs after the refusals: want only the local job: %s", out)
	}
	if out, _, _ := c.run("jobs", "--all"); strings.Contains(out, "SLURM") || strings.Contains(out, "NODE") {
		t.Errorf("a refused Slurm submit left Slurm columns in the table:\n%s", out)
	}
}

// `runner jobs` shows an array's waiting tasks as one row (17_[0-3], as
// squeue does); --array lists each task, --json every job.
func TestJobsCollapsesAQueuedArray(t *testing.T) {
	c := newShell(t)
	if _, stderr, code := c.run("submit", "--array", "0-3,7", "--name", "grid", "--", "true"); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	if _, stderr, code := c.run("hold", "3"); code != 0 { // index 2 waits apart
		t.Fatalf("hold: exit %d: %s", code, stderr)
	}
	rows := func(args ...string) []string {
		t.Helper()
		out, stderr, code := c.run(append([]string{"jobs", "--no-header", "--format", "id,name,state,reason"}, args...)...)
		if code != 0 {
			t.Fatalf("jobs %q: exit %d: %s", args, code, stderr)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		return lines
	}
	want := []string{"1_[0-1,3,7] grid queued daemon down", "3 grid[2] queued -"}
	if got := rows(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("jobs: %q; want %q", got, want)
	}
	if got := rows("--array", "1"); len(got) != 5 || got[0] != "1 grid[0] queued daemon down" {
		t.Errorf("jobs --array 1: %q; want the 5 tasks, one a row", got)
	}
	out, _, _ := c.run("jobs", "--json")
	var list []JobJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 5 {
		t.Errorf("jobs --json: %d objects (%v); want one per job, 5", len(list), err)
	}

	// A task as Slurm names it, ARRAY_INDEX: jobs shows it; the verbs that
	// take job ids say where its own id is.
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, said string
	}{
		{[]string{"jobs", "1_7"}, 0, "id:             5\nname:           grid\n", ""},
		{[]string{"jobs", "1_4"}, 1, "", "job 1_4: not found (array 1 has no task with index 4)"},
		{[]string{"jobs", "9_0"}, 1, "", "job 9_0: not found"},
		{[]string{"cancel", "1_2"}, 2, "", `"1_2" is a task of array 1, not a job id: give the task's own id (runner jobs --array 1), or 1 for all its jobs`},
		{[]string{"jobs", "1_[0-1,3,7]"}, 2, "", "is a task of array 1"},
	} {
		out, stderr, code := c.run(tc.args...)
		if code != tc.code || !strings.HasPrefix(out, tc.stdout) || !strings.Contains(stderr, tc.said) {
			t.Errorf("%q: exit %d, stdout %.40q, stderr %q; want exit %d, stdout from %q, stderr with %q", tc.args, code, out, stderr, tc.code, tc.stdout, tc.said)
		}
	}
}

// runner config changes the queue's limits in the ledger (they outlive a
// daemon restart) and says when they already were so; status shows them.
func TestConfigSetsTheQueueLimits(t *testing.T) {
	c := newShell(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"config", "set", "cpu-slots", "4"}, 0, "cpu-slots: 4 (the next plan uses it; running jobs go on)\n", ""},
		{[]string{"config"}, 0, "cpu-slots: 4 (runner config; wins over the daemon's --cpu-slots)\ngpus: - (the daemon's --gpus)\n", ""},
		{[]string{"config", "set", "cpu-slots", "4"}, 0, "cpu-slots: already 4\n", ""},
		{[]string{"config", "set", "gpus", "1, 0,1"}, 0, "gpus: 0,1 (the next plan uses it; running jobs go on)\n", ""},
		{[]string{"config"}, 0, "cpu-slots: 4 (runner config; wins over the daemon's --cpu-slots)\ngpus: 0,1 (runner config; wins over the daemon's --gpus)\n", ""},
		{[]string{"config", "set", "cpu-slots", "0"}, 2, "", "want a positive number"},
		{[]string{"config", "set", "gpus", "first"}, 2, "", "want GPU indexes like 0,1"},
		{[]string{"config", "set", "memory", "1"}, 2, "", `unknown setting "memory"`},
		{[]string{"config", "set", "gpus"}, 2, "", "want no argument, set KEY VALUE or unset KEY"},
	} {
		out, stderr, code := c.run(tc.args...)
		if code != tc.code || out != tc.stdout || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", tc.args, code, out, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	if out, _, _ := c.run("status"); !strings.Contains(out, "limits:   cpu-slots 4, gpus 0,1 (runner config") {
		t.Errorf("status does not show the limits:\n%s", out)
	}
	for _, want := range []string{"gpus: back to the daemon's --gpus\n", "gpus: not set (the daemon's --gpus)\n"} {
		if out, _, code := c.run("config", "unset", "gpus"); code != 0 || out != want {
			t.Errorf("config unset gpus: exit %d %q; want %q", code, out, want)
		}
	}
}

// submit --output/--error of a Slurm job: %j is runner's job id and %x its
// name, as for a local job; the batch script sends the command's streams
// there (an array's each task to its own files), and runner logs reads them.
func TestSubmitToSlurmWithOutputFiles(t *testing.T) {
	c := newShell(t)
	bin, work := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake sbatch keeps each script (its stdin) and answers an id, as --parsable does.
	sbatch := "#!/bin/sh\nn=$(ls " + bin + " | grep -c script)\ncat > " + bin + "/script$n.sh\necho 900$n\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(sbatch), 0o755); err != nil {
		t.Fatal(err)
	}
	c.env["PATH"] = bin + ":" + c.env["PATH"]
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Heartbeat(context.Background(), ledger.Daemon{PID: 1, Executor: ledger.ExecutorSlurm, JobsWandbDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	runScript := func(n int, env ...string) {
		t.Helper()
		cmd := exec.Command("sh", filepath.Join(bin, "script"+strconv.Itoa(n)+".sh"))
		cmd.Dir, cmd.Env = work, append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("batch script %d: %v: %s", n, err, out)
		}
	}
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(work, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	out, stderr, code := c.run("submit", "--executor", "slurm", "--cwd", work, "--name", "train", "--output", "logs/%x-%j.out",
		"--", "sh", "-c", "echo out; echo err >&2")
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("slurm submit --output: exit %d %q %q", code, out, stderr)
	}
	runScript(0)
	if got := read("logs/train-1.out"); got != "out\nerr\n" {
		t.Errorf("logs/train-1.out = %q; want both streams", got)
	}
	if got, _, code := c.run("logs", "1"); code != 0 || got != "out\nerr\n" {
		t.Errorf("runner logs 1: exit %d %q; want the --output file", code, got)
	}

	if _, stderr, code := c.run("submit", "--executor", "slurm", "--cwd", work, "--array", "3,5", "--output", "logs/%j.out",
		"--error", "logs/%j.err", "--", "sh", "-c", "echo out $RUNNER_ARRAY_INDEX; echo err >&2"); code != 0 {
		t.Fatalf("slurm array submit --output --error: exit %d %q", code, stderr)
	}
	runScript(1, "SLURM_ARRAY_TASK_ID=5")
	if got, gotErr := read("logs/3.out"), read("logs/3.err"); got != "out 5\n" || gotErr != "err\n" {
		t.Errorf("task 5 (job 3) wrote %q and %q; want its own stdout and stderr files", got, gotErr)
	}
}
