package ledgertest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the driver ledger uses
)

// Generated describes a ledger made by Generate.
type Generated struct {
	Dirs    int // run dirs (rows of runs)
	Runs    int // W&B runs: pairs of stages count once
	Pairs   int // W&B runs of two stages (a train dir and an eval dir)
	Jobs    int
	Flagged int // regressions recorded
}

// Generate fills the existing ledger at path with n run dirs in SQL,
// fast (recording n real logs would take minutes for 100,000 and an hour
// for 1,000,000). It writes only columns that every schema since the
// jobs and metrics migrations has, so a ledger made by an older runner
// can be filled and then opened by a newer one.
//
// The ledger looks like a lab's history: three in ten W&B runs are
// two-stage pipelines (a train dir, then an eval dir joining the same run
// an hour later; one in 89 trains and one in 97 evals without a start
// time), the rest single dirs logging both. Half the runs are in project
// "lab", the rest in proj-00 ... proj-19; one in five is in a sweep group.
// Summaries hold W&B's underscore keys, losses, eval/nrmse (about 20,000
// distinct values, so ties; one in 100 "NaN", one in 200 "Infinity"), a
// nested eval.physics.energy_drift and a media table. Half the eval dirs
// declare eval/nrmse's goal in their log. 90 % synced (with a URL), 8 %
// pending, 1 % failed, 1 % active; one run in five came from a job with
// telemetry; one eval dir in ten has a flagged regression.
func Generate(ctx context.Context, path, root string, n int) (Generated, error) {
	pairs := n * 3 / 10
	g := Generated{Dirs: n, Pairs: pairs, Runs: n - pairs}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return g, fmt.Errorf("generate: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	now := time.Now().UnixMilli()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return g, fmt.Errorf("generate: %w", err)
	}
	defer tx.Rollback()
	steps := []struct {
		what string
		q    string
		args []any
		n    *int
	}{
		{"runs", generateRuns, []any{sql.Named("n", n), sql.Named("pairs", pairs), sql.Named("t0", t0),
			sql.Named("now", now), sql.Named("root", root)}, nil},
		{"history metrics", generateMetrics, nil, nil},
		{"declared goals", generateGoals, nil, nil},
		{"jobs", generateJobs, nil, &g.Jobs},
		{"regressions", generateRegressions, nil, &g.Flagged},
	}
	for _, s := range steps {
		res, err := tx.ExecContext(ctx, s.q, s.args...)
		if err != nil {
			return g, fmt.Errorf("generate %s: %w", s.what, err)
		}
		if s.n != nil {
			k, err := res.RowsAffected()
			if err != nil {
				return g, fmt.Errorf("generate %s: %w", s.what, err)
			}
			*s.n = int(k)
		}
	}
	if err := tx.Commit(); err != nil {
		return g, fmt.Errorf("generate: %w", err)
	}
	return g, nil
}

// generateRuns: dir i < 2*pairs is stage i%2 of W&B run i/2; the others are
// single-dir runs (stage 2) numbered on from pairs.
const generateRuns = `
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < :n),
d AS (
	SELECT n AS i,
		CASE WHEN n < 2 * :pairs THEN n / 2 ELSE n - :pairs END AS w,
		CASE WHEN n < 2 * :pairs THEN n % 2 ELSE 2 END AS stage
	FROM i),
e AS (
	SELECT i, w, stage, w % 100 AS h,
		printf('%08x', (w * 2654435761) % 4294967296) AS rid,
		CASE WHEN w % 2 = 0 THEN 'lab' ELSE printf('proj-%02d', (w / 2) % 20) END AS proj,
		:t0 + w * 60000 + CASE WHEN stage = 1 THEN 3600000 ELSE 0 END AS st,
		600 + (w * 31) % 3000 AS rt
	FROM d),
f AS (
	SELECT *,
		:root || '/' || proj || '/wandb/offline-run-' || strftime('%Y%m%d_%H%M%S', st / 1000, 'unixepoch') || '-' || rid AS dir,
		'offline-run-' || strftime('%Y%m%d_%H%M%S', st / 1000, 'unixepoch') || '-' || rid AS base,
		CASE WHEN h = 0 THEN 'failed' WHEN h <= 8 THEN 'pending' WHEN h = 9 THEN 'active' ELSE 'synced' END AS state
	FROM e)
INSERT INTO runs (dir, base, log_path, group_key, run_id, entity, project, name, run_group, job_type, tags,
	start_time, wandb_version, finished, footer, exit_code, runtime_s, torn_tail, read_error, history_rows,
	history_keys, records_json, summary_json, config_json, good_offset, empty, size, mtime, state, reason,
	source, attempts, next_attempt_at, last_error, url, synced_at, job_id, first_seen, updated_at, changed_at)
SELECT dir, base, dir || '/run-' || rid || '.wandb', proj || '/' || rid, rid, 'lab', proj, printf('exp-%d', w),
	CASE WHEN w % 5 = 0 THEN printf('sweep-%d', (w / 5) % 50) ELSE '' END,
	CASE stage WHEN 0 THEN 'train' WHEN 1 THEN 'eval' ELSE '' END, '[]',
	CASE WHEN (stage = 0 AND w % 89 = 0) OR (stage = 1 AND w % 97 = 0) THEN NULL ELSE st END,
	'0.22.2', state != 'active', 0,
	CASE WHEN state = 'active' THEN NULL WHEN w % 53 = 0 THEN 1 ELSE 0 END,
	CASE WHEN state = 'active' THEN NULL ELSE rt END, 0, '', 1000,
	CASE WHEN stage = 1 THEN '[]' ELSE '["diffusion/loss","diffusion/lr","operator/loss","train/loss"]' END,
	'{"config":2,"exit":1,"files":4,"history":1000,"metric":4,"run":1,"stats":120,"summary":3,"telemetry":2}',
	'{' || printf('"_runtime":%d,"_step":%d,"_timestamp":%.3f,"_wandb":{"runtime":%d}', rt, CASE WHEN stage = 1 THEN 0 ELSE 999 END, (st / 1000.0) + rt, rt)
	|| CASE WHEN stage = 1 THEN '' ELSE printf(',"diffusion/loss":%.6f,"diffusion/lr":0.0001,"operator/loss":%.6f,"train/loss":%.5f',
		0.01 + ((w * 104723) % 100003) / 1000000.0, 0.02 + ((w * 7907) % 99991) / 1000000.0, 1.0 + ((w * 7919) % 100000) / 100000.0) END
	|| CASE WHEN stage = 0 THEN '' ELSE printf(',"comparison":{"_type":"table-file","ncols":4,"nrows":10,"path":"media/table/comparison_%d_%08x.table.json","sha256":"%016x%016x","size":2311}'
		|| ',"eval":{"physics":{"energy_drift":%.6f}},"eval/mse":%.6f,"eval/nrmse":%s,"eval/physics/conservation_gap":%.6f',
		w, w * 40503 % 4294967296, w * 2654435761, w * 40503, ((w * 613) % 10007) / 1000000.0, ((w * 409) % 30011) / 100000.0,
		CASE WHEN w % 100 = 37 THEN '"NaN"' WHEN w % 200 = 71 THEN '"Infinity"' ELSE printf('%.5f', 0.05 + ((w * 7919) % 20011) / 100000.0) END,
		((w * 211) % 5003) / 100000.0) END
	|| '}',
	printf('{"_wandb":{"cli_version":"0.22.2","is_jupyter_run":false,"python_version":"3.11.9","t":{"1":[1,5,11,41,49,53,55],"2":[1,5,11,41,49,53,55],"3":[13,16,23,55],"4":"3.11.9","5":"0.22.2","8":[5],"12":"0.22.2","13":"linux-x86_64"}},"batch_size":%d,"eval_samples":%d,"gpu_name":"NVIDIA H100 80GB HBM3","lr":%g,"model":{"depth":%d,"name":"fno","width":%d},"seed":%d}',
		32 * (1 + w % 4), 256 * (1 + w % 3), 0.0001 * (1 + w % 10), 4 + w % 5, 64 * (1 + w % 4), w),
	1048576 + i, 0, 1048576 + i, st + rt * 1000, state, '',
	CASE WHEN state = 'synced' THEN 'upload' ELSE '' END,
	CASE state WHEN 'failed' THEN 8 WHEN 'synced' THEN 1 ELSE 0 END, NULL,
	CASE WHEN state = 'failed' THEN 'upload failed: transient: 503 Service Unavailable from api.wandb.ai' ELSE '' END,
	CASE WHEN state = 'synced' THEN printf('https://wandb.ai/lab/%s/runs/%s', proj, rid) ELSE '' END,
	CASE WHEN state = 'synced' THEN st + rt * 1000 + 120000 END,
	CASE WHEN w % 5 = 1 THEN w + 1 END,
	:now - (:n - i) * 1000, :now - (:n - i) * 1000 + 5000, :now - (:n - i) * 1000
FROM f`

const generateMetrics = `
INSERT INTO metrics (dir, key, goal, goal_source, count, last, min, max, mean, std, best_step, ema, slope, first_step, last_step)
SELECT r.dir, k.key, k.goal, k.src, 1000, 0.5, 0.1, 2.0, 0.7, 0.2, CASE WHEN k.goal != 'unknown' THEN 900 END, 0.5, -0.001, 0, 999
FROM runs r, (SELECT 'diffusion/loss' AS key, 'lower' AS goal, 'rule' AS src UNION ALL SELECT 'diffusion/lr', 'unknown', ''
	UNION ALL SELECT 'operator/loss', 'lower', 'rule' UNION ALL SELECT 'train/loss', 'lower', 'rule') k
WHERE r.history_keys != '[]'`

const generateGoals = `
INSERT INTO metrics (dir, key, goal, goal_source, count)
SELECT dir, 'eval/nrmse', 'lower', 'log', 0 FROM runs WHERE job_type != 'train' AND rowid % 2 = 0`

const generateJobs = `
INSERT INTO jobs (id, name, argv, run_id, state, submitted_at, started_at, ended_at, exit_code, gpu_uuids, energy_j, peak_mem, mean_util)
SELECT job_id, 'pipeline', '["python","pipeline.py"]', min(run_id), 'succeeded', min(first_seen) - 60000, min(first_seen),
	min(first_seen) + 3600000, 0, '["GPU-6d3f2a10-0000","GPU-6d3f2a10-0001"]', 1.5e6 + job_id, 40000000000, 0.8
FROM runs WHERE job_id IS NOT NULL GROUP BY job_id`

const generateRegressions = `
INSERT INTO regressions (at, dir, run_id, project, metric, goal, value, baseline_n, median, mad, z, rel_change, baseline_run_ids, reason)
SELECT first_seen + 60000, dir, run_id, project, 'eval/nrmse', 'lower', 0.3, 20, 0.15, 0.01, 10.1, 1.0,
	printf('[%s]', (SELECT group_concat(printf('"%08x"', (rowid * 31 + k.n) * 2654435761 % 4294967296), ',')
		FROM (WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < 19) SELECT n FROM k) k)),
	'eval/nrmse 0.3 is worse than its baseline (median 0.15 of 20 runs, z 10.1, +100.0%)'
FROM runs WHERE job_type != 'train' AND rowid % 10 = 3`
