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
	"github.com/runnerhq/runner/internal/owner"
)

func main() {
	// The re-exec that runs the wandb CLI as a run dir's owner: before
	// anything else, with no signal handlers or goroutines of runner's own.
	if len(os.Args) > 1 && os.Args[1] == owner.HelperArg {
		err := owner.Main(os.Args[2:])
		fmt.Fprintln(os.Stderr, "runner: "+err.Error())
		os.Exit(126)
	}
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
