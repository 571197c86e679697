package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	runsync "github.com/runnerhq/runner/sync"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

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
			opts := runsync.BackfillOptions{
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
			var tty io.Writer
			if env.IsTerminal != nil && env.IsTerminal(env.Stderr) && !c.Bool("json") {
				tty = env.Stderr
				opts.Progress = progressBar(env.Stderr, "recording runs")
			}
			// One line per upload as it ends; with --json only the report.
			lines := env.Stdout
			if c.Bool("json") {
				lines = io.Discard
			}
			report := newUploadReport(lines, tty)
			opts.OnUploadStart, opts.OnUpload = report.Start, report.Add
			rep, err := runsync.Backfill(c.Context, eng, opts)
			if c.Context.Err() != nil {
				left, _ := db.PendingDue(context.WithoutCancel(c.Context))
				report.Finish(true, left)
				return c.Context.Err()
			}
			report.Finish(false, 0)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintf(env.Stdout, "%s\n", b)
			} else {
				printBackfill(env.Stdout, rep)
			}
			if rep.UploadFailed > 0 {
				return fmt.Errorf("backfill: %d upload(s) failed (see runner runs --state pending/failed)", rep.UploadFailed)
			}
			return nil
		},
	}
}

// progressBar draws a bar on a terminal for a count that grows to total;
// it clears itself when the count is reached.
func progressBar(w io.Writer, what string) func(done, total int) {
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

// printBackfill is the human form of a backfill report.
func printBackfill(w io.Writer, r runsync.BackfillReport) {
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
