package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// GCCandidates returns the synced runs whose local dir is still on disk (as
// far as the ledger knows) and that were both synced and last written before
// before, oldest sync first. Only synced runs are ever returned: a run in any
// other state still needs its dir.
func (db *DB) GCCandidates(ctx context.Context, before time.Time) ([]Run, error) {
	return db.queryRuns(ctx, `SELECT `+runCols+` FROM runs
		WHERE state = 'synced' AND deleted_at IS NULL
			AND coalesce(synced_at, first_seen) < ? AND mtime < ?
		ORDER BY coalesce(synced_at, first_seen), dir`, ms(before), ms(before))
}

// MarkDeleted records that runner gc deleted the dir of a synced run and how
// many bytes that freed, with a "gc" event. The run stays synced. It returns
// false, recording nothing, when the run is not synced or was already
// marked deleted.
func (db *DB) MarkDeleted(ctx context.Context, dir string, freed int64) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		res, err := tx.ExecContext(ctx, `UPDATE runs SET deleted_at = ?, updated_at = ?
			WHERE dir = ? AND state = 'synced' AND deleted_at IS NULL`, now, now, dir)
		if err != nil {
			return fmt.Errorf("ledger: mark %s deleted: %w", dir, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("ledger: mark %s deleted: %w", dir, err)
		}
		ok = n > 0
		if !ok {
			return nil
		}
		return addEvent(ctx, tx, now, "gc", dir, fmt.Sprintf("deleted synced run dir (%d bytes)", freed))
	})
	return ok, err
}

// DeletedAt is when runner gc deleted dir's local copy, or nil when it did not.
func (db *DB) DeletedAt(ctx context.Context, dir string) (*time.Time, error) {
	var v sql.NullInt64
	err := db.queryRow(ctx, `SELECT deleted_at FROM runs WHERE dir = ?`, dir).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", dir, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: deleted_at of %s: %w", dir, err)
	}
	return fromNullMS(v), nil
}

// JobFiles are the files the supervisor of one ended job left behind.
type JobFiles struct {
	ID         int64
	LogPath    string
	StatusPath string
	EnvFile    string
	EndedAt    time.Time
}

// EndedJobFiles lists the log, status and environment files of jobs that ended before
// before, oldest first. Running and queued jobs are never listed: their
// supervisors still write (and adopt from) these files. An engine's job
// (Slurm) wrote its log into its owner's working directory, like Slurm's
// own slurm-ID.out: that file is the owner's, and runner leaves it.
func (db *DB) EndedJobFiles(ctx context.Context, before time.Time) ([]JobFiles, error) {
	// The jobs of an array share one environment file: it goes with the
	// last of them, never while one may still start.
	rows, err := db.query(ctx, `SELECT id, CASE WHEN executor = 'local' THEN log_path ELSE '' END, status_path,
			CASE WHEN EXISTS (SELECT 1 FROM jobs o WHERE o.env_file = j.env_file AND o.id != j.id
				AND (o.state IN ('queued', 'running') OR o.ended_at IS NULL OR o.ended_at >= ?)) THEN '' ELSE env_file END,
			ended_at FROM jobs j
		WHERE state NOT IN ('queued', 'running') AND ended_at IS NOT NULL AND ended_at < ?
			AND ((log_path != '' AND executor = 'local') OR status_path != '' OR env_file != '')
		ORDER BY ended_at, id`, ms(before), ms(before))
	if err != nil {
		return nil, fmt.Errorf("ledger: ended job files: %w", err)
	}
	defer rows.Close()
	var out []JobFiles
	for rows.Next() {
		var (
			f     JobFiles
			ended int64
		)
		if err := rows.Scan(&f.ID, &f.LogPath, &f.StatusPath, &f.EnvFile, &ended); err != nil {
			return nil, fmt.Errorf("ledger: ended job files: %w", err)
		}
		f.EndedAt = fromMS(ended)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: ended job files: %w", err)
	}
	return out, nil
}

// Vacuum folds the WAL into the main file and rebuilds it without free
// pages. It returns the ledger's size (main file plus WAL pages) before and
// after, in bytes. It waits for other writers like any write (busy_timeout).
func (db *DB) Vacuum(ctx context.Context) (before, after int64, err error) {
	if err := db.writable(); err != nil {
		return 0, 0, err
	}
	if before, err = db.fileBytes(ctx); err != nil {
		return 0, 0, err
	}
	// VACUUM cannot run inside a transaction: the single writer connection
	// runs it on its own, so no write of this process interleaves.
	if _, err := db.w.ExecContext(ctx, `VACUUM`); err != nil {
		return 0, 0, fmt.Errorf("ledger %s: vacuum: %w", db.path, err)
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, 0, fmt.Errorf("ledger %s: checkpoint: %w", db.path, err)
	}
	if after, err = db.fileBytes(ctx); err != nil {
		return 0, 0, err
	}
	return before, after, nil
}

// fileBytes is what the ledger takes on disk: the main file and its WAL.
func (db *DB) fileBytes(context.Context) (int64, error) {
	var total int64
	for _, p := range []string{db.path, db.path + "-wal"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("ledger: size: %w", err)
		}
		total += st.Size()
	}
	return total, nil
}

// PruneEvents deletes events log entries older than before and returns how
// many. Runs, uploads and jobs are never pruned.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE at < ?`, ms(before))
		if err != nil {
			return fmt.Errorf("ledger: prune events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
