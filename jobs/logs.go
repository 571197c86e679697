package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// JobGetter reads one job's row.
type JobGetter interface {
	GetJob(ctx context.Context, id int64) (ledger.Job, error)
}

var _ JobGetter = (*ledger.DB)(nil)

// LogsOptions: Follow keeps copying until the job ends (waiting for a queued
// job to start), looking every Every; Tail starts at the last Tail lines
// (0: the start).
type LogsOptions struct {
	Follow bool
	Tail   int
	Every  time.Duration
}

// Logs copies job id's log to w and returns the job's row as last read
// (with Follow, the ended job).
func Logs(ctx context.Context, w io.Writer, db JobGetter, id int64, o LogsOptions) (ledger.Job, error) {
	follow, tail, every := o.Follow, o.Tail, o.Every
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		j, err := db.GetJob(ctx, id)
		if err != nil {
			return j, fmt.Errorf("logs: %w", err)
		}
		if f == nil && j.LogPath != "" {
			f, err = openShown(j)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return j, fmt.Errorf("logs: job %d: %w", id, err)
			}
			if f != nil && tail > 0 {
				if err := seekLastLines(f, tail); err != nil {
					return j, fmt.Errorf("logs: job %d: %w", id, err)
				}
			}
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return j, fmt.Errorf("logs: job %d: %w", id, err)
			}
		}
		ended := j.State.Ended()
		if !follow || ended {
			if f == nil && !follow {
				return j, fmt.Errorf("logs: job %d has no output yet (%s)", id, j.State)
			}
			if ended && f != nil {
				// The last lines may have landed after the copy above.
				if _, err := io.Copy(w, f); err != nil {
					return j, fmt.Errorf("logs: job %d: %w", id, err)
				}
			}
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(every):
		}
	}
}

// openShown opens what runner logs shows of a started job: its --output
// file (as its owner, never through a symlink), else its job log. A job
// whose --output could not be opened did not start; its log says why.
func openShown(j ledger.Job) (*os.File, error) {
	if j.Output != "" {
		out, _ := OutputPaths(j)
		f, err := OpenOutputForRead(out, j)
		if !errors.Is(err, os.ErrNotExist) || !j.State.Ended() {
			return f, err
		}
	}
	return os.Open(j.LogPath)
}

// seekLastLines moves f to the start of its last n lines (a last line
// without a newline counts), reading backwards in blocks.
func seekLastLines(f *os.File, n int) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	const block = 64 << 10
	end := st.Size()
	buf := make([]byte, block)
	newlines := 0
	for pos := end; pos > 0; {
		size := min(int64(block), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil {
			return err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue // a final newline ends the last line, it does not start one
			}
			if newlines++; newlines == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}
