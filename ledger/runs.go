package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/jsonlist"
)

// runCols is the column list every Run query selects, in scanRun's order.
const runCols = `dir, log_path, group_key, run_id, entity, project, name, run_group, job_type, tags,
	start_time, wandb_version, finished, footer, exit_code, runtime_s, torn_tail, read_error,
	history_rows, history_keys, records_json, summary_json, config_json, good_offset, empty,
	size, mtime, state, reason, source, attempts, next_attempt_at, lease_owner, lease_expires_at,
	last_error, url, synced_at, job_id, first_seen, updated_at, changed_at, upload_alone`

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner) (Run, error) {
	var (
		r                                      Run
		tags, keys                             string
		start, next, lease, synced             sql.NullInt64
		exitCode, runtime, jobID               sql.NullInt64
		mtime, firstSeen, updatedAt, changedAt int64
		finished, footer, torn, empty, alone   bool
	)
	err := s.Scan(&r.Dir, &r.LogPath, &r.GroupKey, &r.RunID, &r.Entity, &r.Project, &r.Name, &r.Group,
		&r.JobType, &tags, &start, &r.WandbVersion, &finished, &footer, &exitCode, &runtime, &torn,
		&r.ReadError, &r.HistoryRows, &keys, &r.RecordsJSON, &r.SummaryJSON, &r.ConfigJSON,
		&r.GoodOffset, &empty, &r.Size, &mtime, &r.State, &r.Reason, &r.Source, &r.Attempts, &next,
		&r.LeaseOwner, &lease, &r.LastError, &r.URL, &synced, &jobID, &firstSeen, &updatedAt, &changedAt, &alone)
	if err != nil {
		return Run{}, err
	}
	r.Finished, r.Footer, r.TornTail, r.Empty, r.UploadAlone = finished, footer, torn, empty, alone
	r.Tags = jsonlist.Decode(tags)
	r.HistoryKeys = jsonlist.Decode(keys)
	r.StartTime = fromNullMS(start)
	r.NextAttemptAt = fromNullMS(next)
	r.LeaseExpiresAt = fromNullMS(lease)
	r.SyncedAt = fromNullMS(synced)
	if exitCode.Valid {
		v := int(exitCode.Int64)
		r.ExitCode = &v
	}
	if runtime.Valid {
		v := int(runtime.Int64)
		r.RuntimeS = &v
	}
	if jobID.Valid {
		v := jobID.Int64
		r.JobID = &v
	}
	r.MTime = fromMS(mtime)
	r.FirstSeen = fromMS(firstSeen)
	r.UpdatedAt = fromMS(updatedAt)
	r.ChangedAt = fromMS(changedAt)
	return r, nil
}

func int64Ptr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func intPtr(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// metaArgs are the values of the metadata columns from log_path on, in the
// order of metaCols.
const metaCols = `log_path, group_key, run_id, entity, project, name, run_group, job_type, tags,
	start_time, wandb_version, finished, footer, exit_code, runtime_s, torn_tail, read_error,
	history_rows, history_keys, records_json, summary_json, config_json, good_offset, empty, size, mtime`

func metaArgs(o Observation, m *Meta) []any {
	return []any{o.LogPath, groupKey(o.Dir, m), m.RunID, m.Entity, m.Project, m.Name, m.Group, m.JobType,
		jsonlist.Encode(m.Tags), msPtr(m.StartTime), m.WandbVersion, m.Finished, m.Footer, intPtr(m.ExitCode),
		intPtr(m.RuntimeS), m.TornTail, m.ReadError, m.HistoryRows, jsonlist.Encode(m.HistoryKeys),
		m.RecordsJSON, m.SummaryJSON, m.ConfigJSON, m.GoodOffset, m.Empty, o.Size, ms(o.MTime)}
}

// FileStat is what discovery compares against to decide whether to re-read a log.
type FileStat struct {
	Size  int64
	MTime time.Time
	State State
}

// RunStats returns size, mtime and state of every run, keyed by dir.
func (db *DB) RunStats(ctx context.Context) (map[string]FileStat, error) {
	rows, err := db.query(ctx, `SELECT dir, size, mtime, state FROM runs`)
	if err != nil {
		return nil, fmt.Errorf("ledger: run stats: %w", err)
	}
	defer rows.Close()
	out := make(map[string]FileStat)
	for rows.Next() {
		var (
			dir string
			fs  FileStat
			mt  int64
		)
		if err := rows.Scan(&dir, &fs.Size, &mt, &fs.State); err != nil {
			return nil, fmt.Errorf("ledger: run stats: %w", err)
		}
		fs.MTime = fromMS(mt)
		out[dir] = fs
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: run stats: %w", err)
	}
	return out, nil
}

// Observation is one look at a run dir by discovery.
type Observation struct {
	Dir, LogPath string
	Size         int64
	MTime        time.Time
	Meta         *Meta // nil when the file was not re-read (size/mtime unchanged)
	MarkerExists bool  // run-<id>.wandb.synced present
	// Known: the ledger had a row for Dir when it was read. UpsertRuns
	// then looks the row up first; an insert attempt (and, on a box that
	// runs jobs, the job lookup before it) is for runs it has not seen.
	Known bool
}

// Reasons the ledger writes itself.
const (
	reasonMarker     = "synced marker present"
	reasonEmpty      = "empty log: nothing to upload"
	reasonUnreadable = "not readable: "
	reasonMissing    = "run dir vanished before upload"
)

// skipReason is why runner itself skips a log with nothing to upload:
// each unreadable case has its own reason (docs/design.md "Hostile files").
func skipReason(m *Meta) string {
	if m.ReadError != "" {
		return reasonUnreadable + m.ReadError
	}
	return reasonEmpty
}

// autoSkipped reports whether runner skipped a run itself (not the user):
// such a run is judged again when its log changes.
func autoSkipped(reason string) bool {
	return reason == reasonEmpty || strings.HasPrefix(reason, reasonUnreadable)
}

// UpsertRuns records observations in one transaction and returns the
// resulting rows in input order. See the package brief for the rules; in
// short: new rows start active (or synced by marker, or skipped when empty),
// existing rows are rewritten only when size or mtime changed, and state
// changes are limited to missing -> active, marker -> synced, and an
// auto-skipped empty log that has since grown -> active.
func (db *DB) UpsertRuns(ctx context.Context, obs []Observation) ([]Run, error) {
	if len(obs) == 0 {
		return nil, db.writable()
	}
	var out []Run
	err := db.inTx(ctx, func(tx *Tx) error {
		out = make([]Run, 0, len(obs))
		now := ms(db.now())
		get, err := tx.stmt(ctx, `SELECT `+runCols+` FROM runs WHERE dir = ?`)
		if err != nil {
			return fmt.Errorf("ledger: upsert runs: %w", err)
		}
		ins, err := tx.stmt(ctx, `INSERT INTO runs (dir, base, state, reason, source, synced_at,
			first_seen, updated_at, changed_at, `+metaCols+`, job_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, `+strings.Repeat("?, ", 26)+`?)
			ON CONFLICT (dir) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("ledger: upsert runs: %w", err)
		}
		// Only a box that runs jobs needs the per-run job lookup.
		var anyJobs bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs)`).Scan(&anyJobs); err != nil {
			return fmt.Errorf("ledger: upsert runs: %w", err)
		}
		var touched []string // groups whose summary values may have to be computed again
		for _, o := range obs {
			if o.Dir == "" {
				return fmt.Errorf("ledger: upsert runs: observation without a dir")
			}
			old, err := Run{}, sql.ErrNoRows
			if o.Known {
				old, err = scanRun(get.QueryRowContext(ctx, o.Dir))
			}
			if errors.Is(err, sql.ErrNoRows) {
				// Insert first: in a backfill nearly every run is new, and a
				// conflict (a run seen before) costs no more than a lookup would.
				r, inserted, ierr := insertRun(ctx, tx, ins, o, now, anyJobs)
				if ierr != nil {
					return ierr
				}
				if inserted {
					out = append(out, r)
					// A run first seen active is growing: its group is left
					// stale like its growth's (below), and computed when it is
					// ready; a run inserted in any other state is done.
					if r.State != StateActive {
						touched = append(touched, r.GroupKey)
					}
					continue
				}
				old, err = scanRun(get.QueryRowContext(ctx, o.Dir))
			}
			if err != nil {
				return fmt.Errorf("ledger: upsert run %s: %w", o.Dir, err)
			}
			wrote, err := updateObserved(ctx, tx, old, o, now)
			if err != nil {
				return err
			}
			if wrote {
				before := old
				if old, err = scanRun(get.QueryRowContext(ctx, o.Dir)); err != nil {
					return fmt.Errorf("ledger: upsert run %s: reread: %w", o.Dir, err)
				}
				// The growth of a run that stays active leaves its group
				// stale: readers rank a stale group from its rows, and the
				// values are computed once, when it is ready (MarkReadyMany),
				// not on every slot of its growth (docs/design.md "Summary
				// values").
				if before.State != StateActive || old.State != StateActive || before.GroupKey != old.GroupKey {
					touched = append(touched, before.GroupKey, old.GroupKey)
				}
			}
			out = append(out, old)
		}
		return refreshSummaries(ctx, tx, touched)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertRun inserts a run seen for the first time; inserted is false (and
// nothing written) when the ledger already has the dir.
func insertRun(ctx context.Context, tx *Tx, ins *sql.Stmt, o Observation, now int64, anyJobs bool) (r Run, inserted bool, err error) {
	m := o.Meta
	if m == nil {
		m = &Meta{}
	}
	r = Run{Dir: o.Dir, LogPath: o.LogPath, GroupKey: groupKey(o.Dir, m), Meta: *m, Size: o.Size,
		MTime: fromMS(ms(o.MTime)), FirstSeen: fromMS(now), UpdatedAt: fromMS(now), ChangedAt: fromMS(now)}
	ev := RunObserved
	switch {
	case o.MarkerExists:
		t := fromMS(now)
		ev, r.Reason, r.Source, r.SyncedAt = RunMarkerFound, reasonMarker, SourceMarker, &t
	case m.Empty:
		ev, r.Reason = RunEmpty, skipReason(m)
	}
	if r.State, err = NextRunState(StateNew, ev); err != nil {
		return Run{}, false, fmt.Errorf("ledger: insert run %s: %w", o.Dir, err)
	}
	if anyJobs && m.RunID != "" {
		// The job that wrote this run (see jobForRunSQL).
		var id sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT `+jobForRunSQL, jobForRunArgs(m)...).Scan(&id); err != nil {
			return Run{}, false, fmt.Errorf("ledger: insert run %s: job: %w", o.Dir, err)
		}
		if id.Valid {
			r.JobID = &id.Int64
		}
	}
	args := append([]any{o.Dir, filepath.Base(o.Dir), r.State, r.Reason, r.Source, msPtr(r.SyncedAt), now, now, now}, metaArgs(o, m)...)
	args = append(args, int64Ptr(r.JobID))
	res, err := ins.ExecContext(ctx, args...)
	if err != nil {
		return Run{}, false, fmt.Errorf("ledger: insert run %s: %w", o.Dir, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Run{}, false, fmt.Errorf("ledger: insert run %s: %w", o.Dir, err)
	} else if n == 0 {
		return Run{}, false, nil // seen before
	}
	// What a read would return: times at the ledger's precision, no empty lists.
	r.Metrics = nil
	if len(r.Tags) == 0 {
		r.Tags = nil
	}
	if len(r.HistoryKeys) == 0 {
		r.HistoryKeys = nil
	}
	if r.StartTime != nil {
		t := fromMS(ms(*r.StartTime))
		r.StartTime = &t
	}
	state, reason := r.State, r.Reason
	if err := insertMetrics(ctx, tx, o.Dir, m.Metrics); err != nil {
		return Run{}, false, err
	}
	// Discovery is not a state change; only a decision the user may want
	// explained (already synced, nothing to upload) is logged.
	if state != StateActive {
		if err := addEvent(ctx, tx, now, "run.state", o.Dir, fmt.Sprintf("new -> %s: %s", state, reason)); err != nil {
			return Run{}, false, err
		}
	}
	return r, true, nil
}

// updateObserved applies an observation to an existing row and reports
// whether it wrote anything.
func updateObserved(ctx context.Context, tx *Tx, old Run, o Observation, now int64) (bool, error) {
	// Logs only grow. An observation of a shorter log than the row's (a
	// slower reader of the same file, racing a faster one) must not put an
	// earlier, maybe torn, view back: the upload would cut the run short.
	// (The mtime may go back: a run dir copied in keeps its old times.)
	if o.Size < old.Size {
		return false, nil
	}
	changed := old.Size != o.Size || !old.MTime.Equal(fromMS(ms(o.MTime)))
	if changed {
		var err error
		if o.Meta != nil {
			args := append(append(metaArgs(o, o.Meta), now, now), jobForRunArgs(o.Meta)...)
			args = append(args, o.Dir)
			_, err = tx.ExecContext(ctx, `UPDATE runs SET (`+metaCols+`, changed_at, updated_at) =
				(`+strings.Repeat("?, ", 27)+`?), job_id = coalesce(job_id, `+jobForRunSQL+`) WHERE dir = ?`, args...)
			if err == nil {
				err = replaceMetrics(ctx, tx, o.Dir, o.Meta.Metrics)
			}
		} else {
			// Not re-read, but the quiet-period clock must still restart.
			_, err = tx.ExecContext(ctx, `UPDATE runs SET size = ?, mtime = ?, changed_at = ?, updated_at = ? WHERE dir = ?`,
				o.Size, ms(o.MTime), now, now, o.Dir)
		}
		if err != nil {
			return false, fmt.Errorf("ledger: update run %s: %w", o.Dir, err)
		}
	}

	// Which event this observation is; the table says what it may move.
	var ev RunEvent
	why := ""
	switch {
	case o.MarkerExists:
		// Someone else (a manual wandb sync) uploaded it; the table keeps
		// a run we are uploading (ours) and terminal ones as they are.
		ev, why = RunMarkerFound, reasonMarker
	case old.State == StateMissing:
		ev, why = RunReturned, "run dir seen again"
	case old.State == StateSkipped && autoSkipped(old.Reason) && changed && o.Meta != nil && !o.Meta.Empty:
		// A log that was header-only when first seen was a run just starting.
		// (Only an automatic "empty" skip: a skip by the user stays.)
		ev, why = RunGrew, "empty log has grown"
	case old.State == StatePending && changed:
		// Judged finished, but still being written (a writer runner cannot
		// see): never upload it while it grows.
		ev, why = RunGrew, "log grew after it was judged finished"
	}
	if ev == "" {
		return changed, nil
	}
	to, err := NextRunState(old.State, ev)
	if err != nil {
		return changed, nil // e.g. a marker seen while we upload: not a change of state
	}
	if to == StateSynced {
		_, err = tx.ExecContext(ctx, runMarkerSyncedSQL, to, why, SourceMarker, now, now, o.Dir)
	} else {
		_, err = tx.ExecContext(ctx, runObservedStateSQL, to, now, o.Dir)
	}
	if err != nil {
		return false, fmt.Errorf("ledger: update run %s: %w", o.Dir, err)
	}
	return true, stateEvent(ctx, tx, now, o.Dir, old.State, to, why)
}

// GetRun returns the run of dir, or an error wrapping ErrNotFound.
func (db *DB) GetRun(ctx context.Context, dir string) (Run, error) {
	r, err := scanRun(db.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE dir = ?`, dir))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %s: %w", dir, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("ledger: get run %s: %w", dir, err)
	}
	return r, nil
}

// Filter selects runs for ListRuns; zero fields do not filter.
type Filter struct {
	State   State
	Project string
	RunID   string
	Dir     string
	Limit   int  // <= 0: no limit
	Lean    bool // only the fields of a listing (runLeanCols), the others zero
}

// runLeanCols are the columns of a listing (runner runs, its JSON): 25 of
// runCols' 43, without the JSON blobs, all of them in the index
// runs_listing (migration 20; keep the two lists equal): a listing of
// every run reads the index, not the rows. They are read as one JSON
// array a row (leanSelect, decodeLeanRow: keep its order equal).
const runLeanCols = `dir, group_key, run_id, entity, project, name, run_group, job_type, start_time,
	wandb_version, finished, exit_code, torn_tail, read_error, size, state, reason, source, attempts,
	next_attempt_at, last_error, url, synced_at, job_id, first_seen`

// ListRuns returns the runs matching f, ordered by first_seen, then dir.
func (db *DB) ListRuns(ctx context.Context, f Filter) ([]Run, error) {
	var out []Run
	err := db.EachRun(ctx, f, func(r Run) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachRun calls fn with each run matching f, in ListRuns' order, as it
// reads them: memory stays flat whatever the number of runs. fn's error
// stops the read and is returned as is. The project and state filters are
// indexed (runs_project, runs_state_project); a lean listing of every run
// reads runs_listing alone (migration 20).
func (db *DB) EachRun(ctx context.Context, f Filter, fn func(Run) error) error {
	q, scan, args := runsQuery(f)
	rows, err := db.query(ctx, q, args...)
	return eachRow(rows, err, scan, fn)
}

// RunPasses calls fn with pass, which reads the runs f selects as EachRun
// does, from one read transaction however often fn calls it: a table laid
// out in two passes (the column widths, then the rows) sees the same rows
// in both, while a writer goes on. fn's error is returned as is.
func (db *DB) RunPasses(ctx context.Context, f Filter, fn func(pass func(func(Run) error) error) error) error {
	db.calls.Add(1)
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: list runs: %w", err)
	}
	defer tx.Rollback()
	q, scan, args := runsQuery(f)
	return fn(func(each func(Run) error) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		return eachRow(rows, err, scan, each)
	})
}

// runsQuery is the query of EachRun for f, with its scanner and arguments.
func runsQuery(f Filter) (string, func(scanner) (Run, error), []any) {
	var (
		where []string
		args  []any
	)
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("state", string(f.State))
	if f.RunID != "" || f.Dir != "" {
		// A run id or dir selects a few rows through its own index; with a
		// plain project term SQLite prefers runs_project, whose order
		// saves the sort, and walks the whole project (loadGroup for each
		// run of a report: 50,000 rows a run). "+" keeps the term, not the index.
		add("+project", f.Project)
	} else {
		add("project", f.Project)
	}
	add("run_id", f.RunID)
	add("dir", f.Dir)
	cols, scan := runCols, scanRun
	if f.Lean {
		cols, scan = leanSelect, scanLeanRun
	}
	q := `SELECT ` + cols + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY first_seen, dir`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return q, scan, args
}

func (db *DB) queryRuns(ctx context.Context, q string, args ...any) ([]Run, error) {
	var out []Run
	err := db.eachRun(ctx, q, scanRun, func(r Run) error {
		out = append(out, r)
		return nil
	}, args...)
	return out, err
}

func (db *DB) eachRun(ctx context.Context, q string, scan func(scanner) (Run, error), fn func(Run) error, args ...any) error {
	rows, err := db.query(ctx, q, args...)
	return eachRow(rows, err, scan, fn)
}

// eachRow calls fn with each row of rows (the result of a query that
// failed with err) as scan reads it, and closes rows.
func eachRow(rows *sql.Rows, err error, scan func(scanner) (Run, error), fn func(Run) error) error {
	if err != nil {
		return fmt.Errorf("ledger: list runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return fmt.Errorf("ledger: list runs: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger: list runs: %w", err)
	}
	return nil
}

// Resolve maps a user selector to the dirs of one run (docs/design.md
// "Naming a run"), trying in order and stopping at the first that matches:
// the exact run id (all its dirs), a run dir path (absolute, relative to the
// working directory, or through a symlink) or a dir's base name, the W&B
// display name, a unique prefix of a run id. A name or prefix that matches
// several runs is an error wrapping ErrAmbiguous that lists them; none at
// all wraps ErrNotFound. Ordered by first_seen, dir.
func (db *DB) Resolve(ctx context.Context, selector string) ([]Run, error) {
	sel := strings.TrimSpace(selector)
	if sel == "" {
		return nil, fmt.Errorf("empty run selector: %w", ErrNotFound)
	}
	paths := []string{filepath.Clean(sel)}
	if abs, err := filepath.Abs(sel); err == nil {
		paths = append(paths, abs)
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			paths = append(paths, real)
		}
	}
	// A bare name may be a dir's base name; a path names one place only
	// (a copy of the dir elsewhere is another run).
	base := ""
	if !strings.ContainsRune(sel, filepath.Separator) {
		base = sel
	}
	dirArgs := []any{base}
	for _, p := range paths {
		dirArgs = append(dirArgs, p)
	}
	tiers := []struct {
		what  string
		where string
		args  []any
	}{
		{"run id", `run_id = ?`, []any{sel}},
		{"run dir", `base = ? OR dir IN (?` + strings.Repeat(", ?", len(paths)-1) + `)`, dirArgs},
		{"W&B name", `name = ?`, []any{sel}},
		{"run id prefix", `run_id != '' AND substr(run_id, 1, length(?)) = ?`, []any{sel, sel}},
	}
	for _, tier := range tiers {
		runs, err := db.queryRuns(ctx, `SELECT `+runCols+` FROM runs WHERE `+tier.where+` ORDER BY first_seen, dir`, tier.args...)
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			continue
		}
		if ids := distinctRuns(runs); len(ids) > 1 {
			return nil, fmt.Errorf("%q is the %s of %d runs: %s; name one by its run id: %w",
				selector, tier.what, len(ids), strings.Join(ids, ", "), ErrAmbiguous)
		}
		return runs, nil
	}
	return nil, fmt.Errorf("no run matches %q (give a run id or a unique prefix of one, a run dir or its name, or the W&B name; see runner runs): %w", selector, ErrNotFound)
}

// distinctRuns lists the W&B runs among runs (a run id's stages are one), as
// people see them: "id (name)".
func distinctRuns(runs []Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		key := r.RunID
		if key == "" {
			key = r.Dir
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		label := key
		if r.Name != "" {
			label += fmt.Sprintf(" (%q)", r.Name)
		}
		out = append(out, label)
	}
	return out
}

const readerKey = "reader.version"

// ReadAgainWith records which .wandb reader judges the logs and, when it is
// not the one that judged the runs runner skipped as unreadable or empty,
// makes those runs be read again on the next scan (a newer reader may
// understand a log an older one refused; docs/design.md "Hostile files").
// It forgets their size, the same signal as a changed file, so the rules of
// UpsertRuns decide what happens next. It returns how many runs it put back.
func (db *DB) ReadAgainWith(ctx context.Context, reader string) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, readerKey).Scan(&prev)
		switch {
		case err == nil && prev == reader:
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("ledger: reader version: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE runs SET size = -1
			WHERE state = ? AND (reason = ? OR substr(reason, 1, ?) = ?)`,
			StateSkipped, reasonEmpty, len(reasonUnreadable), reasonUnreadable)
		if err != nil {
			return fmt.Errorf("ledger: read unreadable runs again: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			readerKey, reader, ms(db.now())); err != nil {
			return fmt.Errorf("ledger: reader version: %w", err)
		}
		return nil
	})
	return int(n), err
}
