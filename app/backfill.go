package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// backfillBatch is how many runs go into one ledger transaction.
const backfillBatch = 500

func backfillCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		boolFlag("upload", "also upload every run that is ready"),
		boolFlag("dry-run", "report what would be recorded; change nothing"),
		boolFlag("json", "print the report as one JSON object"),
	}
	return &cli.Command{
		Name:      "backfill",
		Usage:     "find every offline run under the trees and record it (cron-safe, idempotent)",
		ArgsUsage: "DIR...",
		Flags:     append(flags, uploadFlags()...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "DIR (a tree holding wandb/offline-run-* dirs)"); err != nil {
				return err
			}
			// Logs go to stderr only when something is wrong: cron mails output.
			logger, err := newLogger(c, env.Stderr)
			if err != nil {
				return err
			}
			opts := BackfillOptions{
				Roots: c.Args().Slice(), Upload: c.Bool("upload"), DryRun: c.Bool("dry-run"),
				Concurrency: c.Int("concurrency"),
			}
			if opts.DryRun && opts.Upload {
				return usagef("backfill: --dry-run and --upload exclude each other")
			}
			db, err := openDB(c.Context, c, env, logger, false)
			if err != nil {
				return err
			}
			defer db.Close()
			eng, err := newEngine(c, env, db, logger)
			if err != nil {
				return err
			}
			if env.IsTerminal != nil && env.IsTerminal(env.Stderr) && !c.Bool("json") {
				opts.Progress = env.Stderr
			}
			rep, err := Backfill(c.Context, db, eng, logger, opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintf(env.Stdout, "%s\n", b)
			} else {
				rep.print(env.Stdout)
			}
			if rep.UploadFailed > 0 {
				return fmt.Errorf("backfill: %d upload(s) failed (see runner runs --state pending/failed)", rep.UploadFailed)
			}
			return nil
		},
	}
}

// BackfillOptions are the inputs of one backfill.
type BackfillOptions struct {
	Roots       []string
	Upload      bool
	DryRun      bool
	Concurrency int
	Progress    io.Writer // a terminal to draw a progress bar on, or nil
}

// BackfillReport is what `runner backfill --json` prints.
type BackfillReport struct {
	Roots        []string `json:"roots"`
	DryRun       bool     `json:"dry_run"`
	Found        int      `json:"found"`
	New          int      `json:"new"`
	Updated      int      `json:"updated"`
	Unchanged    int      `json:"unchanged"`
	Ready        int      `json:"ready"`
	Uploaded     int      `json:"uploaded"`
	UploadFailed int      `json:"upload_failed"`
	Errors       []string `json:"errors"`
	ElapsedS     float64  `json:"elapsed_s"`
}

func (r BackfillReport) print(w io.Writer) {
	verb := "recorded"
	if r.DryRun {
		verb = "would record"
	}
	fmt.Fprintf(w, "found %d runs: %s %d new, %d updated, %d unchanged; %d ready for upload",
		r.Found, verb, r.New, r.Updated, r.Unchanged, r.Ready)
	if r.Uploaded+r.UploadFailed > 0 {
		fmt.Fprintf(w, "; uploaded %d, %d failed", r.Uploaded, r.UploadFailed)
	}
	fmt.Fprintln(w)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

// Backfill scans the roots, records what changed, marks finished runs ready
// and, with Upload, uploads every ready run. It is safe beside a running
// daemon: the ledger's leases keep them from uploading the same run.
func Backfill(ctx context.Context, db *ledger.DB, eng *runsync.Engine, logger *slog.Logger, o BackfillOptions) (BackfillReport, error) {
	start := time.Now()
	rep := BackfillReport{Roots: o.Roots, DryRun: o.DryRun, Errors: []string{}}
	known, err := db.RunStats(ctx)
	if err != nil {
		return rep, fmt.Errorf("backfill: %w", err)
	}
	var todo []runsync.RunDir
	for _, root := range o.Roots {
		err := runsync.Scan(ctx, root, func(rd runsync.RunDir) error {
			rep.Found++
			prev, seen := known[rd.Dir]
			switch {
			case rd.LogPath == "":
				rep.Unchanged++ // no log yet: nothing to record
			case !seen:
				rep.New++
				todo = append(todo, rd)
			case !runsync.SameFile(prev, rd):
				rep.Updated++
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
	var bar *progressbar.ProgressBar
	if o.Progress != nil && len(todo) > 0 {
		bar = progressbar.NewOptions(len(todo), progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("recording runs"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
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
		if bar != nil {
			_ = bar.Add(b.n)
		}
	}
	if recErr != nil {
		return rep, recErr
	}
	seen := make(map[string]bool, len(todo))
	for _, d := range todo {
		seen[d.Dir] = true
	}
	if bar != nil {
		_ = bar.Finish()
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
	if o.Upload {
		// An uploader that crashed (daemon killed, no restart) left leases
		// behind: once expired, cron takes those runs over.
		if _, err := db.RescueExpired(ctx); err != nil {
			return rep, fmt.Errorf("backfill: %w", err)
		}
		outs, err := eng.Drain(ctx, o.Concurrency, nil)
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
		if reason, _, paused, err := db.UploadsPaused(ctx); err == nil && paused {
			rep.Errors = append(rep.Errors, "uploads paused: "+reason)
			rep.UploadFailed = max(rep.UploadFailed, 1)
		}
	}
	logger.Debug("backfill done", "found", rep.Found, "new", rep.New, "ready", rep.Ready)
	rep.ElapsedS = time.Since(start).Seconds()
	return rep, nil
}
