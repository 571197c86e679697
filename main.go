// Command runner watches W&B offline runs, keeps them in a SQLite ledger,
// schedules GPU jobs and uploads finished runs to W&B exactly once in effect.
//
// main is wiring only: signals become a context, app.Run does the work, and
// app.ExitCode is the one place that maps an error to an exit status.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/runnerhq/runner/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args, app.StdEnv())
	stop()
	if err != nil {
		if msg := app.ErrorLine(err); msg != "" {
			fmt.Fprintln(os.Stderr, "runner: "+msg)
		}
	}
	os.Exit(app.ExitCode(err))
}
