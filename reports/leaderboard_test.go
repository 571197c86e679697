package reports

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/wandbfile"
)

// goPathLeaderboard is GetLeaderboard as it was before the ledger ranked in
// SQL: every run read, grouped, its summary merged and ranked in Go. The
// SQL ranking must give the same answer.
func goPathLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions) (*Leaderboard, error) {
	runs, err := db.ListRuns(ctx, ledger.Filter{Project: o.Project})
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	lb := &Leaderboard{Metric: o.Metric, Rows: []LeaderboardRow{}}
	values := map[string]float64{}
	byKey := map[string]runGroup{}
	var dirs []string
	for _, g := range groupRuns(runs) {
		if o.Group != "" && g.Runs[0].Group != o.Group {
			continue
		}
		v, ok := ledger.SummaryNumber(ledger.FlatSummary(g.Summary), o.Metric)
		if !ok || !finite(v) {
			continue
		}
		values[g.Key] = v
		byKey[g.Key] = g
		dirs = append(dirs, g.Dirs()...)
	}
	if len(values) == 0 {
		return lb, nil
	}
	goal, src, err := resolveGoal(ctx, db, o.Metric, dirs, o.Goals)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	lb.Goal, lb.GoalSource = goal, null.String(src)
	order := kernels.Rank(values, goal)
	if o.Top > 0 && len(order) > o.Top {
		order = order[:o.Top]
	}
	var jobIDs []int64
	for _, k := range order {
		for _, r := range byKey[k].Runs {
			if r.JobID != nil {
				jobIDs = append(jobIDs, *r.JobID)
			}
		}
	}
	tele, err := db.JobTelemetry(ctx, jobIDs)
	if err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	for i, k := range order {
		lb.Rows = append(lb.Rows, leaderboardRow(i+1, byKey[k], values[k], tele))
	}
	return lb, nil
}

// randomLedger records n W&B runs through the ledger's writer: one to three
// stages each (some without a start time, some starting at the same
// moment), a few runs without a run id, values drawn from a handful (ties,
// -0 and 0), NaN, ±Inf and strings among them, nested values whose
// flattened key a top-level key shadows, media, projects and groups, and
// logs that declare goals, some against the others.
func randomLedger(t *testing.T, seed uint64, n int) *ledger.DB {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	path := filepath.Join(t.TempDir(), "ledger.db")
	db := ledgertest.Open(t, path, ledger.Options{})
	root := t.TempDir()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	pick := func(vals ...any) any { return vals[rng.IntN(len(vals))] }
	number := func() any {
		return pick(0.1, 0.2, 0.2, 0.3, 0.25, math.Copysign(0, -1), 0.0, math.NaN(), math.Inf(1), math.Inf(-1), "n/a", nil, 7.0, -1.5)
	}
	var obs []ledger.Observation
	for w := range n {
		id := fmt.Sprintf("r%04d", w)
		if rng.IntN(15) == 0 {
			id = "" // a log without a run record: grouped by its dir
		}
		project := pick("p0", "p1", "p2").(string)
		group := pick("", "", "g1", "g2").(string)
		for s := range 1 + rng.IntN(3) {
			sum := map[string]any{"_runtime": float64(rng.IntN(100))}
			for _, k := range []string{"eval/nrmse", "eval/custom", "train/loss"} {
				if rng.IntN(4) > 0 {
					sum[k] = number()
				}
			}
			if rng.IntN(3) == 0 {
				sum["eval"] = map[string]any{"nrmse": number(), "physics": map[string]any{"gap": number()}}
			}
			if rng.IntN(6) == 0 {
				sum["eval.nrmse"] = number() // shadows the flattened eval.nrmse
			}
			if rng.IntN(5) == 0 {
				sum["table"] = map[string]any{"_type": "table-file", "nrows": 3.0}
			}
			b, err := wandbfile.MarshalValue(sum)
			if err != nil {
				t.Fatal(err)
			}
			summary := string(b)
			if rng.IntN(20) == 0 {
				summary = `{"eval/nrmse": NaN, "train/loss": 1e999, "eval/custom": 0.2}` // as Python writes them
			}
			if rng.IntN(40) == 0 {
				summary = `{"eval/nrmse": 0.1` // damaged: skipped by the merge
			}
			var start *time.Time
			if rng.IntN(8) > 0 {
				st := t0.Add(time.Duration(w*10+rng.IntN(3)) * time.Minute)
				start = &st
			}
			m := &ledger.Meta{RunID: id, Project: project, Name: pick("", "a", "b").(string), Group: group,
				StartTime: start, Finished: rng.IntN(5) > 0, SummaryJSON: summary}
			if rng.IntN(2) == 0 {
				// The log declares a goal: mostly lower for eval/nrmse, either for eval/custom.
				g := kernels.GoalLower
				if rng.IntN(10) == 0 {
					g = kernels.GoalHigher
				}
				m.Metrics = append(m.Metrics, ledger.MetricSummary{MetricSummary: kernels.MetricSummary{Key: "eval/nrmse", Goal: g}, GoalSource: ledger.GoalFromLog})
			}
			if rng.IntN(3) == 0 {
				g := pick(kernels.GoalLower, kernels.GoalHigher).(kernels.Goal)
				m.Metrics = append(m.Metrics, ledger.MetricSummary{MetricSummary: kernels.MetricSummary{Key: "eval/custom", Goal: g}, GoalSource: ledger.GoalFromLog})
			}
			dir := filepath.Join(root, project, fmt.Sprintf("offline-run-2025030%d_%06d-%s", rng.IntN(3), w, id))
			if s > 0 {
				dir += fmt.Sprintf("-%d", s)
			}
			obs = append(obs, ledger.Observation{Dir: dir, LogPath: filepath.Join(dir, "run.wandb"), Size: 100, MTime: t0, Meta: m})
		}
	}
	rng.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
	for len(obs) > 0 { // batches, so stages of one run land in different transactions
		k := min(len(obs), 1+rng.IntN(30))
		if _, err := db.UpsertRuns(context.Background(), obs[:k]); err != nil {
			t.Fatal(err)
		}
		obs = obs[k:]
	}
	return db
}

// leaderboardCases are the questions asked of every random ledger.
func leaderboardCases() []LeaderboardOptions {
	var out []LeaderboardOptions
	for _, metric := range []string{"eval/nrmse", "eval/custom", "eval.nrmse", "eval.physics.gap", "train/loss", "_runtime", "absent"} {
		for _, project := range []string{"", "p1", "none"} {
			for _, group := range []string{"", "g1"} {
				for _, top := range []int{0, 1, 3} {
					for _, fallback := range []kernels.Goal{kernels.GoalUnknown, kernels.GoalHigher} {
						out = append(out, LeaderboardOptions{Metric: metric, Project: project, Group: group, Top: top,
							Goals: GoalOptions{Fallback: fallback}})
					}
				}
			}
		}
	}
	return out
}

func sameLeaderboards(t *testing.T, db *ledger.DB, when string) {
	t.Helper()
	ctx := context.Background()
	for _, o := range leaderboardCases() {
		want, wantErr := goPathLeaderboard(ctx, db, o)
		got, gotErr := GetLeaderboard(ctx, db, o)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%s: %+v: error %v, want %v", when, o, gotErr, wantErr)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("%s: %+v:\n got %s\nwant %s", when, o, g, w)
		}
	}
}

// The leaderboard ranked by the ledger's index is the leaderboard of the
// Go path it replaced, byte for byte: ties by run, NaN and Inf left out,
// stages merged in stage order, nested keys, project and group filters,
// declared goals (disagreeing ones too), --top. Also while another writer
// has changed rows behind the ledger's back (stale groups are ranked from
// their rows) and after the next open has indexed them again.
func TestLeaderboardMatchesTheGoPath(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			db := randomLedger(t, seed, 60)
			sameLeaderboards(t, db, "recorded")

			// Another writer (sqlite3 by hand, an older runner) changes runs.
			raw, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: db.Path()}).String()+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range []string{
				`UPDATE runs SET summary_json = '{"eval/nrmse": 0.2, "eval/custom": 0.2, "train/loss": -0.0}' WHERE rowid % 7 = 0`,
				`UPDATE runs SET start_time = NULL WHERE rowid % 11 = 0`,
				`UPDATE runs SET run_group = 'g1' WHERE rowid % 13 = 0`,
				`DELETE FROM runs WHERE rowid % 17 = 0`,
			} {
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			sameLeaderboards(t, db, "changed by another writer")
			var stale int
			if err := raw.QueryRow(`SELECT count(*) FROM summary_stale`).Scan(&stale); err != nil || stale == 0 {
				t.Fatalf("stale groups after raw writes: %d, %v", stale, err)
			}

			reopened := ledgertest.Open(t, db.Path(), ledger.Options{})
			if err := raw.QueryRow(`SELECT count(*) FROM summary_stale`).Scan(&stale); err != nil || stale != 0 {
				t.Fatalf("stale groups after a writable open: %d, %v", stale, err)
			}
			sameLeaderboards(t, reopened, "indexed again")
		})
	}
}
