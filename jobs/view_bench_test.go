package jobs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// benchClock is a clock the setup moves (ended_at comes from the ledger's clock).
type benchClock struct{ t *time.Time }

func (c benchClock) Now() time.Time { return *c.t }

// ledgerOfJobs is a ledger of n jobs, one array: ended of them failed two
// days ago, recent failed an hour ago, the rest queued.
func ledgerOfJobs(b *testing.B, n, ended, recent int) (*ledger.DB, time.Time) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	at := now
	db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{Clock: benchClock{&at}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	specs := make([]ledger.JobSpec, n)
	for i := range specs {
		specs[i] = ledger.JobSpec{Name: "sweep", Argv: []string{"python", "train.py"}, Cwd: "/work", GPUs: 1}
	}
	list, err := db.SubmitJobs(ctx, specs, true)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, n)
	for i, j := range list {
		ids[i] = j.ID
	}
	at = now.Add(-48 * time.Hour)
	if _, err := db.RefuseJobs(ctx, ids[:ended], "bench"); err != nil {
		b.Fatal(err)
	}
	at = now.Add(-time.Hour)
	if _, err := db.RefuseJobs(ctx, ids[ended:ended+recent], "bench"); err != nil {
		b.Fatal(err)
	}
	at = now
	return db, now
}

// BenchmarkJobsDefaultView is `runner jobs`' read (jobs.List, the footer's
// count included) on a ledger of 100,000 jobs: 99,000 ended two days ago,
// 500 an hour ago, 500 queued. Target < 100 ms (docs/benchmarks.md).
//
//	go test ./jobs -run '^$' -bench JobsDefaultView -benchtime 20x
func BenchmarkJobsDefaultView(b *testing.B) {
	db, now := ledgerOfJobs(b, 100_000, 99_000, 500)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := List(ctx, db, View{Now: now})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Jobs) != 1000 || r.Hidden != 99_000 {
			b.Fatalf("view: %d jobs, %d hidden; want 1000, 99000", len(r.Jobs), r.Hidden)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/view")
}

// BenchmarkClean100k is `runner clean` of 100,000 ended jobs (no files on
// disk: the rows' transaction). Target < 2 s.
//
//	go test ./jobs -run '^$' -bench Clean100k -benchtime 1x
func BenchmarkClean100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, _ := ledgerOfJobs(b, 100_000, 100_000, 0)
		b.StartTimer()
		r, err := Clean(context.Background(), db, CleanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if r.Jobs != 100_000 {
			b.Fatalf("cleaned %d jobs, want 100000", r.Jobs)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/clean")
}
