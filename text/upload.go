package text

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	gosync "sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// Uploads prints one line per upload as it ends (`runner sync`,
// `runner backfill --upload`) and, on a terminal, keeps a progress bar with
// the count and an ETA under them.
type Uploads struct {
	w   io.Writer
	tty io.Writer // the terminal for the bar, or nil

	mu                          gosync.Mutex
	bar                         *progressbar.ProgressBar
	uploaded, failed, abandoned int
}

var _ runsync.Progress = (*Uploads)(nil)

// NewUploads writes the lines to w and the bar to tty (nil: no bar).
func NewUploads(w, tty io.Writer) *Uploads { return &Uploads{w: w, tty: tty} }

// Start sets the number of runs the upload phase expects.
func (r *Uploads) Start(total int) {
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
func (r *Uploads) Add(o runsync.UploadOutcome) {
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
func (r *Uploads) Finish(interrupted bool, pending int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Finish()
		_ = r.bar.Clear()
	}
	if interrupted {
		fmt.Fprintf(r.w, "interrupted: %s uploaded, %d left pending (runner sync goes on from there)\n", units.Count(r.uploaded, "run dir"), pending)
	}
}

// ProgressBar draws a bar on a terminal for a count that grows to total;
// it clears itself when the count is reached.
func ProgressBar(w io.Writer, what string) func(done, total int) {
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(what), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
		}
		_ = bar.Set(done)
		if done >= total {
			_ = bar.Finish()
		}
	}
}

// Backfill is the human form of a backfill report.
func Backfill(w io.Writer, r runsync.BackfillReport) {
	verb := "recorded"
	if r.DryRun {
		verb = "would record"
	}
	fmt.Fprintf(w, "found %s: %s %d new, %d updated, %d unchanged; %d ready for upload",
		units.Count(r.Found, "run"), verb, r.New, r.Updated, r.Unchanged, r.Ready)
	if r.Uploaded+r.UploadFailed > 0 {
		fmt.Fprintf(w, "; uploaded %d, %d failed", r.Uploaded, r.UploadFailed)
	}
	fmt.Fprintln(w)
	reasons := make([]string, 0, len(r.NotReady))
	for why := range r.NotReady {
		reasons = append(reasons, why)
	}
	sort.Strings(reasons)
	for _, why := range reasons {
		fmt.Fprintf(w, "not ready: %d %s\n", r.NotReady[why], why)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
