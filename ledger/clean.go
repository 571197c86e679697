package ledger

import (
	"context"
	"fmt"

	"github.com/runnerhq/runner/internal/jsonlist"
)

// cleanableSQL picks, among the rows a JobFilter's condition selects, the
// ended jobs that no queued or running job waits for (its --after or
// --after-any or --after-notok still reads them).
const cleanableSQL = ` state IN ('succeeded', 'failed', 'cancelled', 'skipped', 'lost')
	AND id NOT IN (SELECT d.value FROM jobs a, json_each(a.after_ids) d WHERE a.state IN ('queued', 'running')
		UNION SELECT d.value FROM jobs a, json_each(a.after_any) d WHERE a.state IN ('queued', 'running')
		UNION SELECT d.value FROM jobs a, json_each(a.after_notok) d WHERE a.state IN ('queued', 'running'))`

// CleanJobs removes the ended jobs f selects from the ledger in one
// transaction (dryRun: only lists them) and returns their files for the
// caller to delete: the log and status file of a local job (an engine's
// log is its owner's), and an environment file no remaining job shares.
// Jobs a queued or running job depends on stay. f.NameGlob is not read.
func (db *DB) CleanJobs(ctx context.Context, f JobFilter, dryRun bool) ([]JobFiles, error) {
	f.NameGlob = ""
	where, args, err := f.where()
	if err != nil {
		return nil, fmt.Errorf("ledger: clean jobs: %w", err)
	}
	if where == "" {
		where = " WHERE"
	} else {
		where += " AND"
	}
	var out []JobFiles
	err = db.inTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, CASE WHEN executor = 'local' THEN log_path ELSE '' END, status_path,
			env_file, COALESCE(ended_at, 0) FROM jobs`+where+cleanableSQL+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		envFiles := map[string]bool{}
		var ids []int64
		for rows.Next() {
			var (
				jf    JobFiles
				ended int64
			)
			if err := rows.Scan(&jf.ID, &jf.LogPath, &jf.StatusPath, &jf.EnvFile, &ended); err != nil {
				rows.Close()
				return err
			}
			jf.EndedAt = fromMS(ended)
			if jf.EnvFile != "" {
				envFiles[jf.EnvFile] = true
			}
			ids = append(ids, jf.ID)
			out = append(out, jf)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		idList := encodeIDs(ids)
		// An array's jobs share one environment file: it goes with the last of them.
		files := make([]string, 0, len(envFiles))
		for p := range envFiles {
			files = append(files, p)
		}
		kept, err := tx.QueryContext(ctx, `SELECT DISTINCT env_file FROM jobs WHERE env_file IN (SELECT value FROM json_each(?))
			AND id NOT IN (SELECT value FROM json_each(?))`, jsonlist.Encode(files), idList)
		if err != nil {
			return err
		}
		for kept.Next() {
			var p string
			if err := kept.Scan(&p); err != nil {
				kept.Close()
				return err
			}
			envFiles[p] = false
		}
		kept.Close()
		if err := kept.Err(); err != nil {
			return err
		}
		for i := range out {
			if !envFiles[out[i].EnvFile] {
				out[i].EnvFile = ""
			}
		}
		if dryRun {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))`, idList); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO events (at, kind, subject, message) VALUES (?, 'clean', 'jobs', ?)`,
			ms(db.now()), fmt.Sprintf("removed %d ended jobs", len(ids)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: clean jobs: %w", err)
	}
	return out, nil
}
