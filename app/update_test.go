package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/remote"
)

// jobJSON is job id's object in `runner jobs --json --all`.
func (c *shell) jobJSON(id string) JobJSON {
	c.t.Helper()
	out, stderr, code := c.run("jobs", "--json", "--all")
	var list []JobJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		c.t.Fatalf("jobs --json: exit %d %s %s", code, out, stderr)
	}
	for _, j := range list {
		if strconv.FormatInt(j.ID, 10) == id {
			return j
		}
	}
	c.t.Fatalf("job %s not in jobs --json", id)
	return JobJSON{}
}

// runner update changes queued jobs, all or none, and names a job that is
// not queued; no flag is a usage error.
func TestUpdateQueuedJobs(t *testing.T) {
	c := newShell(t)
	for _, args := range [][]string{
		{"--gpus", "1", "--name", "a", "true"}, // 1
		{"--name", "b", "true"},                // 2
		{"true"},                               // 3: ends
		{"true"},                               // 4: runs
	} {
		if _, stderr, code := c.run(append([]string{"submit"}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	c.ranAgo(3, 1, time.Minute)
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.StartJob(context.Background(), 4, ledger.JobStart{}); err != nil || !ok {
		t.Fatal(ok, err)
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
		args       []string
		code       int
		out, err   string
		id         string
		prio, gpus int
		timeoutS   float64
		held       bool
	}{
		{[]string{"1", "2", "--priority", "5", "--gpus", "2", "--timeout", "2h"}, 0,
			"job 1: priority 0 -> 5, gpus 1 -> 2, timeout none -> 2h0m0s\njob 2: priority 0 -> 5, gpus 0 -> 2, timeout none -> 2h0m0s\n", "",
			"2", 5, 2, 7200, false},
		{[]string{"1", "--priority", "5"}, 0, "job 1: not changed (already so)\n", "", "1", 5, 2, 7200, false},
		{[]string{"1"}, 2, "", "nothing to change: give --priority", "1", 5, 2, 7200, false},
		{[]string{"1", "--hold", "--release"}, 2, "", "--hold or --release, not both", "1", 5, 2, 7200, false},
		{[]string{"1", "--cpus", "-1"}, 2, "", "--cpus must not be negative", "1", 5, 2, 7200, false},
		// All or none: job 1 is not changed because job 3 cannot be.
		{[]string{"1", "3", "--priority", "9"}, 1, "", "update: job 3 is failed: only queued jobs can be updated", "1", 5, 2, 7200, false},
		{[]string{"4", "--gpus", "1"}, 1, "", "update: job 4 is running: only queued jobs can be updated", "4", 0, 0, 0, false},
		{[]string{"9", "--gpus", "1"}, 1, "", "job 9", "1", 5, 2, 7200, false},
		{[]string{"1", "--gpus", "3"}, 1, "", "job 1 would never run: it needs 3 GPUs but this machine has 2", "1", 5, 2, 7200, false},
		{[]string{"1", "--gpus", "3", "--hold"}, 0, "job 1: gpus 2 -> 3, held\n", "", "1", 5, 3, 7200, true},
		{[]string{"1", "--release", "--gpus", "1", "--timeout", "0"}, 0, "job 1: gpus 3 -> 1, timeout 2h0m0s -> none, released\n", "", "1", 5, 1, 0, false},
	} {
		out, stderr, code := c.run(append([]string{"update"}, tc.args...)...)
		if code != tc.code || out != tc.out || !strings.Contains(stderr, tc.err) {
			t.Errorf("update %v: exit %d %q %q; want %d %q %q", tc.args, code, out, stderr, tc.code, tc.out, tc.err)
		}
		j := c.jobJSON(tc.id)
		var timeoutS float64
		if j.TimeoutS != nil {
			timeoutS = *j.TimeoutS
		}
		if j.Priority != tc.prio || j.GPUsRequested != tc.gpus || timeoutS != tc.timeoutS || j.Held != tc.held {
			t.Errorf("after update %v: job %s priority %d gpus %d timeout %v held %v; want %d %d %v %v",
				tc.args, tc.id, j.Priority, j.GPUsRequested, timeoutS, j.Held, tc.prio, tc.gpus, tc.timeoutS, tc.held)
		}
	}
}

// Through the daemon's socket a user may update only their own jobs.
func TestUpdateOnlyTheOwners(t *testing.T) {
	c := newShell(t)
	if _, stderr, code := c.run("submit", "true"); code != 0 {
		t.Fatal(stderr)
	}
	owner := c.jobJSON("1").OwnerUID
	for _, tc := range []struct {
		uid  int
		code int
		err  string
	}{
		{owner + 4242, 1, "job 1 belongs to"},
		{owner, 0, ""},
		{0, 0, ""},
	} {
		var out, errb bytes.Buffer
		env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return c.env[k] },
			Environ: func() []string { return nil }, Now: time.Now, IsTerminal: func(io.Writer) bool { return false },
			Caller: &remote.Caller{UID: tc.uid}}
		err := Run(context.Background(), []string{"runner", "--db", c.env["RUNNER_DB"], "update", "1", "--priority", "1"}, env)
		if ExitCode(err) != tc.code || !strings.Contains(ErrorLine(err), tc.err) {
			t.Errorf("uid %d: exit %d %q; want %d %q", tc.uid, ExitCode(err), ErrorLine(err), tc.code, tc.err)
		}
	}
}
