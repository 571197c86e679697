package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runnerhq/runner/internal/jsonlist"
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

// UploadsSince counts the run dirs uploaded since t (ok) and those whose
// upload failed since t and that are failed now, out of attempts (failed):
// a failed attempt that will be retried is not a failed run, so it is not
// counted (interrupted calls are not recorded at all).
func (db *DB) UploadsSince(ctx context.Context, t time.Time) (ok, failed int, err error) {
	if err := db.queryRow(ctx, `SELECT count(DISTINCT CASE WHEN u.outcome = 'success' THEN ur.dir END),
		count(DISTINCT CASE WHEN u.outcome != 'success' AND r.state = 'failed' THEN ur.dir END)
		FROM uploads u JOIN upload_runs ur ON ur.upload_id = u.id JOIN runs r ON r.dir = ur.dir
		WHERE u.ended_at >= ?`, ms(t)).Scan(&ok, &failed); err != nil {
		return 0, 0, fmt.Errorf("ledger: uploads since: %w", err)
	}
	return ok, failed, nil
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
	// Only errors of runs that are still not synced: once a run is on
	// W&B, its earlier failures are history, not something to act on.
	evs, err := db.queryEvents(ctx, `SELECT id, at, kind, subject, message FROM events e WHERE kind = 'error'
		AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.dir = e.subject AND r.state = 'synced')
		ORDER BY id DESC LIMIT ?`, lim)
	if err != nil {
		return nil, err
	}
	ups, err := db.queryEvents(ctx, `SELECT id, coalesce(ended_at, started_at), 'upload.failed',
		CASE WHEN run_id != '' THEN run_id ELSE coalesce(json_extract(dirs, '$[0]'), '') END,
		outcome || ': ' || error
		FROM uploads u WHERE outcome != 'success'
			AND EXISTS (SELECT 1 FROM upload_runs ur JOIN runs r ON r.dir = ur.dir
				WHERE ur.upload_id = u.id AND r.state != 'synced')
		ORDER BY id DESC LIMIT ?`, lim)
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
	// UploadScopes are the daemon's pause scopes: `runner status` calls
	// uploads paused when a pause holds one of them.
	UploadScopes []string
	// UploadsOff: started with --no-upload.
	UploadsOff bool
	// UploadProblem is what the daemon's start check found wrong with
	// uploads (no wandb CLI, no key); "" when fine.
	UploadProblem string
	// JobUnits: jobs start as transient systemd services (submit --mem needs it).
	JobUnits bool
	// Executor is where submit sends a job without --executor; JobsWandbDir
	// is the WANDB_DIR of its jobs (an engine's job script sets it).
	Executor     Executor
	JobsWandbDir string
}

// HeartbeatInterval is how often the daemon proves it is alive in the ledger
// (each beat is a write: an idle daemon does few of them); after three
// missed beats it counts as down (Live).
const HeartbeatInterval = 10 * time.Second

// Live reports whether the daemon row d shows a live daemon: marked up and
// beating. This is the one rule for "is the daemon running" that status,
// submit and jobs share; nil (no daemon ever ran) is not live.
func (d *Daemon) Live(now time.Time) bool {
	return d != nil && d.Up && now.Sub(d.HeartbeatAt) < 3*HeartbeatInterval
}

// Heartbeat records that the daemon d is alive now.
func (db *DB) Heartbeat(ctx context.Context, d Daemon) error {
	return db.inTx(ctx, func(tx *Tx) error {
		now := db.now()
		started := d.StartedAt
		if started.IsZero() {
			started = now
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO daemon (id, pid, host, version, started_at, heartbeat_at, watch, up, stopped_at,
				upload_scopes, uploads_on, upload_problem, job_units, executor, jobs_wandb_dir)
			VALUES (1, ?, ?, ?, ?, ?, ?, 1, NULL, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, version = excluded.version,
				started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, watch = excluded.watch,
				up = 1, stopped_at = NULL, upload_scopes = excluded.upload_scopes, uploads_on = excluded.uploads_on,
				upload_problem = excluded.upload_problem, job_units = excluded.job_units, executor = excluded.executor,
				jobs_wandb_dir = excluded.jobs_wandb_dir`,
			d.PID, d.Host, d.Version, ms(started), ms(now), jsonlist.Encode(d.Watch), jsonlist.Encode(d.UploadScopes), !d.UploadsOff,
			d.UploadProblem, d.JobUnits, cmp.Or(d.Executor, ExecutorLocal), d.JobsWandbDir)
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
		watch, scopes      string
		stopped            sql.NullInt64
		uploadsOn          bool
	)
	err := db.queryRow(ctx, `SELECT pid, host, version, started_at, heartbeat_at, watch, up, stopped_at, upload_scopes, uploads_on,
		upload_problem, job_units, executor, jobs_wandb_dir FROM daemon WHERE id = 1`).Scan(&d.PID, &d.Host, &d.Version, &started,
		&heartbeat, &watch, &d.Up, &stopped, &scopes, &uploadsOn, &d.UploadProblem, &d.JobUnits, &d.Executor, &d.JobsWandbDir)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: daemon state: %w", err)
	}
	d.StartedAt, d.HeartbeatAt = fromMS(started), fromMS(heartbeat)
	d.Watch = jsonlist.Decode(watch)
	d.UploadScopes = jsonlist.Decode(scopes)
	d.UploadsOff = !uploadsOn
	d.StoppedAt = fromNullMS(stopped)
	return &d, nil
}

// ScopeAll is the pause scope that holds every process (a pause recorded
// without a scope, or by a runner from before scopes).
const ScopeAll = "all"

// Pause is one paused upload configuration (docs/design.md "Pauses").
type Pause struct {
	Scope  string // key:<hash of the API key>, cli:<hash of CLI path and base URL>, or ScopeAll
	Reason string
	Config string // what Scope stands for, for people; never the key
	By     string // the process that paused
	Since  time.Time
}

// PauseUploads pauses the uploads of every process whose scopes include
// p.Scope (an empty Scope pauses all). Pausing a paused scope again keeps
// its first time and takes the new reason.
func (db *DB) PauseUploads(ctx context.Context, p Pause) error {
	if p.Scope == "" {
		p.Scope = ScopeAll
	}
	return db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.now())
		res, err := tx.ExecContext(ctx, `INSERT INTO pauses (scope, reason, config, by, since) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, by = excluded.by WHERE reason != excluded.reason`,
			p.Scope, p.Reason, p.Config, p.By, now)
		if err != nil {
			return fmt.Errorf("ledger: pause uploads: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return addEvent(ctx, tx, now, "uploads", p.Scope, "paused: "+p.Reason)
	})
}

// ResumeUploads lifts the pauses of scopes (and ScopeAll); no scopes: every
// pause. A no-op when none applies.
func (db *DB) ResumeUploads(ctx context.Context, scopes []string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		q, args := `DELETE FROM pauses RETURNING scope`, []any(nil)
		if len(scopes) > 0 {
			ph, a := placeholders(append(slices.Clone(scopes), ScopeAll))
			q, args = `DELETE FROM pauses WHERE scope IN (`+ph+`) RETURNING scope`, a
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("ledger: resume uploads: %w", err)
		}
		var lifted []string
		for rows.Next() {
			var sc string
			if err := rows.Scan(&sc); err != nil {
				rows.Close()
				return fmt.Errorf("ledger: resume uploads: %w", err)
			}
			lifted = append(lifted, sc)
		}
		rows.Close()
		for _, sc := range lifted {
			if err := addEvent(ctx, tx, ms(db.now()), "uploads", sc, "resumed"); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// UploadsPaused returns the pause that holds a process with these scopes
// (ScopeAll holds everyone), if any. No scopes: any pause.
func (db *DB) UploadsPaused(ctx context.Context, scopes []string) (Pause, bool, error) {
	ps, err := db.Pauses(ctx)
	if err != nil {
		return Pause{}, false, err
	}
	for _, p := range ps {
		if len(scopes) == 0 || p.Scope == ScopeAll || slices.Contains(scopes, p.Scope) {
			return p, true, nil
		}
	}
	return Pause{}, false, nil
}

// Pauses lists every pause, oldest first.
func (db *DB) Pauses(ctx context.Context) ([]Pause, error) {
	rows, err := db.query(ctx, `SELECT scope, reason, config, by, since FROM pauses ORDER BY since, scope`)
	if err != nil {
		return nil, fmt.Errorf("ledger: pauses: %w", err)
	}
	defer rows.Close()
	var out []Pause
	for rows.Next() {
		var p Pause
		var since int64
		if err := rows.Scan(&p.Scope, &p.Reason, &p.Config, &p.By, &since); err != nil {
			return nil, fmt.Errorf("ledger: pauses: %w", err)
		}
		p.Since = fromMS(since)
		out = append(out, p)
	}
	return out, rows.Err()
}
