package ledger

import (
	"context"
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

// placeholders returns "?, ?, ?" for n values and the values as []any.
func placeholders[T ~string](vals []T) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = string(v)
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", "), args
}

// scope selects the rows a transition applies to.
type scope struct {
	dirs   []string // nil or empty: every row (only where the caller allows it)
	groups bool     // widen dirs to every dir of their upload groups
}

func (s scope) where() (string, []any) {
	if len(s.dirs) == 0 {
		return "1", nil
	}
	ph, args := placeholders(s.dirs)
	if s.groups {
		return "group_key IN (SELECT group_key FROM runs WHERE dir IN (" + ph + "))", args
	}
	return "dir IN (" + ph + ")", args
}

// transition moves the rows in scope whose state is one of from to the state
// to, applying the extra SET clause, and logs an event for each row whose
// state actually changed. It returns the number of rows updated.
func transition(ctx context.Context, tx *Tx, now int64, sc scope, from []State, to State, why, set string, setArgs ...any) ([]string, error) {
	inWhere, inArgs := sc.where()
	statePH, stateArgs := placeholders(from)
	where := " WHERE " + inWhere + " AND state IN (" + statePH + ")"
	whereArgs := append(inArgs, stateArgs...)

	rows, err := tx.QueryContext(ctx, "SELECT dir, state FROM runs"+where+" ORDER BY dir", whereArgs...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", to, err)
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
			return nil, fmt.Errorf("ledger: %s: %w", to, err)
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", to, err)
	}
	if len(changes) == 0 {
		return nil, nil
	}

	q := "UPDATE runs SET state = ?, updated_at = ?"
	if set != "" {
		q += ", " + set
	}
	args := append([]any{to, now}, setArgs...)
	if _, err := tx.ExecContext(ctx, q+where, append(args, whereArgs...)...); err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", to, err)
	}
	moved := make([]string, 0, len(changes))
	for _, c := range changes {
		moved = append(moved, c.dir)
		if c.from == to {
			continue
		}
		if err := stateEvent(ctx, tx, now, c.dir, c.from, to, why); err != nil {
			return nil, err
		}
	}
	return moved, nil
}

// move runs one transition in its own transaction.
func (db *DB) move(ctx context.Context, sc scope, from []State, to State, why, set string, setArgs ...any) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *Tx) error {
		moved, err := transition(ctx, tx, ms(db.now()), sc, from, to, why, set, setArgs...)
		n = len(moved)
		return err
	})
	return n, err
}

// MarkReady moves an active run to pending (due at once); false if it was not active.
func (db *DB) MarkReady(ctx context.Context, dir, why string) (bool, error) {
	n, err := db.move(ctx, scope{dirs: []string{dir}}, []State{StateActive}, StatePending, why,
		"reason = '', next_attempt_at = NULL")
	return n > 0, err
}

// ReadyMark is one run to move from active to pending, and why.
type ReadyMark struct{ Dir, Why string }

// MarkReadyMany is MarkReady for many runs in one transaction (a backfill
// finds thousands of finished runs at once). It returns the dirs that moved.
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
			// Stay well below SQLite's limit on bound parameters.
			for i := 0; i < len(dirs); i += 500 {
				m, err := transition(ctx, tx, now, scope{dirs: dirs[i:min(i+500, len(dirs))]}, []State{StateActive},
					StatePending, why, "reason = '', next_attempt_at = NULL")
				if err != nil {
					return err
				}
				moved = append(moved, m...)
			}
		}
		return nil
	})
	return moved, err
}

// MarkMissing records that an active, pending or failed run's dir vanished;
// false if the run was in another state.
func (db *DB) MarkMissing(ctx context.Context, dir string) (bool, error) {
	n, err := db.move(ctx, scope{dirs: []string{dir}}, []State{StateActive, StatePending, StateFailed}, StateMissing,
		reasonMissing, "reason = ?, next_attempt_at = NULL", reasonMissing)
	return n > 0, err
}

// Skip excludes runs from upload with a reason. Synced and uploading runs
// (and already skipped ones) are left alone; returns how many were skipped.
func (db *DB) Skip(ctx context.Context, dirs []string, reason string) (int, error) {
	if len(dirs) == 0 {
		return 0, db.writable()
	}
	return db.move(ctx, scope{dirs: dirs},
		[]State{StateActive, StatePending, StateFailed, StateMissing}, StateSkipped,
		reason, "reason = ?, next_attempt_at = NULL", reason)
}

// Retry re-queues failed (and resets pending) runs: attempts 0, due now.
// The named dirs are widened to their upload groups, which move together;
// no dirs means every failed run.
func (db *DB) Retry(ctx context.Context, dirs []string) (int, error) {
	from := []State{StateFailed, StatePending}
	if len(dirs) == 0 {
		from = []State{StateFailed}
	}
	return db.move(ctx, scope{dirs: dirs, groups: true}, from, StatePending, "retry requested",
		"attempts = 0, next_attempt_at = NULL, reason = ''")
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
