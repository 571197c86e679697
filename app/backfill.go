package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/runnerhq/runner/internal/units"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/text"

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
				opts.Progress = text.ProgressBar(env.Stderr, "recording runs")
			}
			// One line per upload as it ends; with --json only the report.
			lines := env.Stdout
			if c.Bool("json") {
				lines = io.Discard
			}
			report := text.NewUploads(lines, tty)
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
				text.Backfill(env.Stdout, rep)
			}
			if rep.UploadFailed > 0 {
				return fmt.Errorf("backfill: %s failed (see runner runs --state pending/failed)", units.Count(rep.UploadFailed, "upload"))
			}
			return nil
		},
	}
}
