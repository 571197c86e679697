package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/report"
)

func serveCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve runner report's page live from the ledger, read-only (docs/report.md)",
		ArgsUsage: "[RUN...]",
		Flags: append(reportFlags(),
			stringFlag("listen", "host:port to serve on", "127.0.0.1:8080"),
			boolFlag("listen-public", "allow a --listen address that is not loopback (the page shows run names, metrics and configs)")),
		Action: func(c *cli.Context) error {
			addr := c.String("listen")
			if err := daemon.CheckLoopback(addr); err != nil && !c.Bool("listen-public") {
				if errors.Is(err, daemon.ErrNotLoopback) {
					return usagef("serve: --listen %s is not a loopback address: add --listen-public to serve it", addr)
				}
				return usagef("serve: --listen %s: %v", addr, err)
			}
			o, err := reportOptions(c, env)
			if err != nil {
				return err
			}
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("serve: %w", err)
				}
				fmt.Fprintf(env.Stdout, "serving http://%s/ (read-only)\n", ln.Addr())
				srv := &http.Server{Handler: report.Handler(db, o, logger), ReadHeaderTimeout: 10 * time.Second}
				return daemon.ServeUntilDone(c.Context, srv, ln, "serve")
			})
		},
	}
}
