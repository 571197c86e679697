package app

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	"github.com/runnerhq/runner/text"
)

func statusCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "daemon, runs and uploads at a glance (exit 1 when the daemon is down or its uploads are paused or cannot work)",
		Flags: []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				st, err := status.Read(c.Context, db, env.Now())
				if err != nil {
					return fmt.Errorf("status: %w", err)
				}
				// Colour only for a person at a terminal, never in pipes or cron mail.
				if err := show(c, env, st, func() { text.Status(env.Stdout, st, env.palette(env.Stdout)) }); err != nil {
					return err
				}
				if !st.Daemon.Up || st.Uploads.Paused || strings.HasPrefix(st.Uploads.State, "failing") {
					return ErrFailed
				}
				return nil
			})
		},
	}
}
