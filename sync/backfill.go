package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// backfillBatch is how many runs go into one ledger transaction.
const backfillBatch = 500

// BackfillOptions are the inputs of one backfill.
type BackfillOptions struct {
	Roots       []string
	Upload      bool
	DryRun      bool
	Concurrency int
	// Progress, when set, is told how many of the runs to record are
	// recorded so far (the command line draws a bar with it).
	Progress func(done, total int)
	// OnUploadStart, when set, is told how many runs are due for upload
	// before the upload phase; OnUpload each upload's outcome as it ends.
	OnUploadStart func(due int)
	OnUpload      func(UploadOutcome)
}

// BackfillReport is what `runner backfill --json` prints.
type BackfillReport struct {
	Roots     []string `json:"roots"`
	DryRun    bool     `json:"dry_run"`
	Found     int      `json:"found"`
	New       int      `json:"new"`
	Updated   int      `json:"updated"`
	Unchanged int      `json:"unchanged"`
	Ready     int      `json:"ready"`
	// NotReady counts the runs still active by what they wait for.
	NotReady     map[string]int `json:"not_ready"`
	Uploaded     int            `json:"uploaded"`
	UploadFailed int            `json:"upload_failed"`
	Errors       []string       `json:"errors"`
	ElapsedS     float64        `json:"elapsed_s"`
}

// Backfill scans the roots, records what changed, marks finished runs ready
// and, with Upload, uploads every ready run. It is safe beside a running
// daemon: the ledger's leases keep them from uploading the same run.
func Backfill(ctx context.Context, eng *Engine, o BackfillOptions) (BackfillReport, error) {
	db, logger := eng.Store, eng.Logger
	start := time.Now()
	rep := BackfillReport{Roots: o.Roots, DryRun: o.DryRun, Errors: []string{}, NotReady: map[string]int{}}
	if !o.DryRun {
		if err := eng.ReadAgain(ctx); err != nil {
			return rep, fmt.Errorf("backfill: %w", err)
		}
	}
	known, err := db.RunStats(ctx)
	if err != nil {
		return rep, fmt.Errorf("backfill: %w", err)
	}
	var todo []RunDir
	for _, root := range o.Roots {
		err := Scan(ctx, root, func(rd RunDir) error {
			rep.Found++
			prev, seen := known[rd.Dir]
			switch {
			case rd.LogPath == "":
				rep.Unchanged++ // no log yet: nothing to record
			case !seen:
				rep.New++
				todo = append(todo, rd)
			case !SameFile(prev, rd):
				rep.Updated++
				todo = append(todo, rd)
			case prev.State == ledger.StateMissing:
				rep.Updated++ // its dir is back, changed or not
				todo = append(todo, rd)
			case rd.Marker && prev.State != ledger.StateSynced && prev.State != ledger.StateUploading:
				rep.Updated++ // synced by hand meanwhile
				todo = append(todo, rd)
			default:
				rep.Unchanged++
			}
			return nil
		}, func(path string, err error) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", path, err))
		})
		if err != nil {
			return rep, fmt.Errorf("backfill %s: %w", root, err)
		}
	}
	if o.DryRun {
		rep.ElapsedS = time.Since(start).Seconds()
		return rep, nil
	}
	done := 0
	progress := func(n int) {
		done += n
		if o.Progress != nil {
			o.Progress(done, len(todo))
		}
	}
	// Reading the logs of the next batch overlaps recording the last one.
	type prepared struct {
		obs []ledger.Observation
		n   int
		err error
	}
	batches := make(chan prepared, 2)
	go func() {
		defer close(batches)
		for i := 0; i < len(todo) && ctx.Err() == nil; i += backfillBatch {
			batch := todo[i:min(i+backfillBatch, len(todo))]
			obs, err := eng.Prepare(ctx, batch, known)
			batches <- prepared{obs, len(batch), err}
		}
	}()
	var recErr error
	for b := range batches {
		if recErr != nil {
			continue // drain so the reader can finish
		}
		if b.err != nil {
			recErr = fmt.Errorf("backfill: read runs: %w", b.err)
			continue
		}
		_, n, err := eng.Record(ctx, b.obs)
		if err != nil {
			recErr = fmt.Errorf("backfill: record runs: %w", err)
			continue
		}
		rep.Ready += n
		progress(b.n)
	}
	if recErr != nil {
		return rep, recErr
	}
	seen := make(map[string]bool, len(todo))
	for _, d := range todo {
		seen[d.Dir] = true
	}
	// Runs recorded earlier and unchanged since may have finished meanwhile
	// (their quiet or settle time passed).
	active, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
	if err != nil {
		return rep, fmt.Errorf("backfill: %w", err)
	}
	var older []ledger.Run
	for _, r := range active {
		if !seen[r.Dir] {
			older = append(older, r)
		}
	}
	n, err := eng.CheckReady(ctx, older)
	if err != nil {
		return rep, fmt.Errorf("backfill: readiness: %w", err)
	}
	rep.Ready += n
	// Say why the rest are not ready yet.
	still, err := db.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
	if err != nil {
		return rep, fmt.Errorf("backfill: %w", err)
	}
	now := eng.Now()
	for _, r := range still {
		if ok, why := eng.Readiness(ctx, r, now); !ok && why != "" {
			rep.NotReady[why]++
		}
	}
	if o.Upload {
		// An uploader that crashed (daemon killed, no restart) left leases
		// behind: once expired, cron takes those runs over.
		if _, err := eng.Rescue(ctx); err != nil {
			return rep, fmt.Errorf("backfill: %w", err)
		}
		if o.OnUploadStart != nil {
			if due, err := db.PendingDue(ctx); err == nil {
				o.OnUploadStart(due)
			}
		}
		outs, err := eng.DrainEach(ctx, o.Concurrency, nil, o.OnUpload)
		for _, out := range outs {
			if out.Outcome == ledger.OutcomeSuccess {
				rep.Uploaded++
			} else {
				rep.UploadFailed++
				if out.Err != nil {
					rep.Errors = append(rep.Errors, out.Err.Error())
				}
			}
		}
		if err != nil {
			return rep, fmt.Errorf("backfill: upload: %w", err)
		}
		if p, paused, err := db.UploadsPaused(ctx, eng.Scopes()); err == nil && paused {
			rep.Errors = append(rep.Errors, "uploads paused for "+p.Config+": "+p.Reason)
			rep.UploadFailed = max(rep.UploadFailed, 1)
		}
	}
	logger.Debug("backfill done", "found", rep.Found, "new", rep.New, "ready", rep.Ready)
	rep.ElapsedS = time.Since(start).Seconds()
	return rep, nil
}
