package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// One rule for the queue verbs: nothing to do is exit 0 with a message,
// cannot is exit 1 naming the job and its state (docs/jobs.md).
func TestQueueVerbsNothingToDoOrCannot(t *testing.T) {
	c := newShell(t)
	for _, args := range [][]string{{"true"}, {"--hold", "true"}, {"true"}, {"true"}, {"true"}} {
		if _, stderr, code := c.run(append([]string{"submit"}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	// 1 queued, 2 held, 3 running, 4 succeeded, 5 cancelled.
	c.ranAgo(4, 0, time.Minute)
	c.endedAgo(5, time.Minute)
	db, err := ledger.Open(context.Background(), c.env["RUNNER_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.StartJob(context.Background(), 3, ledger.JobStart{}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	db.Close()
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"hold", "2"}, 0, "job 2: already held\n", ""},
		{[]string{"hold", "3"}, 1, "", "runner: hold: job 3 is running: cannot hold it (only a queued job can be held)\n"},
		{[]string{"hold", "4"}, 1, "", "job 4 is succeeded: cannot hold it"},
		{[]string{"release", "1"}, 0, "job 1: not held (queued)\n", ""},
		{[]string{"release", "4"}, 0, "job 4: not held (succeeded)\n", ""},
		{[]string{"cancel", "5"}, 0, "job 5: already cancelled\n", ""},
		{[]string{"cancel", "4"}, 1, "", "job 4 is succeeded: cannot cancel it (it already ended)"},
		{[]string{"requeue", "1"}, 0, "job 1: already queued\n", ""},
		{[]string{"requeue", "3"}, 1, "", "job 3 is running: cannot requeue it"},
		// Each job is answered; the exit says whether any could not be done.
		{[]string{"hold", "1", "3"}, 1, "job 1 held\n", "job 3 is running"},
		{[]string{"release", "1", "2"}, 0, "job 2 released\njob 1 released\n", ""},
	} {
		out, stderr, code := c.run(tc.args...)
		if code != tc.code || !sameLines(out, tc.out) || !strings.Contains(stderr, tc.errs) {
			t.Errorf("%v: exit %d %q %q; want %d %q %q", tc.args, code, out, stderr, tc.code, tc.out, tc.errs)
		}
	}
}

// sameLines compares outputs line by line, in any order.
func sameLines(a, b string) bool {
	la, lb := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		if seen[l]--; seen[l] < 0 {
			return false
		}
	}
	return true
}
