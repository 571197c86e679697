package jobs

import (
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// What a queued job does for each state of its dependency, for --after,
// --after-any and --after-notok.
func TestDependencies(t *testing.T) {
	for _, tc := range []struct {
		job           ledger.Job
		dep           ledger.JobState
		waitFor, skip string
	}{
		{ledger.Job{After: []int64{1}}, ledger.JobRunning, "waiting for job 1 (running)", ""},
		{ledger.Job{After: []int64{1}}, ledger.JobSucceeded, "", ""},
		{ledger.Job{After: []int64{1}}, ledger.JobFailed, "", "dependency 1 failed"},
		{ledger.Job{AfterAny: []int64{1}}, ledger.JobQueued, "waiting for job 1 (queued)", ""},
		{ledger.Job{AfterAny: []int64{1}}, ledger.JobCancelled, "", ""},
		{ledger.Job{AfterAny: []int64{1}}, ledger.JobSucceeded, "", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobRunning, "waiting for job 1 (running)", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobFailed, "", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobCancelled, "", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobSkipped, "", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobLost, "", ""},
		{ledger.Job{AfterNotOK: []int64{1}}, ledger.JobSucceeded, "", "dependency 1 succeeded (--after-notok: runs only if it does not)"},
		{ledger.Job{AfterNotOK: []int64{2}}, ledger.JobFailed, "", "dependency 2 does not exist"},
		// A skip wins over a wait on another dependency.
		{ledger.Job{AfterAny: []int64{3}, AfterNotOK: []int64{1}}, ledger.JobSucceeded, "", "dependency 1 succeeded (--after-notok: runs only if it does not)"},
	} {
		deps := map[int64]ledger.JobState{1: tc.dep, 3: ledger.JobRunning}
		waitFor, skip := dependencies(tc.job, deps)
		if waitFor != tc.waitFor || skip != tc.skip {
			t.Errorf("after %v any %v notok %v, dependency %s: wait %q skip %q; want %q %q",
				tc.job.After, tc.job.AfterAny, tc.job.AfterNotOK, tc.dep, waitFor, skip, tc.waitFor, tc.skip)
		}
	}
}
