package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/jsonlist"
)

// Claim leases one upload group to owner and returns its runs, oldest first
// (start time, then dir name), or an empty slice when nothing is claimable.
//
// A group is claimable when it has pending dirs, all of them due
// (next_attempt_at NULL or past), and none of its dirs is active (a stage
// still writing), uploading (leased elsewhere) or failed (the group needs
// `runner sync --retry` first, so fragments never go up without each other).
// Synced, skipped and missing siblings neither block nor join the claim.
// Nor is a group claimable while a job with its run id is queued or
// running: a pipeline's stages go up together, after the last one ended.
// Groups are taken oldest first (earliest first_seen). only, when given,
// restricts the choice to the groups of these dirs.
func (db *DB) Claim(ctx context.Context, owner string, lease time.Duration, only []string) ([]Run, error) {
	groups, err := db.ClaimBatch(ctx, owner, lease, only, 1)
	if err != nil || len(groups) == 0 {
		return []Run{}, err
	}
	return groups[0], nil
}

// ClaimBatch leases upload groups for one batched `wandb sync` call
// (docs/design.md "Batched uploads"): the first claimable group as Claim
// takes it, then, unless that group must go alone, more groups oldest first
// while the call holds fewer than maxDirs dirs. A group goes alone (as the
// only one of its call) when its last batched call failed for a reason not
// its own (upload_alone), or when it has synced siblings on disk (a late
// fragment needs --include-synced, which would apply to the whole call).
// Two groups with the same run id never share a call: the CLI's output
// names runs by id. Each group comes back in stage order.
func (db *DB) ClaimBatch(ctx context.Context, owner string, lease time.Duration, only []string, maxDirs int) ([][]Run, error) {
	if owner == "" || lease <= 0 {
		return nil, fmt.Errorf("ledger: claim: need an owner and a positive lease (got %q, %s)", owner, lease)
	}
	var out [][]Run
	err := db.inTx(ctx, func(tx *Tx) error {
		out = nil
		now := db.now()
		nowMS, exp := ms(now), ms(now.Add(lease))
		first, err := claimGroup(ctx, tx, owner, nowMS, exp, only, "", nil)
		if err != nil || len(first) == 0 {
			return err
		}
		out = append(out, first)
		n := len(first)
		ids := []any{first[0].RunID}
		if alone, err := goesAlone(ctx, tx, first); err != nil || alone {
			return err
		}
		for n < maxDirs {
			ph := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
			g, err := claimGroup(ctx, tx, owner, nowMS, exp, only, `
					AND p.run_id NOT IN (`+ph+`)
					AND NOT EXISTS (SELECT 1 FROM runs s WHERE s.group_key = p.group_key
						AND (s.upload_alone = 1 OR (s.state = 'synced' AND s.deleted_at IS NULL)))`, ids)
			if err != nil || len(g) == 0 {
				return err
			}
			out = append(out, g)
			n += len(g)
			ids = append(ids, g[0].RunID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// goesAlone reports whether a claimed group must be the only one of its call.
func goesAlone(ctx context.Context, tx *Tx, group []Run) (bool, error) {
	for _, r := range group {
		if r.UploadAlone {
			return true, nil
		}
	}
	var synced bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE group_key = ? AND state = 'synced'
		AND deleted_at IS NULL)`, group[0].GroupKey).Scan(&synced); err != nil {
		return false, fmt.Errorf("ledger: claim: %w", err)
	}
	return synced, nil
}

// claimGroup leases the oldest claimable group (see Claim), narrowed by
// extra conditions on its pending run p, in one UPDATE ... RETURNING. It
// returns the group's runs in stage order, or none.
func claimGroup(ctx context.Context, tx *Tx, owner string, nowMS, exp int64, only []string, extra string, extraArgs []any) ([]Run, error) {
	onlyWhere, onlyArgs := "", []any(nil)
	if len(only) > 0 {
		list, a := inList(only)
		onlyArgs = []any{a}
		onlyWhere = " AND p.group_key IN (SELECT group_key FROM runs WHERE dir IN (" + list + "))"
	}
	claim := runMove(RunClaimed)
	fromPH, fromArgs := placeholders(claim.From)
	args := append([]any{claim.To, owner, exp, nowMS}, fromArgs...)
	args = append(append(args, nowMS), onlyArgs...)
	args = append(append(args, extraArgs...), nowMS)
	rows, err := tx.QueryContext(ctx, claimGroupSQL(fromPH, onlyWhere+extra)+runCols, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: claim: %w", err)
	}
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: claim: %w", err)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: claim: %w", err)
	}
	for _, r := range out {
		if err := stateEvent(ctx, tx, nowMS, r.Dir, StatePending, claim.To, "claimed by "+owner); err != nil {
			return nil, err
		}
	}
	SortStages(out)
	return out, nil
}

// PendingDue counts the pending runs whose backoff (if any) has run out:
// the upload workers split a backlog between them by it.
func (db *DB) PendingDue(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM runs WHERE state = 'pending'
		AND (next_attempt_at IS NULL OR next_attempt_at <= ?)`, ms(db.now())).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: pending runs: %w", err)
	}
	return n, nil
}

// NextAttempt returns when the earliest pending run whose backoff had not
// run out at since (the time of the caller's last claim) becomes due, and
// false when none waits: an idle upload worker sleeps until then instead of
// polling (docs/design.md "Upload workers"). A backoff that ran out between
// that claim and this call is returned too, already past, so the worker
// claims again at once rather than sleeping a whole poll past it; one due
// before since is not, since the claim saw it and could not take it (uploads
// paused, a sibling uploading) and a worker must not spin on it.
func (db *DB) NextAttempt(ctx context.Context, since time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := db.queryRow(ctx, `SELECT min(next_attempt_at) FROM runs
		WHERE state = 'pending' AND next_attempt_at > ?`, ms(since)).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("ledger: next attempt: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(next.Int64), true, nil
}

// StageOrder is the one order of the dirs of one W&B run (docs/design.md
// "Stage order"): by start time, oldest first; a dir without a start time
// (its run record was lost) after those that have one; then by dir base
// name, which embeds the time wandb created the dir; then by full path.
func StageOrder(a, b Run) int {
	switch {
	case a.StartTime != nil && b.StartTime != nil:
		if c := a.StartTime.Compare(*b.StartTime); c != 0 {
			return c
		}
	case a.StartTime != nil:
		return -1
	case b.StartTime != nil:
		return 1
	}
	if c := strings.Compare(filepath.Base(a.Dir), filepath.Base(b.Dir)); c != 0 {
		return c
	}
	return strings.Compare(a.Dir, b.Dir)
}

// leased checks inside tx that every dir is uploading under owner's lease;
// otherwise nothing may change.
func leased(ctx context.Context, tx *Tx, owner string, dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("ledger: no dirs given for %s's lease", owner)
	}
	uniq := slices.Compact(slices.Sorted(slices.Values(dirs)))
	list, arg := inList(uniq)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE state = 'uploading' AND lease_owner = ? AND dir IN (`+list+`)`,
		owner, arg).Scan(&n); err != nil {
		return fmt.Errorf("ledger: check lease: %w", err)
	}
	if n != len(uniq) {
		return fmt.Errorf("%s holds the lease on %d of %d dirs (%s): %w", owner, n, len(uniq), uniq[0], ErrLeaseLost)
	}
	return nil
}

// ExtendLease pushes the lease of owner's dirs to now+lease, or fails with
// ErrLeaseLost (changing nothing) if any of them is no longer owner's.
func (db *DB) ExtendLease(ctx context.Context, owner string, dirs []string, lease time.Duration) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if err := leased(ctx, tx, owner, dirs); err != nil {
			return err
		}
		now := db.now()
		list, arg := inList(dirs)
		_, err := tx.ExecContext(ctx, `UPDATE runs SET lease_expires_at = ?, updated_at = ? WHERE dir IN (`+list+`)`,
			ms(now.Add(lease)), ms(now), arg)
		if err != nil {
			return fmt.Errorf("ledger: extend lease: %w", err)
		}
		return nil
	})
}

// Result is the outcome of one upload attempt of a group.
type Result struct {
	Outcome       string // Outcome* constants
	Source        string // for success: SourceUpload or SourceRepaired
	URL           string
	ExitCode      *int
	OutputTail    string // already redacted
	Error         string // one line
	StartedAt     time.Time
	CountAttempt  bool      // false for auth/pause failures and shutdown releases
	NextAttemptAt time.Time // for failures that stay pending (caller computed backoff)
	MaxAttempts   int       // attempts >= MaxAttempts after counting -> failed (<= 0: never)
	// GiveUp fails the runs now, whatever the attempts: a retry would do
	// harm (the data went up, only the marker could not be written).
	GiveUp bool
	// Alone: the batched call failed for a reason not shown to be these
	// runs' own; their group goes up alone next time (upload_alone).
	Alone bool
}

// Complete records an upload attempt of owner's leased dirs and moves them:
// success -> synced; failure -> pending with next_attempt_at, or failed once
// the counted attempts reach MaxAttempts. ErrLeaseLost (and no change) if any
// dir is not uploading under owner's lease. A counted successful attempt is
// counted in attempts too.
func (db *DB) Complete(ctx context.Context, owner string, dirs []string, r Result) error {
	switch r.Outcome {
	case OutcomeSuccess, OutcomeAuth, OutcomeTransient, OutcomeOther:
	default:
		return fmt.Errorf("ledger: complete: unknown outcome %q", r.Outcome)
	}
	if r.Outcome == OutcomeSuccess && r.Source == "" {
		r.Source = SourceUpload
	}
	if r.Outcome == OutcomeSuccess && r.Source != SourceUpload && r.Source != SourceRepaired && r.Source != SourceMarker {
		return fmt.Errorf("ledger: complete: unknown source %q", r.Source)
	}
	return db.inTx(ctx, func(tx *Tx) error {
		if err := leased(ctx, tx, owner, dirs); err != nil {
			return err
		}
		now := ms(db.now())
		list, arg := inList(dirs)
		runs, err := txRuns(ctx, tx, `WHERE dir IN (`+list+`)`, arg)
		if err != nil {
			return err
		}
		SortStages(runs)
		if err := insertUpload(ctx, tx, now, owner, runs, r); err != nil {
			return err
		}
		inc := 0
		if r.CountAttempt {
			inc = 1
		}
		for _, run := range runs {
			why := "uploaded"
			switch r.Source {
			case SourceRepaired:
				why = "uploaded from a repaired copy"
			case SourceMarker:
				why = "synced by someone else (marker appeared)"
			}
			if r.URL != "" {
				why += " to " + r.URL
			}
			attempts := run.Attempts + inc
			ev := RunUploadFailed
			switch {
			case r.Outcome == OutcomeSuccess:
				ev = RunUploaded
			case r.GiveUp || (r.MaxAttempts > 0 && attempts >= r.MaxAttempts):
				ev = RunGaveUp
			}
			to, err := NextRunState(run.State, ev)
			if err != nil {
				return fmt.Errorf("ledger: complete %s: %w", run.Dir, err)
			}
			var q string
			var qa []any
			switch ev {
			case RunUploaded:
				q = runSyncedSQL
				qa = []any{to, attempts, r.Source, r.URL, now, now, run.Dir}
			case RunGaveUp:
				why = fmt.Sprintf("gave up after %d attempts: %s", attempts, r.Error)
				if r.GiveUp {
					why = "not retried: " + r.Error
				}
				q = runGaveUpSQL
				qa = []any{to, attempts, r.Error, why, now, run.Dir}
			default:
				why = fmt.Sprintf("%s failure (attempt %d): %s", r.Outcome, attempts, r.Error)
				if r.Alone {
					why = "batched call failed, not by this run; next time alone: " + r.Error
				}
				q = runRetrySQL
				qa = []any{to, attempts, r.Error, msOrNull(r.NextAttemptAt), r.Alone || run.UploadAlone, now, run.Dir}
			}
			if _, err := tx.ExecContext(ctx, q, qa...); err != nil {
				return fmt.Errorf("ledger: complete %s: %w", run.Dir, err)
			}
			if err := stateEvent(ctx, tx, now, run.Dir, run.State, to, why); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertUpload(ctx context.Context, tx *Tx, now int64, owner string, runs []Run, r Result) error {
	dirs := make([]string, len(runs))
	for i, run := range runs {
		dirs[i] = run.Dir
	}
	dirsJSON, err := json.Marshal(dirs)
	if err != nil {
		return fmt.Errorf("ledger: record upload: %w", err)
	}
	started := r.StartedAt
	if started.IsZero() {
		started = fromMS(now)
	}
	source := ""
	if r.Outcome == OutcomeSuccess {
		source = r.Source
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO uploads (run_id, group_key, dirs, owner, started_at, ended_at,
		outcome, source, exit_code, output_tail, error, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		runs[0].RunID, runs[0].GroupKey, string(dirsJSON), owner, ms(started), now, r.Outcome, source,
		intPtr(r.ExitCode), r.OutputTail, r.Error, r.URL).Scan(&id); err != nil {
		return fmt.Errorf("ledger: record upload: %w", err)
	}
	for _, d := range dirs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO upload_runs (upload_id, dir) VALUES (?, ?)`, id, d); err != nil {
			return fmt.Errorf("ledger: record upload: %w", err)
		}
	}
	subject := runs[0].RunID
	if subject == "" {
		subject = runs[0].Dir
	}
	msg := r.Outcome
	if r.Outcome == OutcomeSuccess {
		msg += ": " + r.URL
	} else if r.Error != "" {
		msg += ": " + r.Error
	}
	return addEvent(ctx, tx, now, "upload", subject, msg)
}

func txRuns(ctx context.Context, tx *Tx, where string, args ...any) ([]Run, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+runCols+` FROM runs `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: read runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: read runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Release hands owner's leased dirs back to pending without counting an
// attempt (shutdown, pause). ErrLeaseLost if any is not owner's.
func (db *DB) Release(ctx context.Context, owner string, dirs []string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if err := leased(ctx, tx, owner, dirs); err != nil {
			return err
		}
		_, err := transition(ctx, tx, ms(db.now()), scope{dirs: dirs}, RunReleased,
			"released by "+owner, "lease_owner = '', lease_expires_at = NULL, next_attempt_at = NULL")
		return err
	})
}

// RescueExpired returns uploads whose lease ran out (a crashed or hung
// worker) to pending, and reports how many runs it moved.
func (db *DB) RescueExpired(ctx context.Context) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		now := ms(db.now())
		runs, err := txRuns(ctx, tx, `WHERE state = ? AND lease_expires_at < ? ORDER BY dir`, StateUploading, now)
		if err != nil {
			return err
		}
		for _, r := range runs {
			why := fmt.Sprintf("lease of %s expired at %s", r.LeaseOwner, r.LeaseExpiresAt.Format(time.RFC3339))
			moved, err := transition(ctx, tx, now, scope{dirs: []string{r.Dir}}, RunLeaseExpired, why,
				"lease_owner = '', lease_expires_at = NULL, next_attempt_at = NULL")
			if err != nil {
				return fmt.Errorf("ledger: rescue %s: %w", r.Dir, err)
			}
			n += len(moved)
		}
		return nil
	})
	if n > 0 {
		db.log.Warn("rescued uploads with expired leases", "runs", n)
	}
	return n, err
}

// RescueDead returns to pending at once the uploads whose holder gone says
// is verifiably gone (a crashed process on this host), without waiting for
// the lease to expire, and reports how many runs it moved.
func (db *DB) RescueDead(ctx context.Context, gone func(owner string) bool) (int, error) {
	rows, err := db.query(ctx, `SELECT DISTINCT lease_owner FROM runs WHERE state = ?`, StateUploading)
	if err != nil {
		return 0, fmt.Errorf("ledger: lease holders: %w", err)
	}
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ledger: lease holders: %w", err)
		}
		if o != "" && gone(o) {
			owners = append(owners, o)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(owners) == 0 {
		return 0, err
	}
	n := 0
	err = db.inTx(ctx, func(tx *Tx) error {
		n = 0
		now := ms(db.now())
		for _, o := range owners {
			dirs, err := txRuns(ctx, tx, `WHERE state = ? AND lease_owner = ?`, StateUploading, o)
			if err != nil {
				return err
			}
			for _, r := range dirs {
				moved, err := transition(ctx, tx, now, scope{dirs: []string{r.Dir}}, RunLeaseExpired,
					"lease holder "+o+" is gone", "lease_owner = '', lease_expires_at = NULL, next_attempt_at = NULL")
				if err != nil {
					return err
				}
				n += len(moved)
			}
		}
		return nil
	})
	if n > 0 {
		db.log.Warn("rescued uploads of a holder that is gone", "runs", n)
	}
	return n, err
}

// Attempts lists the upload attempts that covered dir, oldest first.
func (db *DB) Attempts(ctx context.Context, dir string) ([]Attempt, error) {
	rows, err := db.query(ctx, `SELECT u.id, u.run_id, u.dirs, u.owner, u.started_at, u.ended_at, u.outcome,
		u.exit_code, u.output_tail, u.url, u.source, u.error
		FROM upload_runs ur JOIN uploads u ON u.id = ur.upload_id WHERE ur.dir = ? ORDER BY u.id`, dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: attempts of %s: %w", dir, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var (
			a       Attempt
			dirs    string
			started int64
			ended   sql.NullInt64
			code    sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &a.RunID, &dirs, &a.Owner, &started, &ended, &a.Outcome, &code,
			&a.OutputTail, &a.URL, &a.Source, &a.Error); err != nil {
			return nil, fmt.Errorf("ledger: attempts of %s: %w", dir, err)
		}
		a.Dirs = jsonlist.Decode(dirs)
		a.StartedAt = fromMS(started)
		a.EndedAt = fromNullMS(ended)
		if code.Valid {
			v := int(code.Int64)
			a.ExitCode = &v
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: attempts of %s: %w", dir, err)
	}
	return out, nil
}

// SyncedSiblings returns the synced runs of an upload group whose dirs gc has
// not deleted: a later fragment of a run (a resume, a pipeline stage added
// afterwards) must go up in one wandb sync call with the fragments already
// synced, or it replaces their history on W&B.
func (db *DB) SyncedSiblings(ctx context.Context, groupKey string) ([]Run, error) {
	rows, err := db.query(ctx, `SELECT `+runCols+` FROM runs
		WHERE group_key = ? AND state = 'synced' AND deleted_at IS NULL`, groupKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: synced siblings of %s: %w", groupKey, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: synced siblings of %s: %w", groupKey, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
