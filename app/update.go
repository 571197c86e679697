package app

// runner update: change what queued jobs ask for (Slurm's scontrol update);
// the rules are jobs.Update's.

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

func updateCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change queued jobs' priority, GPUs, CPU slots, timeout or hold, all or none (running and ended jobs cannot change)",
		ArgsUsage: "ID... (an array's id stands for all its jobs)",
		Flags: []cli.Flag{
			intFlag("priority", "the new priority (higher runs first)", 0),
			intFlag("gpus", "the GPUs the job needs", 0),
			intFlag("cpus", "the CPU slots the job takes", 0),
			durationFlag("timeout", "the new timeout; 0 = never", 0),
			boolFlag("hold", "hold the jobs (as runner hold)"),
			boolFlag("release", "release the jobs (as runner release)"),
		},
		Action: func(c *cli.Context) error {
			u, err := updateOf(c)
			if err != nil {
				return err
			}
			return changeJobs(c, env, "update", func(db *ledger.DB, list []ledger.Job) error {
				done, err := jobs.Update(c.Context, db, list, u)
				if err != nil {
					return err
				}
				for _, d := range done {
					if ch := d.Changes(); len(ch) > 0 {
						fmt.Fprintf(env.Stdout, "job %d: %s\n", d.After.ID, strings.Join(ch, ", "))
					} else {
						fmt.Fprintf(env.Stdout, "job %d: not changed (already so)\n", d.After.ID)
					}
				}
				return nil
			})
		},
	}
}

// updateOf reads update's flags: at least one, each in range.
func updateOf(c *cli.Context) (ledger.JobUpdate, error) {
	var u ledger.JobUpdate
	for _, f := range []struct {
		name string
		p    **int
	}{{"priority", &u.Priority}, {"gpus", &u.GPUs}, {"cpus", &u.CPUs}} {
		if c.IsSet(f.name) {
			v := c.Int(f.name)
			if v < 0 && f.name != "priority" {
				return u, usagef("update: --%s must not be negative", f.name)
			}
			*f.p = &v
		}
	}
	if c.IsSet("timeout") {
		d := durationOf(c, "timeout")
		u.Timeout = &d
	}
	switch hold, release := c.Bool("hold"), c.Bool("release"); {
	case hold && release:
		return u, usagef("update: --hold or --release, not both")
	case hold || release:
		u.Held = &hold
	}
	if u.Empty() {
		return u, usagef("update: nothing to change: give --priority, --gpus, --cpus, --timeout, --hold or --release")
	}
	return u, nil
}
