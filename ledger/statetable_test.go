package ledger_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// walkTable checks a transition table against the outcome of every
// (event, state) pair written out by hand in want (a missing entry: the
// event is refused in that state, with an ErrIllegalMove that names the
// event and the state). The run and job tables share it.
func walkTable[E, S ~string](t *testing.T, moves ledger.Table[E, S], want map[E]map[S]S, states []S, next func(S, E) (S, error)) {
	t.Helper()
	if len(moves) != len(want) {
		t.Errorf("the table has %d events, the test expects %d", len(moves), len(want))
	}
	for _, m := range moves {
		w, ok := want[m.Event]
		if !ok {
			t.Errorf("event %s is not in the expected table", m.Event)
			continue
		}
		for _, from := range states {
			got, err := next(from, m.Event)
			to, legal := w[from]
			switch {
			case legal && (err != nil || got != to):
				t.Errorf("%s from %s = %s, %v; want %s", m.Event, from, got, err, to)
			case !legal && !errors.Is(err, ledger.ErrIllegalMove):
				t.Errorf("%s from %s = %s, %v; want ErrIllegalMove", m.Event, from, got, err)
			case !legal && (!strings.Contains(err.Error(), string(m.Event)) || !strings.Contains(err.Error(), string(from))):
				t.Errorf("%s from %s: error %q does not name the move", m.Event, from, err)
			}
		}
	}
}
