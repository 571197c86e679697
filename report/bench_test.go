package report

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/reports"
)

// BenchmarkReport1000Runs is the large report: 1,000 runs x 20
// history metrics x 10,000 steps each, downsampled (LTTB) and written.
// The curves are made once, outside the timer; what is timed is what
// Build does after reading the logs, and Write. Targets: < 2 s, < 20 MB.
func BenchmarkReport1000Runs(b *testing.B) {
	const runs, metrics, steps = 1000, 20, 10000
	shapes := make([][]float64, 16)
	xs := make([]float64, steps)
	for i := range xs {
		xs[i] = float64(i)
	}
	for k := range shapes {
		shapes[k] = make([]float64, steps)
		for i := range shapes[k] {
			shapes[k][i] = math.Exp(-float64(i)/2000) + 0.02*math.Sin(float64(i*(k+1))) + 0.001*float64(k)
		}
	}
	names := make([]string, metrics)
	for m := range names {
		names[m] = fmt.Sprintf("operator/loss%02d", m)
	}
	lb := &reports.Leaderboard{Metric: "eval/nrmse", Goal: kernels.GoalLower}
	for r := 0; r < runs; r++ {
		lb.Rows = append(lb.Rows, reports.LeaderboardRow{Rank: r + 1, RunID: fmt.Sprintf("r%04d", r),
			Name: null.String(fmt.Sprintf("pipeline run %04d", r)), Value: 0.09 + float64(r)*1e-5, State: "finished", SyncState: "synced"})
	}
	var size int
	b.ResetTimer()
	for b.Loop() {
		cs := NewCharts(names, runs)
		for r := range lb.Rows {
			for m := range names {
				cs.Add(names[m], kernels.Series{Name: string(lb.Rows[r].Name), Steps: xs, Values: shapes[(r+m)%len(shapes)]})
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, &Page{Title: "bench", Leaderboard: lb, Charts: cs.Charts()}); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1e6, "MB/page")
}

// BenchmarkReport100000Runs builds a report of the ledger's project "lab"
// (50,000 W&B runs of ledgertest.Generate's 100,000 dirs) by the sample
// rule: the best DefaultTop runs by eval/nrmse, each checked against its
// baseline. The generated runs have no logs on disk, so no curve is read:
// this measures ranking, checks and the table, not log reading.
func BenchmarkReport100000Runs(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "ledger.db")
	ledgertest.Open(b, path, ledger.Options{}).Close()
	if _, err := ledgertest.Generate(ctx, path, filepath.Join(b.TempDir(), "tree"), 100_000); err != nil {
		b.Fatal(err)
	}
	// Generate writes rows in SQL, so every group's summary values are
	// stale; the first writable open (the daemon's, any write command's)
	// recomputes them, as it does after a migration. A read-only report of
	// a stale ledger ranks from the rows instead (slower; not measured here).
	ledgertest.Open(b, path, ledger.Options{}).Close()
	db := ledgertest.Open(b, path, ledger.Options{ReadOnly: true})
	var size int
	b.ResetTimer()
	for b.Loop() {
		p, err := Build(ctx, db, Options{Project: "lab", Rank: "eval/nrmse", Metrics: []string{"train/loss"}})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Leaderboard.Rows) != DefaultTop {
			b.Fatalf("%d rows, want %d", len(p.Leaderboard.Rows), DefaultTop)
		}
		var buf bytes.Buffer
		if err := Write(&buf, p); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1e6, "MB/page")
}
