package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/daemon"
	"github.com/runnerhq/runner/doctor"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/remote"
	"github.com/runnerhq/runner/reports"
)

func daemonCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		listFlag("watch", "directory tree to watch for wandb/offline-run-* dirs (repeatable)"),
		boolFlag("no-upload", "only record runs, never upload"),
		durationFlag("reconcile", "full rescan of the watched trees this often", 5*time.Minute),
		durationFlag("poll", "look for new and changed run dirs this often, for trees on NFS or Lustre written by other hosts (runs then need an exit record or their job's end to be ready); 0: off", 0),
		withDefault(stringFlag("metrics-addr", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9477", ""), "off"),
		withDefault(stringFlag("pprof", "serve Go profiles at http://ADDR/debug/pprof/ (loopback only), e.g. 127.0.0.1:6060", ""), "off"),
		WatchFlag(),
	}
	flags = append(flags, RegressionFlags()...)
	return &cli.Command{
		Name:  "daemon",
		Usage: "watch run dirs, keep the ledger, upload finished runs",
		Flags: append(append(flags, uploadFlags()...), jobsDaemonFlags()...),
		Action: func(c *cli.Context) error {
			roots := c.StringSlice("watch")
			roots = append(roots, c.Args().Slice()...)
			if len(roots) == 0 {
				return usagef("daemon: give at least one --watch DIR")
			}
			err := daemon.PrepareRoots(roots, func(line string) { fmt.Fprintln(env.Stderr, line) })
			if re := (*daemon.RootError)(nil); errors.As(err, &re) {
				return &UsageError{Err: re.Err}
			} else if err != nil {
				return err
			}
			if addr := c.String("pprof"); addr != "" {
				if err := daemon.CheckLoopback(addr); err != nil {
					return usagef("daemon: --pprof %s: must be a loopback address such as 127.0.0.1:6060", addr)
				}
			}
			return withLedger(c, env, false, func(db *ledger.DB, logger *slog.Logger) error {
				executor, err := executorOf(c.String("executor"), "daemon")
				if err != nil {
					return err
				}
				if durationOf(c, "poll") < 0 {
					return usagef("daemon: --poll must not be negative")
				}
				eng, err := newEngine(c, env, db, logger)
				if err != nil {
					return err
				}
				// Every run that becomes ready is checked against its
				// project's history, off the daemon's loop.
				evalOpts, err := EvalOptionsFrom(c)
				if err != nil {
					return err
				}
				checks := daemon.NewEvaluator(reports.RegressionHook(db, evalOpts, logger), logger)
				eng.OnReady = checks.Enqueue
				// Writers on other hosts are invisible to HeldOpen.
				eng.OtherHosts = durationOf(c, "poll") > 0
				up := uploaderOf(eng)
				d := &daemon.Daemon{Version: Version, CheckUploads: func(ctx context.Context) string { return doctor.UploadProblems(ctx, up, logger) },
					DB: db, Engine: eng, Logger: logger, Roots: roots,
					Upload: !c.Bool("no-upload"), Concurrency: c.Int("concurrency"),
					Reconcile: durationOf(c, "reconcile"), DirPoll: durationOf(c, "poll"), KeyFile: apiKeyFile(c, env), Now: env.Now,
				}
				sched, closeInv, err := newScheduler(c, env, db, eng, roots, logger)
				if err != nil {
					return err
				}
				defer closeInv()
				d.JobUnits = sched.Units != nil
				d.Executor, d.JobsWandbDir = executor, sched.WandbDir
				srv := &remote.Server{Path: remote.SocketPath(c.String("socket"), db.Path()), Group: remote.SocketGroup(c.String("socket-group")), Version: Version,
					Handle: socketHandler(env, db.Path()), Logger: logger.With("component", "socket")}
				if err := srv.Listen(); err != nil {
					return fmt.Errorf("daemon: %w", err)
				}
				d.Services = append(d.Services, srv)
				d.Services = append(d.Services, sched, checks)
				if addr := c.String("metrics-addr"); addr != "" {
					// Listen before anything else starts, so a taken port fails the start.
					ms, err := daemon.NewMetricsServer(addr, Version, db, logger, env.Now)
					if err != nil {
						return err
					}
					ms.LastScan = d.LastScan
					d.Services = append(d.Services, ms)
				}
				if addr := c.String("pprof"); addr != "" {
					ps, err := daemon.NewPprofServer(addr, logger)
					if err != nil {
						return err
					}
					d.Services = append(d.Services, ps)
				}
				return d.Run(c.Context)
			})
		},
	}
}
