package daemon

import (
	"errors"
	"fmt"
	"os"

	"github.com/runnerhq/runner/internal/rundir"
)

// RootError is a watched tree the daemon cannot watch as given (not a
// directory, not readable): the user has to name another.
type RootError struct{ Err error }

func (e *RootError) Error() string { return e.Err.Error() }
func (e *RootError) Unwrap() error { return e.Err }

// PrepareRoots checks the trees the daemon is to watch. One that does not
// exist yet is created: the daemon may start before any training wrote
// there (jobs write into the first one); say is told, in case of a typo.
func PrepareRoots(roots []string, say func(string)) error {
	for _, r := range roots {
		st, err := os.Stat(r)
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(r, 0o755); err != nil {
				return fmt.Errorf("daemon: create --watch %s: %w", r, rundir.PathCause(err))
			}
			say(fmt.Sprintf("runner: --watch %s did not exist: created it", r))
			continue
		}
		if err != nil {
			return &RootError{Err: fmt.Errorf("daemon: --watch %s: %v", r, rundir.PathCause(err))}
		}
		if !st.IsDir() {
			return &RootError{Err: fmt.Errorf("daemon: --watch %s: not a directory", r)}
		}
	}
	return nil
}
