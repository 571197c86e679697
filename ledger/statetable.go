package ledger

import (
	"fmt"
	"slices"
	"strings"
)

// Move is one row of a transition table: Event takes an entity in any of
// the From states to To (docs/design.md "Run states", "Job states").
type Move[E, S ~string] struct {
	Event E
	From  []S
	To    S
}

// Table is a declared transition table; runs and jobs each have one.
type Table[E, S ~string] []Move[E, S]

// move returns the row of ev; an event outside the table is a bug.
func (t Table[E, S]) move(ev E) Move[E, S] {
	for _, m := range t {
		if m.Event == ev {
			return m
		}
	}
	panic(fmt.Sprintf("ledger: event %q is not in the transition table", ev))
}

// next is where ev takes a noun ("run", "job") in state from, or
// ErrIllegalMove naming the move.
func (t Table[E, S]) next(noun string, from S, ev E) (S, error) {
	m := t.move(ev)
	if !slices.Contains(m.From, from) {
		return from, fmt.Errorf("%s %s in state %s: %w", noun, ev, from, ErrIllegalMove)
	}
	return m.To, nil
}

// Markdown renders the table as the README shows it.
func (t Table[E, S]) Markdown() string {
	var b strings.Builder
	b.WriteString("| Event | From | To |\n|---|---|---|\n")
	for _, m := range t {
		from := make([]string, len(m.From))
		for i, s := range m.From {
			from[i] = "`" + string(s) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", m.Event, strings.Join(from, ", "), m.To)
	}
	return b.String()
}
