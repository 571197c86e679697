package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// UsageError is bad usage: unknown flag, missing or malformed argument. Exit 2.
// A *jobs.Refusal (a request the user has to make differently) counts as one.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// isUsage reports whether err is bad usage: a UsageError, a jobs.Refusal or
// an ambiguous name.
func isUsage(err error) bool {
	var (
		ue *UsageError
		rf *jobs.Refusal
	)
	return errors.As(err, &ue) || errors.As(err, &rf) || errors.Is(err, ledger.ErrAmbiguous)
}

func usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// ExitStatus is a command's end given as an exit code and the line to print
// (none when Line is ""): a job's exit code passed through by wait, or how a
// command run by the daemon for a socket caller ended. ExitCode and
// ErrorLine pass both through; code 0 with no line is a success.
type ExitStatus struct {
	Code int
	Line string
}

func (e *ExitStatus) Error() string { return e.Line }

// ErrFailed marks an operation that failed after it already reported why
// (for example `runner check` finding a regression, or `status` seeing the
// daemon down): exit 1 without another message.
var ErrFailed = errors.New("failed")

// ExitCode maps an error to the process exit status (docs/design.md "Command line"):
// 0 ok, 1 the operation failed, 2 bad usage, 130 interrupted.
func ExitCode(err error) int {
	var re *ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		return re.Code
	case isUsage(err):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		return 1
	}
}

// ErrorLine is the one line printed for err, or "" when the command already
// said everything.
func ErrorLine(err error) string {
	if err == nil || errors.Is(err, ErrFailed) {
		return ""
	}
	if re := (*ExitStatus)(nil); errors.As(err, &re) {
		return re.Line // already complete, usage hint included
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if ue, rf := (*UsageError)(nil), (*jobs.Refusal)(nil); errors.As(err, &ue) || errors.As(err, &rf) {
		msg += " (see 'runner --help')"
	}
	return msg
}
