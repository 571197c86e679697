package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	runsync "github.com/runnerhq/runner/sync"
)

// uploadFlags are shared by every command that may upload.
func uploadFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag("wandb", "wandb CLI to run for uploads", "wandb"),
		stringFlag("api-key-file", "file holding the W&B API key (else WANDB_API_KEY from the environment)", ""),
		stringFlag("wandb-entity", "upload into this W&B entity (wandb sync -e)", ""),
		stringFlag("wandb-project", "upload into this W&B project (wandb sync -p)", ""),
		durationFlag("upload-timeout", "kill a wandb sync that runs longer than this", 30*time.Minute),
		intFlag("concurrency", "parallel uploads", runsync.DefaultConcurrency),
		intFlag("batch", "at most this many run dirs in one wandb sync call (1: one run per call)", runsync.DefaultBatch),
		intFlag("max-attempts", "upload attempts before a run is failed", runsync.DefaultMaxAttempts),
		durationFlag("settle", "a log that has not grown for this long (and is not held open) is finished", runsync.DefaultSettle),
		durationFlag("quiet", "a log with an exit record that has not grown for this long is finished", runsync.DefaultQuiet),
		durationFlag("backoff", "first retry delay after a failed upload (doubles up to 1h)", runsync.DefaultBackoffBase),
		boolFlag("allow-foreign-owners", "where runner cannot switch user (no CAP_SETUID), upload runs other users own as runner's own user anyway"),
		hidden(durationFlag("lease", "upload lease; renewed while wandb sync runs, rescued by others after it expires", runsync.DefaultLease)),
	}
}

// apiKeyFile is the key file from --api-key-file or, under systemd,
// LoadCredential=wandb-api-key.
func apiKeyFile(c *cli.Context, env Env) string {
	return runsync.KeyFile(c.String("api-key-file"), env.Getenv)
}

func newEngine(c *cli.Context, env Env, db *ledger.DB, logger *slog.Logger) (*runsync.Engine, error) {
	if c.Int("concurrency") < 1 {
		return nil, usagef("invalid --concurrency %d: want 1 or more", c.Int("concurrency"))
	}
	if c.Int("batch") < 1 {
		return nil, usagef("invalid --batch %d: want 1 or more", c.Int("batch"))
	}
	if c.Int("max-attempts") < 1 {
		return nil, usagef("invalid --max-attempts %d: want 1 or more", c.Int("max-attempts"))
	}
	state := filepath.Dir(db.Path())
	up, err := newUploader(c, env, filepath.Join(state, "wandb-work"), logger)
	if err != nil {
		return nil, err
	}
	e := runsync.NewEngine(runsync.EngineOptions{
		Store:       db,
		Uploader:    up,
		Logger:      logger,
		Now:         env.Now,
		Settle:      durationOf(c, "settle"),
		Quiet:       durationOf(c, "quiet"),
		MaxAttempts: c.Int("max-attempts"),
		Batch:       c.Int("batch"),
		Lease:       durationOf(c, "lease"),
		TmpDir:      filepath.Join(state, "repair"),
		BackoffBase: durationOf(c, "backoff"),

		AllowForeign: c.Bool("allow-foreign-owners"),
	})
	return e, nil
}

func openDB(ctx context.Context, c *cli.Context, env Env, logger *slog.Logger, readOnly bool) (*ledger.DB, error) {
	path := dbPath(c, env)
	// The daemon and backfill (cron) outwait a long writer; a command a
	// person typed waits busy_timeout once, as docs/operations.md says.
	patient := c.Command.Name == "daemon" || c.Command.Name == "backfill"
	db, err := ledger.Open(ctx, path, ledger.Options{Logger: logger, ReadOnly: readOnly, Patient: patient})
	if err != nil {
		if strings.Contains(err.Error(), path) {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return db, nil
}

// newUploader is the wandb sync uploader the upload flags describe.
func newUploader(c *cli.Context, env Env, workDir string, logger *slog.Logger) (*runsync.Uploader, error) {
	timeout := durationOf(c, "upload-timeout")
	if timeout <= 0 {
		return nil, usagef("invalid --upload-timeout: want a positive duration")
	}
	up := &runsync.Uploader{
		Wandb:   c.String("wandb"),
		Env:     env.Environ(),
		Entity:  c.String("wandb-entity"),
		Project: c.String("wandb-project"),
		Timeout: timeout,
		WorkDir: workDir,
		Logger:  logger,

		AllowForeign: c.Bool("allow-foreign-owners"),
	}
	if kf := apiKeyFile(c, env); kf != "" {
		up.KeyFrom, up.APIKey = "file "+kf, runsync.KeyFromFile(kf)
	}
	return up, nil
}

// uploaderOf is the engine's wandb sync uploader (newEngine always makes one).
func uploaderOf(eng *runsync.Engine) *runsync.Uploader {
	up, _ := eng.Uploader.(*runsync.Uploader)
	return up
}
