package app

import (
	"fmt"
	"io"
	"path/filepath"
	gosync "sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// uploadReport prints one line per upload as it ends (`runner sync`,
// `runner backfill --upload`) and, on a terminal, keeps a progress bar with
// the count and an ETA under them.
type uploadReport struct {
	w   io.Writer
	tty io.Writer // the terminal for the bar, or nil

	mu                          gosync.Mutex
	bar                         *progressbar.ProgressBar
	uploaded, failed, abandoned int
}

func newUploadReport(w, tty io.Writer) *uploadReport { return &uploadReport{w: w, tty: tty} }

// Start sets the number of runs the upload phase expects.
func (r *uploadReport) Start(total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tty == nil || total <= 0 {
		return
	}
	r.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(r.tty),
		progressbar.OptionSetDescription("uploading"), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond))
}

// Add prints the outcome of one upload group and moves the bar.
func (r *uploadReport) Add(o runsync.UploadOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Clear()
	}
	name := o.RunID
	if name == "" && len(o.Dirs) > 0 {
		name = filepath.Base(o.Dirs[0])
	}
	switch o.Outcome {
	case ledger.OutcomeSuccess:
		r.uploaded += len(o.Dirs)
		fmt.Fprintf(r.w, "synced %s %s\n", name, o.URL)
	case runsync.OutcomeInterrupted:
		r.abandoned += len(o.Dirs)
		fmt.Fprintf(r.w, "interrupted %s: back to pending\n", name)
	default:
		r.failed += len(o.Dirs)
		fmt.Fprintf(r.w, "failed %s (%s): %v\n", name, o.Outcome, o.Err)
	}
	if r.bar != nil {
		_ = r.bar.Add(len(o.Dirs))
	}
}

// Finish clears the bar; after an interrupt it says what is left.
func (r *uploadReport) Finish(interrupted bool, pending int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Finish()
		_ = r.bar.Clear()
	}
	if interrupted {
		fmt.Fprintf(r.w, "interrupted: %d run dir(s) uploaded, %d left pending (runner sync goes on from there)\n", r.uploaded, pending)
	}
}
