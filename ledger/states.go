package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// addEvent appends one row to the events log inside tx.
func addEvent(ctx context.Context, tx *Tx, at int64, kind, subject, msg string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (at, kind, subject, message) VALUES (?, ?, ?, ?)`,
		at, kind, subject, msg); err != nil {
		return fmt.Errorf("ledger: add %s event: %w", kind, err)
	}
	return nil
}

// stateEvent logs a run's state change as "from -> to: why".
func stateEvent(ctx context.Context, tx *Tx, at int64, dir string, from, to State, why string) error {
	return addEvent(ctx, tx, at, "run.state", dir, fmt.Sprintf("%s -> %s: %s", from, to, why))
}

// inList is an IN list of any length as one bound value: vals as a JSON
// array, read back by json_each. A placeholder per value would hit SQLite's
// limit on bound variables (32,766) on a big ledger.
func inList[T ~string](vals []T) (string, any) {
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = string(v)
	}
	b, _ := json.Marshal(strs) // cannot fail for strings
	return "SELECT value FROM json_each(?)", string(b)
}

// placeholders returns "?, ?, ?" for n values and the values as []any: for
// short, bounded lists (states, kinds); unbounded ones use inList.
func placeholders[T ~string](vals []T) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = string(v)
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", "), args
}

// scope selects the rows a transition applies to.
type scope struct {
	dirs       []string // nil or empty: every row (only where the caller allows it)
	groups     bool     // widen dirs to every dir of their upload groups
	onlyStates []State  // narrow further to these states (a subset of the event's from-states)
}

func (s scope) where() (string, []any) {
	w, args := "1", []any(nil)
	if len(s.dirs) > 0 {
		list, a := inList(s.dirs)
		args = []any{a}
		if s.groups {
			w = "group_key IN (SELECT group_key FROM runs WHERE dir IN (" + list + "))"
		} else {
			w = "dir IN (" + list + ")"
		}
	}
	if len(s.onlyStates) > 0 {
		ph, a := placeholders(s.onlyStates)
		w += " AND " + s.stateCol() + " IN (" + ph + ")"
		args = append(args, a...)
	}
	return w, args
}

// stateCol is the state column as a transition's WHERE names it. With
// dirs, "+state": SQLite cannot see how few dirs the json_each list holds,
// and for the UPDATE it chose the state index (runs_state_project), which
// walks every row in the event's from-states (on the generated 1,000,000-dir
// ledger 100,000 active, pending and failed rows for each run marked
// missing: most of the 5 min 25 s that a first backfill's 10,000 took,
// docs/design.md). The unary plus keeps that index out, so the dirs are
// looked up by the primary key.
func (s scope) stateCol() string {
	if len(s.dirs) > 0 {
		return "+state"
	}
	return "state"
}

// transition applies ev to the rows in scope whose state the table allows
// it from (RunMoves), applying the extra SET clause, and logs an event for
// each row whose state changed. It returns the dirs it moved; rows in scope
// in another state are left alone (callers about one run turn that into
// ErrIllegalMove: see moveOne).
func transition(ctx context.Context, tx *Tx, now int64, sc scope, ev RunEvent, why, set string, setArgs ...any) ([]string, error) {
	m := runMove(ev)
	inWhere, inArgs := sc.where()
	statePH, stateArgs := placeholders(m.From)
	where := " WHERE " + inWhere + " AND " + sc.stateCol() + " IN (" + statePH + ")"
	whereArgs := append(inArgs, stateArgs...)

	rows, err := tx.QueryContext(ctx, "SELECT dir, state FROM runs"+where+" ORDER BY dir", whereArgs...)
	if err != nil {
		return nil, fmt.Errorf("ledger: run %s: %w", ev, err)
	}
	type change struct {
		dir  string
		from State
	}
	var changes []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.dir, &c.from); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: run %s: %w", ev, err)
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: run %s: %w", ev, err)
	}
	if len(changes) == 0 {
		return nil, nil
	}

	q := runTransitionSQL
	if set != "" {
		q += ", " + set
	}
	args := append([]any{m.To, now}, setArgs...)
	if _, err := tx.ExecContext(ctx, q+where, append(args, whereArgs...)...); err != nil {
		return nil, fmt.Errorf("ledger: run %s: %w", ev, err)
	}
	moved := make([]string, 0, len(changes))
	for _, c := range changes {
		moved = append(moved, c.dir)
		if c.from == m.To {
			continue
		}
		if err := stateEvent(ctx, tx, now, c.dir, c.from, m.To, why); err != nil {
			return nil, err
		}
	}
	return moved, nil
}

// move runs one transition in its own transaction.
func (db *DB) move(ctx context.Context, sc scope, ev RunEvent, why, set string, setArgs ...any) ([]string, error) {
	var moved []string
	err := db.inTx(ctx, func(tx *Tx) error {
		var err error
		moved, err = transition(ctx, tx, ms(db.now()), sc, ev, why, set, setArgs...)
		return err
	})
	return moved, err
}

// moveOne is move for one run: a run the table does not let ev move is
// ErrIllegalMove naming the run, the event and its state; no row,
// ErrNotFound.
func (db *DB) moveOne(ctx context.Context, dir string, ev RunEvent, why, set string, setArgs ...any) error {
	return db.inTx(ctx, func(tx *Tx) error {
		moved, err := transition(ctx, tx, ms(db.now()), scope{dirs: []string{dir}}, ev, why, set, setArgs...)
		if err != nil || len(moved) > 0 {
			return err
		}
		var st State
		if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE dir = ?`, dir).Scan(&st); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("run %s: %w", dir, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("ledger: run %s: %w", ev, err)
		}
		_, err = NextRunState(st, ev)
		return fmt.Errorf("%s: %w", dir, err)
	})
}

// MarkReady moves an active run to pending (due at once); ErrIllegalMove if
// it was not active.
func (db *DB) MarkReady(ctx context.Context, dir, why string) error {
	return db.moveOne(ctx, dir, RunFinished, why, "reason = '', next_attempt_at = NULL")
}

// ReadyMark is one run to move from active to pending, and why.
type ReadyMark struct{ Dir, Why string }

// MarkReadyMany is MarkReady for many runs in one transaction (a backfill
// finds thousands of finished runs at once). It returns the dirs that moved;
// the others were no longer active.
func (db *DB) MarkReadyMany(ctx context.Context, marks []ReadyMark) ([]string, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	byWhy := map[string][]string{}
	var whys []string
	for _, m := range marks {
		if _, ok := byWhy[m.Why]; !ok {
			whys = append(whys, m.Why)
		}
		byWhy[m.Why] = append(byWhy[m.Why], m.Dir)
	}
	var moved []string
	err := db.inTx(ctx, func(tx *Tx) error {
		moved = moved[:0]
		now := ms(db.now())
		for _, why := range whys {
			dirs := byWhy[why]
			for i := 0; i < len(dirs); i += markChunk {
				m, err := transition(ctx, tx, now, scope{dirs: dirs[i:min(i+markChunk, len(dirs))]}, RunFinished,
					why, "reason = '', next_attempt_at = NULL")
				if err != nil {
					return err
				}
				moved = append(moved, m...)
			}
		}
		// Their growth left their groups stale (UpsertRuns): compute the
		// values now that the runs are done.
		return refreshRunGroups(ctx, tx, moved)
	})
	return moved, err
}

// MarkMissing records that a run's dir vanished before upload (from active,
// pending or failed); ErrIllegalMove in another state, ErrNotFound for a
// dir the ledger does not know.
func (db *DB) MarkMissing(ctx context.Context, dir string) error {
	return db.moveOne(ctx, dir, RunVanished, reasonMissing, "reason = ?, next_attempt_at = NULL", reasonMissing)
}

// MarkMissingMany is MarkMissing for many runs in one transaction (a
// first backfill of a big ledger can find thousands of vanished dirs, and
// one transaction each took minutes). It returns the dirs that moved; the
// others had moved on (synced, skipped, uploading) or are not in the
// ledger.
func (db *DB) MarkMissingMany(ctx context.Context, dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, db.writable()
	}
	var moved []string
	err := db.inTx(ctx, func(tx *Tx) error {
		moved = moved[:0]
		now := ms(db.now())
		for i := 0; i < len(dirs); i += markChunk {
			m, err := transition(ctx, tx, now, scope{dirs: dirs[i:min(i+markChunk, len(dirs))]}, RunVanished,
				reasonMissing, "reason = ?, next_attempt_at = NULL", reasonMissing)
			if err != nil {
				return err
			}
			moved = append(moved, m...)
		}
		return nil
	})
	return moved, err
}

// markChunk is the dirs of one transition statement in MarkReadyMany and
// MarkMissingMany. The list is one bound value (inList), so SQLite's limit
// on bound parameters does not apply; the chunk bounds what one UPDATE
// keeps in its statement journal (in memory: temp_store).
const markChunk = 500

// Skip excludes runs from upload with a reason and returns the dirs it
// skipped; synced and uploading runs (and skipped ones) are left alone.
func (db *DB) Skip(ctx context.Context, dirs []string, reason string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, db.writable()
	}
	return db.move(ctx, scope{dirs: dirs}, RunSkipped, reason, "reason = ?, next_attempt_at = NULL", reason)
}

// Unskip puts skipped runs back to active, to be judged again like runs
// seen for the first time (`runner unskip`); it returns the dirs it moved.
func (db *DB) Unskip(ctx context.Context, dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, db.writable()
	}
	return db.move(ctx, scope{dirs: dirs}, RunUnskipped, "unskipped by user", "reason = '', next_attempt_at = NULL")
}

// Force makes an active run pending now, finished or not (`runner sync
// --force`: the caller checked that no process holds its log open);
// ErrIllegalMove when it is not active.
func (db *DB) Force(ctx context.Context, dir string) error {
	return db.moveOne(ctx, dir, RunForced, "forced by user", "reason = '', next_attempt_at = NULL")
}

// Retry re-queues failed (and resets pending) runs: attempts 0, due now.
// The named dirs are widened to their upload groups, which move together;
// no dirs means every failed run. It returns the dirs it moved.
func (db *DB) Retry(ctx context.Context, dirs []string) ([]string, error) {
	sc := scope{dirs: dirs, groups: true}
	if len(dirs) == 0 {
		// Every failed run; a pending one is not "to retry" unless named.
		sc = scope{onlyStates: []State{StateFailed}}
	}
	return db.move(ctx, sc, RunRetried, "retry requested", "attempts = 0, next_attempt_at = NULL, reason = ''")
}

// ExpediteAll makes pending runs due now (their groups too); no dirs means
// every pending run. Returns how many were waiting on a backoff.
func (db *DB) ExpediteAll(ctx context.Context, dirs []string) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *Tx) error {
		w, args := scope{dirs: dirs, groups: true}.where()
		res, err := tx.ExecContext(ctx, `UPDATE runs SET next_attempt_at = NULL, updated_at = ?
			WHERE state = 'pending' AND next_attempt_at IS NOT NULL AND `+w,
			append([]any{ms(db.now())}, args...)...)
		if err != nil {
			return fmt.Errorf("ledger: expedite: %w", err)
		}
		c, err := res.RowsAffected()
		n = int(c)
		return err
	})
	return n, err
}
