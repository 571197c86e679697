package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Counts returns the number of runs in each state; every state is present.
func (db *DB) Counts(ctx context.Context) (map[State]int, error) {
	out := make(map[State]int, len(AllStates))
	for _, s := range AllStates {
		out[s] = 0
	}
	rows, err := db.query(ctx, `SELECT state, count(*) FROM runs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("ledger: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s State
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("ledger: counts: %w", err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: counts: %w", err)
	}
	return out, nil
}

// OldestPending is the earliest changed_at (when the log last grew, i.e.
// when it finished) over pending runs, or nil when none is pending.
func (db *DB) OldestPending(ctx context.Context) (*time.Time, error) {
	var v sql.NullInt64
	if err := db.queryRow(ctx, `SELECT min(changed_at) FROM runs WHERE state = 'pending'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("ledger: oldest pending: %w", err)
	}
	return fromNullMS(v), nil
}

// AddEvent appends one event to the log.
func (db *DB) AddEvent(ctx context.Context, kind, subject, msg string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		return addEvent(ctx, tx, ms(db.now()), kind, subject, msg)
	})
}

// Events returns events of the given kinds (all kinds when none), newest
// first, at most limit (<= 0: all).
func (db *DB) Events(ctx context.Context, kinds []string, limit int) ([]Event, error) {
	q := `SELECT id, at, kind, subject, message FROM events`
	var args []any
	if len(kinds) > 0 {
		var ph string
		ph, args = placeholders(kinds)
		q += ` WHERE kind IN (` + ph + `)`
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return db.queryEvents(ctx, q, args...)
}

func (db *DB) queryEvents(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e  Event
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Subject, &e.Message); err != nil {
			return nil, fmt.Errorf("ledger: events: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: events: %w", err)
	}
	return out, nil
}

// LastErrors merges "error" events and failed upload attempts, newest
// first. Failed uploads appear as Kind "upload.failed", ID the upload id,
// Subject the run id (or first dir), Message "outcome: error".
func (db *DB) LastErrors(ctx context.Context, limit int) ([]Event, error) {
	lim := limit
	if lim <= 0 {
		lim = -1 // SQLite: no limit
	}
	evs, err := db.queryEvents(ctx, `SELECT id, at, kind, subject, message FROM events WHERE kind = 'error'
		ORDER BY id DESC LIMIT ?`, lim)
	if err != nil {
		return nil, err
	}
	ups, err := db.queryEvents(ctx, `SELECT id, coalesce(ended_at, started_at), 'upload.failed',
		CASE WHEN run_id != '' THEN run_id ELSE coalesce(json_extract(dirs, '$[0]'), '') END,
		outcome || ': ' || error
		FROM uploads WHERE outcome != 'success' ORDER BY id DESC LIMIT ?`, lim)
	if err != nil {
		return nil, err
	}
	out := append(evs, ups...)
	slices.SortStableFunc(out, func(a, b Event) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Daemon is the single-row heartbeat of `runner daemon`.
type Daemon struct {
	PID         int
	Host        string
	Version     string
	StartedAt   time.Time
	HeartbeatAt time.Time
	Watch       []string
	Up          bool
	StoppedAt   *time.Time
}

// Heartbeat records that the daemon d is alive now.
func (db *DB) Heartbeat(ctx context.Context, d Daemon) error {
	return db.inTx(ctx, func(tx *Tx) error {
		now := db.now()
		started := d.StartedAt
		if started.IsZero() {
			started = now
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO daemon (id, pid, host, version, started_at, heartbeat_at, watch, up, stopped_at)
			VALUES (1, ?, ?, ?, ?, ?, ?, 1, NULL)
			ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, version = excluded.version,
				started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, watch = excluded.watch,
				up = 1, stopped_at = NULL`,
			d.PID, d.Host, d.Version, ms(started), ms(now), encodeList(d.Watch))
		if err != nil {
			return fmt.Errorf("ledger: heartbeat: %w", err)
		}
		return nil
	})
}

// DaemonDown records a clean daemon stop.
func (db *DB) DaemonDown(ctx context.Context) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE daemon SET up = 0, stopped_at = ? WHERE id = 1`, ms(db.now())); err != nil {
			return fmt.Errorf("ledger: daemon down: %w", err)
		}
		return nil
	})
}

// DaemonState returns the last heartbeat, or nil if no daemon ever ran.
// Up stays true after a crash: compare HeartbeatAt with the interval.
func (db *DB) DaemonState(ctx context.Context) (*Daemon, error) {
	var (
		d                  Daemon
		started, heartbeat int64
		watch              string
		stopped            sql.NullInt64
	)
	err := db.queryRow(ctx, `SELECT pid, host, version, started_at, heartbeat_at, watch, up, stopped_at
		FROM daemon WHERE id = 1`).Scan(&d.PID, &d.Host, &d.Version, &started, &heartbeat, &watch, &d.Up, &stopped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: daemon state: %w", err)
	}
	d.StartedAt, d.HeartbeatAt = fromMS(started), fromMS(heartbeat)
	d.Watch = decodeList(watch)
	d.StoppedAt = fromNullMS(stopped)
	return &d, nil
}

const pausedKey = "uploads.paused"

// PauseUploads stops all uploads (e.g. a rejected API key) until
// ResumeUploads. Pausing again updates the reason but keeps the first time.
func (db *DB) PauseUploads(ctx context.Context, reason string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		res, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value != excluded.value`, pausedKey, reason, now)
		if err != nil {
			return fmt.Errorf("ledger: pause uploads: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return addEvent(ctx, tx, now, "uploads", "", "paused: "+reason)
	})
}

// ResumeUploads lifts a pause; a no-op when not paused.
func (db *DB) ResumeUploads(ctx context.Context) error {
	return db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, pausedKey)
		if err != nil {
			return fmt.Errorf("ledger: resume uploads: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return addEvent(ctx, tx, ms(db.now()), "uploads", "", "resumed")
	})
}

// UploadsPaused reports whether uploads are paused, why and since when.
func (db *DB) UploadsPaused(ctx context.Context) (reason string, since time.Time, paused bool, err error) {
	var at int64
	err = db.queryRow(ctx, `SELECT value, updated_at FROM settings WHERE key = ?`, pausedKey).Scan(&reason, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("ledger: uploads paused: %w", err)
	}
	return reason, fromMS(at), true, nil
}
