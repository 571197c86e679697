package app

import (
	"os"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// This file is the command line's side of executors other than local
// (docs/design.md "Executors"): submit hands the job to its engine as the
// submitting user, cancel stops it there; the daemon follows it.

// executorOf checks an --executor value.
func executorOf(v, cmd string) (ledger.Executor, error) {
	ex := ledger.Executor(v)
	if !slices.Contains(ledger.Executors, ex) {
		return "", usagef("%s: --executor %q: want local or slurm", cmd, v)
	}
	return ex, nil
}

// submitExecutor is submit's --executor, or "" for the daemon's default.
func submitExecutor(c *cli.Context) (ledger.Executor, error) {
	if c.IsSet("executor") {
		return executorOf(c.String("executor"), "submit")
	}
	return "", nil
}

// forCaller: this is the root daemon running a command for a socket caller,
// whose files and engine commands are theirs.
func (e Env) forCaller() bool { return e.Caller != nil && os.Geteuid() == 0 }

// engineUser is who an engine command runs as (jobs.AsCaller).
func engineUser(env Env) (*jobs.User, error) {
	uid, _, _ := env.owner()
	return jobs.AsCaller(env.forCaller(), uid)
}
