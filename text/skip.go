package text

import (
	"fmt"
	"io"

	"github.com/runnerhq/runner/internal/units"
	runsync "github.com/runnerhq/runner/sync"
)

// RunChange is skip's and unskip's report: how many run dirs moved (said
// when any did, or when there is nothing else to say), then each run that
// was already so on w, and each that could not be moved on errw.
func RunChange(w, errw io.Writer, ch runsync.RunChange) {
	if len(ch.Moved) > 0 || len(ch.Nothing)+len(ch.Cannot) == 0 {
		fmt.Fprintf(w, "%sped %s\n", ch.Verb, units.Count(len(ch.Moved), "run dir"))
	}
	for _, line := range ch.Nothing {
		fmt.Fprintln(w, line)
	}
	for _, err := range ch.Cannot {
		fmt.Fprintf(errw, "runner: %v\n", err)
	}
}
