package wandbout

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Outcome is what a failed call's output means for a retry; sync maps
// it to the ledger's outcome (this package does not import the ledger).
type Outcome int

const (
	// OutcomeOther is a failed attempt.
	OutcomeOther Outcome = iota
	// OutcomeTransient is retried with backoff.
	OutcomeTransient
	// OutcomeAuth is a credential problem: it pauses all uploads.
	OutcomeAuth
)

var (
	// ErrTimeout means runner killed wandb sync after its timeout.
	ErrTimeout = errors.New("wandb sync timed out")
	// ErrMarkerNotWritten means the CLI uploaded a run but could not write its .synced marker.
	ErrMarkerNotWritten = errors.New("wandb sync uploaded the run but could not write its .synced marker")
	// ErrSkippedSynced means the CLI skipped a run as already synced (a
	// marker runner did not see before the call): not an upload.
	ErrSkippedSynced = errors.New("wandb sync skipped the run as already synced")
)

// Exit is how the CLI's process ended.
type Exit struct {
	Code    *int           // nil when killed by a signal
	Signal  syscall.Signal // the signal that ended it, if any
	Stopped string         // "" or why runner stopped it ("timed out after 30m0s", "cancelled")
	CtxErr  error
	Timeout time.Duration
}

// causeRunes is the most of a CLI line a cause quotes.
const causeRunes = 300

// Classify decides the outcome of a call that did not succeed (docs/design.md "Upload
// outcomes"): credential problems pause all uploads, network/rate-limit/server problems and our
// own timeout are retried with backoff, everything else counts as a failed attempt. missing are
// the logs the call did not confirm.
func Classify(run Exit, s *Scan, missing []string) (outcome Outcome, pause bool, cause error) {
	switch {
	case run.Stopped == "cancelled":
		return OutcomeTransient, false, fmt.Errorf("cancelled: %w", run.CtxErr)
	case run.Stopped != "":
		return OutcomeTransient, false, fmt.Errorf("%w after %s", ErrTimeout, run.Timeout)
	case s.markerDenied != "":
		return OutcomeOther, false, fmt.Errorf("%w: %s", ErrMarkerNotWritten, Shorten(s.markerDenied))
	case s.auth != "":
		return OutcomeAuth, true, errors.New(Shorten(s.auth))
	case s.transient != "":
		return OutcomeTransient, false, errors.New(Shorten(s.transient))
	case s.errorLine != "":
		return OutcomeOther, false, errors.New(Shorten(s.errorLine))
	case s.diag != "":
		return OutcomeOther, false, errors.New(Shorten(s.diag))
	case run.Code == nil:
		return OutcomeOther, false, fmt.Errorf("wandb sync killed by signal %v", run.Signal)
	case *run.Code != 0:
		msg := "wandb sync exited " + strconv.Itoa(*run.Code)
		if s.last != "" {
			msg += ": " + Shorten(s.last)
		}
		return OutcomeOther, false, errors.New(msg)
	default:
		names := make([]string, len(missing))
		for i, m := range missing {
			names[i] = filepath.Base(m)
		}
		if s.skipped {
			// Not an upload (docs/design.md "Upload outcomes"): retried,
			// and the retry's --include-synced makes the CLI upload it.
			return OutcomeTransient, false, fmt.Errorf("%w: %s (a .synced marker runner did not write appeared, and the CLI printed no upload for it); it is retried",
				ErrSkippedSynced, strings.Join(names, ", "))
		}
		return OutcomeOther, false, fmt.Errorf("wandb sync exited 0 but did not confirm %s (no .synced marker or no Finished syncing line)", strings.Join(names, ", "))
	}
}

// Shorten makes a CLI line fit in a one-line error.
func Shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= causeRunes {
		return s
	}
	r := []rune(s)
	return string(r[:causeRunes]) + "…"
}
