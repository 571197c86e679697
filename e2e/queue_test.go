package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
)

// code runs runner and returns its stdout and exit code, whatever it is.
func (h *harness) code(args ...string) (string, string, int) {
	h.t.Helper()
	out, errOut, code, hung := h.command(nil, 60*time.Second, args...)
	if hung {
		h.t.Fatalf("runner %v did not end", args)
	}
	return out, errOut, code
}

// The everyday verbs, end to end against a daemon with fake GPUs.
func TestQueueVerbs(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1", "--sample-interval", "200ms")
	id := func(out string) string { return strings.TrimSpace(out) }

	// wait: the first failed job's exit code, passed through; 0 when all
	// succeeded; 1 for a cancelled one; 124 on its own timeout.
	ok := id(h.runOK("submit", "true"))
	bad := id(h.runOK("submit", "sh", "-c", "exit 3"))
	worse := id(h.runOK("submit", "sh", "-c", "exit 5"))
	for _, tc := range []struct {
		ids  []string
		code int
	}{{[]string{ok}, 0}, {[]string{ok, bad, worse}, 3}, {[]string{worse, bad}, 5}} {
		if _, errOut, code := h.code(append([]string{"wait"}, tc.ids...)...); code != tc.code {
			t.Errorf("wait %v: exit %d (%s), want %d", tc.ids, code, errOut, tc.code)
		}
	}
	long := id(h.runOK("submit", "--name", "long", "sleep", "30"))
	if _, errOut, code := h.code("wait", "--timeout", "300ms", long); code != 124 || !strings.Contains(errOut, "did not end within") {
		t.Errorf("wait --timeout: exit %d, %q; want 124", code, errOut)
	}
	h.runOK("cancel", long)
	if _, _, code := h.code("wait", long); code != 1 {
		t.Errorf("wait for a cancelled job: exit %d, want 1", code)
	}

	// submit --wait streams the output and exits with the job's code.
	out, _, code := h.code("submit", "--wait", "sh", "-c", "echo one; echo two; exit 7")
	if code != 7 || out != "one\ntwo\n" {
		t.Errorf("submit --wait: exit %d, output %q; want 7 and the job's output", code, out)
	}

	// logs --tail N.
	five := id(h.runOK("submit", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"))
	h.runOK("wait", five)
	if out := h.runOK("logs", "--tail", "2", five); out != "line4\nline5\n" {
		t.Errorf("logs --tail 2: %q", out)
	}

	// hold / release.
	held := id(h.runOK("submit", "--hold", "--gpus", "4", "true")) // held: never-fits is not checked
	time.Sleep(500 * time.Millisecond)
	if j := h.job(mustID(t, held)); j.State != ledger.JobQueued || !strings.Contains(j.Reason, "held") {
		t.Errorf("held job: %s %q", j.State, j.Reason)
	}
	h.runOK("release", held)
	h.eventually(15*time.Second, "released job's reason", func() bool {
		r := h.job(mustID(t, held)).Reason
		return r != "" && !strings.Contains(r, "held")
	})
	h.runOK("cancel", held)

	// --after-any runs after a failure; --after is skipped; requeue of the
	// failed job queues the skipped one again, and both run.
	flag := filepath.Join(t.TempDir(), "second-time")
	flaky := id(h.runOK("submit", "sh", "-c", "test -e "+flag+" || { touch "+flag+"; exit 1; }"))
	anyway := id(h.runOK("submit", "--after-any", flaky, "true"))
	onlyOK := id(h.runOK("submit", "--after", flaky, "true"))
	onFailure := id(h.runOK("submit", "--after-notok", flaky, "true"))
	h.waitJob(mustID(t, anyway), ledger.JobSucceeded)
	h.waitJob(mustID(t, onlyOK), ledger.JobSkipped)
	h.waitJob(mustID(t, onFailure), ledger.JobSucceeded)
	// --after-notok of a job that succeeded: skipped, saying why.
	notNeeded := id(h.runOK("submit", "--after-notok", anyway, "true"))
	if j := h.waitJob(mustID(t, notNeeded), ledger.JobSkipped); !strings.Contains(j.Reason, "dependency "+anyway+" succeeded") {
		t.Errorf("--after-notok of a succeeded job: reason %q", j.Reason)
	}
	before := h.job(mustID(t, flaky))
	if out := h.runOK("requeue", flaky); !strings.Contains(out, "job "+onlyOK+" queued again") {
		t.Errorf("requeue output %q does not name the skipped dependent", out)
	}
	after := h.waitJob(mustID(t, flaky), ledger.JobSucceeded)
	h.waitJob(mustID(t, onlyOK), ledger.JobSucceeded)
	if after.RunID != before.RunID || after.Attempts != before.Attempts+1 {
		t.Errorf("requeued job: run id %s→%s attempts %d→%d; want the same run and one more attempt",
			before.RunID, after.RunID, before.Attempts, after.Attempts)
	}
	if _, _, code := h.code("requeue", "--new-run", flaky); code != 0 {
		t.Errorf("requeue --new-run: exit %d", code)
	}
	if j := h.waitJob(mustID(t, flaky), ledger.JobSucceeded); j.RunID == before.RunID {
		t.Errorf("requeue --new-run kept run id %s", j.RunID)
	}

	// Labels, and cancelling many at once.
	for _, n := range []string{"grp-a", "grp-b", "other"} {
		h.runOK("submit", "--hold", "--name", n, "--label", "exp="+n[:3], "true")
	}
	js := h.runOK("jobs", "--label", "exp=grp", "--json")
	var labelled []struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(js), &labelled); err != nil || len(labelled) != 2 || labelled[0].Labels["exp"] != "grp" {
		t.Errorf("jobs --label exp=grp: %v\n%s", err, js)
	}
	if out := h.runOK("cancel", "--name", "grp-*"); strings.Count(out, "cancelled") != 2 {
		t.Errorf("cancel --name grp-*: %q", out)
	}
	if out := h.runOK("cancel", "--all"); strings.Count(out, "cancelled") != 1 {
		t.Errorf("cancel --all (one left): %q", out)
	}
	a, b := id(h.runOK("submit", "--hold", "true")), id(h.runOK("submit", "--hold", "true"))
	if out := h.runOK("cancel", a, b); strings.Count(out, "cancelled") != 2 {
		t.Errorf("cancel %s %s: %q", a, b, out)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("not a job id: %q", s)
	}
	return id
}

// runOK runs runner and fails the test unless it exits 0.
func (h *harness) runOK(args ...string) string {
	h.t.Helper()
	out, errOut, code := h.code(args...)
	if code != 0 {
		h.t.Fatalf("runner %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// An array runs at most %K at once with its index and group in the
// environment; a sweep expands its grid in the file's order, each point
// its own W&B run in the sweep's group, which the leaderboard ranks.
func TestArraysAndSweeps(t *testing.T) {
	h := newHarness(t)
	fakejob := testbin.Build(t, "./testdata/fakejob", "fakejob")
	h.startDaemon("--gpus", "fake:4", "--sample-interval", "200ms")

	arr := strings.TrimSpace(h.runOK("submit", "--array", "0-5%2", "--", "sh", "-c",
		`echo "$RUNNER_ARRAY_ID $RUNNER_ARRAY_INDEX $WANDB_RUN_GROUP"; sleep 0.3`))
	aid := mustID(t, arr)
	maxRunning := 0
	h.eventually(30*time.Second, "the array's end", func() bool {
		list := h.arrayJobs(aid)
		running, ended := 0, 0
		for _, j := range list {
			if j.State == ledger.JobRunning {
				running++
			}
			if j.State.Ended() {
				ended++
			}
		}
		maxRunning = max(maxRunning, running)
		return ended == 6
	})
	if maxRunning > 2 {
		t.Errorf("%d jobs of a %%2 array ran at once", maxRunning)
	}
	list := h.arrayJobs(aid)
	runIDs := map[string]bool{}
	for i, j := range list {
		want := arr + " " + strconv.Itoa(i) + " array-" + arr + "\n"
		if got := readAll(t, j.LogPath); got != want || j.State != ledger.JobSucceeded {
			t.Errorf("array job %d (%s): %q, want %q", j.ID, j.State, got, want)
		}
		runIDs[j.RunID] = true
	}
	if len(list) != 6 || len(runIDs) != 6 {
		t.Errorf("array of %d jobs with %d run ids, want 6 and 6", len(list), len(runIDs))
	}
	// `runner jobs --array ID` lists exactly the array's jobs, in index order.
	var listed []struct {
		ID         int64 `json:"id"`
		ArrayIndex int64 `json:"array_index"`
	}
	if err := json.Unmarshal([]byte(h.runOK("jobs", "--array", arr, "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	for i, j := range listed {
		if i >= len(list) || j.ID != list[i].ID || j.ArrayIndex != int64(i) {
			t.Errorf("jobs --array %s: %+v, want the jobs of the array in index order", arr, listed)
			break
		}
	}
	if len(listed) != len(list) {
		t.Errorf("jobs --array %s listed %d jobs, want %d", arr, len(listed), len(list))
	}
	if _, _, code := h.code("wait", arr); code != 0 {
		t.Errorf("wait ARRAY: exit %d", code)
	}
	// An array's id stands for all its jobs in hold, release and cancel.
	held := strings.TrimSpace(h.runOK("submit", "--array", "0-2", "--hold", "--", "true"))
	if out := h.runOK("release", held); strings.Count(out, "released") != 3 {
		t.Errorf("release ARRAY: %q", out)
	}
	if _, _, code := h.code("wait", held); code != 0 {
		t.Errorf("wait for the released array: exit %d", code)
	}
	doomed := strings.TrimSpace(h.runOK("submit", "--array", "0-2", "--hold", "--", "true"))
	if out := h.runOK("cancel", doomed); strings.Count(out, "cancelled") != 3 {
		t.Errorf("cancel ARRAY: %q", out)
	}
	if _, _, code := h.code("wait", doomed); code != 1 {
		t.Errorf("wait for a cancelled array: exit %d, want 1", code)
	}

	sweep := filepath.Join(t.TempDir(), "sweep.yaml")
	if err := os.WriteFile(sweep, []byte("score: [0.3, 1e-1]\nbatch-size: [32, 64]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := h.runOK("submit", "--sweep", sweep, "--name", "mysweep", "--", fakejob, "-stage", "eval")
	sid := mustID(t, out)
	_, _, code := h.code("wait", strconv.FormatInt(sid, 10))
	if code == 0 {
		t.Fatalf("fakejob does not know --batch-size: the sweep's jobs should fail")
	}
	// The command gets --key value per key, in order, last key fastest.
	want := [][]string{{"--score", "0.3", "--batch-size", "32"}, {"--score", "0.3", "--batch-size", "64"},
		{"--score", "1e-1", "--batch-size", "32"}, {"--score", "1e-1", "--batch-size", "64"}}
	for i, j := range h.arrayJobs(sid) {
		if got := strings.Join(j.Argv[3:], " "); got != strings.Join(want[i], " ") {
			t.Errorf("sweep job %d argv %q, want %q", i, j.Argv, want[i])
		}
		if !containsEnv(j.Env, "RUNNER_SWEEP_BATCH_SIZE="+want[i][3]) || !containsEnv(j.Env, "RUNNER_SWEEP_SCORE="+want[i][1]) {
			t.Errorf("sweep job %d env %q", i, j.Env)
		}
	}

	// A sweep fakejob understands, then its leaderboard.
	if err := os.WriteFile(sweep, []byte("{\"score\": [0.3, 0.1, 0.2]}"), 0o644); err != nil {
		t.Fatal(err)
	}
	sid2 := strings.TrimSpace(h.runOK("submit", "--sweep", sweep, "--name", "sw2", "--", fakejob, "-stage", "eval"))
	if _, errOut, code := h.code("wait", sid2); code != 0 {
		t.Fatalf("wait for the sweep: exit %d %s", code, errOut)
	}
	var board string
	h.eventually(20*time.Second, "three runs of group sw2 on the leaderboard", func() bool {
		board = h.runOK("leaderboard", "--group", "sw2", "--metric", "eval/nrmse", "--goal", "lower")
		return strings.Count(board, "\n") >= 5 // the metric, the header, three runs
	})
	lines := strings.Split(strings.TrimSpace(board), "\n")
	if !strings.HasPrefix(lines[2], "1 ") || !strings.Contains(lines[2], " 0.1 ") || !strings.Contains(lines[3], " 0.2 ") || !strings.Contains(lines[4], " 0.3 ") {
		t.Errorf("leaderboard of the sweep, best first:\n%s\n%q", board, lines)
	}
}

func (h *harness) arrayJobs(arrayID int64) []ledger.Job {
	h.t.Helper()
	// One query, so one moment: reading the jobs one by one, a job that
	// ended between two reads and the one started after it both looked
	// running (CI saw "3 jobs of a %2 array ran at once").
	db, err := ledger.Open(context.Background(), h.db, ledger.Options{ReadOnly: true})
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	list, err := db.ListJobs(context.Background(), ledger.JobFilter{ArrayIDs: []int64{arrayID}})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func containsEnv(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}

// Sharing jobs run together on one GPU while their --gpu-mem fits; a job
// without --share waits for the GPU alone; CPU jobs take slots.
func TestGPUSharingAndCPUSlots(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1:16GiB", "--cpu-slots", "2", "--sample-interval", "200ms")
	flag := filepath.Join(t.TempDir(), "go")
	waitFlag := "while [ ! -e " + flag + " ]; do sleep 0.05; done"
	a := mustID(t, h.runOK("submit", "--gpus", "1", "--gpu-mem", "6GiB", "--share", "sh", "-c", waitFlag))
	b := mustID(t, h.runOK("submit", "--gpus", "1", "--gpu-mem", "6GiB", "--share", "sh", "-c", waitFlag))
	c := mustID(t, h.runOK("submit", "--gpus", "1", "--gpu-mem", "6GiB", "--share", "true"))
	alone := mustID(t, h.runOK("submit", "--gpus", "1", "true"))
	ja, jb := h.waitJob(a, ledger.JobRunning), h.waitJob(b, ledger.JobRunning)
	if !slices.Equal(ja.GPUUUIDs, jb.GPUUUIDs) {
		t.Errorf("sharing jobs on %v and %v, want the same GPU", ja.GPUUUIDs, jb.GPUUUIDs)
	}
	h.eventually(15*time.Second, "reasons of the waiting jobs", func() bool {
		return strings.Contains(h.job(c).Reason, "left for sharing") && strings.Contains(h.job(alone).Reason, "GPU 0")
	})
	if _, _, code := h.code("submit", "--share", "--gpus", "1", "true"); code != 2 {
		t.Errorf("--share without --gpu-mem: exit %d, want 2", code)
	}

	// Three CPU jobs on two slots: the third waits for a slot.
	var cpu []int64
	for range 3 {
		cpu = append(cpu, mustID(t, h.runOK("submit", "sh", "-c", waitFlag)))
	}
	h.waitJob(cpu[0], ledger.JobRunning)
	h.waitJob(cpu[1], ledger.JobRunning)
	h.eventually(15*time.Second, "the third CPU job's reason", func() bool {
		return strings.Contains(h.job(cpu[2]).Reason, "waiting for 1 CPU slot (0 of 2 free)")
	})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range append([]int64{a, b, c, alone}, cpu...) {
		h.waitJob(id, ledger.JobSucceeded)
	}
}

// An array's %K counts the tasks that run: a task the limit lets through
// that still waits for a CPU slot is "next in line", not running.
func TestArrayLimitReasonCountsRunningTasks(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "none", "--cpu-slots", "2", "--sample-interval", "200ms")
	flag := filepath.Join(t.TempDir(), "go")
	first := mustID(t, h.runOK("submit", "--array", "0-5%3", "--name", "lr", "sh", "-c", "while [ ! -e "+flag+" ]; do sleep 0.05; done"))
	h.waitJob(first, ledger.JobRunning)
	h.waitJob(first+1, ledger.JobRunning)
	want := map[string]string{
		strconv.FormatInt(first+2, 10):          "waiting for 1 CPU slot (0 of 2 free)",
		strconv.FormatInt(first, 10) + "_[3-5]": fmt.Sprintf("array %d: 2 of its jobs running and 1 next in line (limit %%3)", first),
	}
	var out string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last runner jobs:\n%s", out)
		}
	})
	h.eventually(15*time.Second, "the waiting tasks' reasons", func() bool {
		out = h.runOK("jobs", "--no-header", "--state", "queued", "--format", "id,reason")
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			id, reason, _ := strings.Cut(l, " ")
			got[id] = strings.TrimSpace(reason)
		}
		return maps.Equal(got, want)
	})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range int64(6) {
		h.waitJob(first+i, ledger.JobSucceeded)
	}
}
