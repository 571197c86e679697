package text

import (
	"io"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// BenchmarkJobsTableOfAQueuedArray is `runner jobs`' table (after the
// ledger's read) of one array of 100,000 queued tasks, 2 running: the
// collapse (arrayRows) turns it into 4 rows. Target < 100 ms
// (docs/benchmarks.md).
//
//	go test ./text -run '^$' -bench JobsTableOfAQueuedArray -benchtime 3x
func BenchmarkJobsTableOfAQueuedArray(b *testing.B) {
	now := time.Now()
	list := make([]ledger.Job, 100_000)
	for i := range list {
		list[i] = ledger.Job{ID: int64(i + 1), Name: "sweep", RunGroup: "sweep", Owner: "alice", State: ledger.JobQueued,
			Reason: "array 1: 2 of its jobs running (limit %2)", GPUs: 1, ArrayID: 1, ArrayIndex: int64(i),
			Argv: []string{"python", "train.py"}, SubmittedAt: now}
		if i == 7 || i == 9 {
			list[i].State, list[i].StartedAt, list[i].Reason = ledger.JobRunning, &now, ""
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Jobs(io.Discard, list, JobTable{Header: true, Now: now, Collapse: true}, Palette{})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/table")
}
