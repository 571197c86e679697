package app

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/internal/units"
)

// otherMeaning reports flags named like a daemon setting that mean
// something else on their command: they get no environment variable
// (RUNNER_GPUS is the daemon's GPU inventory, not a job's GPU count;
// RUNNER_EXECUTOR the daemon's default engine, not one submit's).
func otherMeaning(command, flag string) bool {
	return command == submitName && (flag == "gpus" || flag == "executor")
}

// configFlags gives environment variables exactly to the configuration
// flags: the global ones and `runner daemon`'s (the ledger, the watched
// trees, the wandb CLI, the key file, concurrency, GPUs, regression
// settings...), on every command that has them. Per-call flags (--json,
// --state, --dry-run, --name, a filter) have none, so a variable set for
// the daemon never changes what `runner status` prints (README
// "Configuration").
func configFlags(a *cli.App) {
	config := map[string]bool{}
	for _, f := range a.Flags {
		// --version is a request, not a setting.
		config[f.Names()[0]] = f.Names()[0] != "version"
	}
	for _, c := range a.Commands {
		if c.Name == "daemon" {
			for _, f := range c.Flags {
				config[f.Names()[0]] = true
			}
		}
	}
	set := func(f cli.Flag, on bool) {
		var env []string
		if on {
			env = []string{envName(f.Names()[0])}
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = env
		case *cli.BoolFlag:
			f.EnvVars = env
		case *cli.IntFlag:
			f.EnvVars = env
		case *cli.Int64Flag:
			f.EnvVars = env
		case *cli.Float64Flag:
			f.EnvVars = env
		case *cli.StringSliceFlag:
			f.EnvVars = env
		case *cli.GenericFlag:
			f.EnvVars = env
		}
	}
	for _, f := range a.Flags {
		set(f, config[f.Names()[0]])
	}
	for _, c := range a.Commands {
		for _, f := range c.Flags {
			name := f.Names()[0]
			set(f, config[name] && !otherMeaning(c.Name, name))
		}
	}
}

// envName is the environment variable of a flag: RUNNER_<FLAG_IN_UPPER_SNAKE_CASE>.
func envName(flag string) string {
	return "RUNNER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func stringFlag(name, usage, def string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Usage: usage, Value: def, EnvVars: []string{envName(name)}}
}

func boolFlag(name, usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: name, Usage: usage, EnvVars: []string{envName(name)}}
}

func intFlag(name, usage string, def int) *cli.IntFlag {
	return &cli.IntFlag{Name: name, Usage: usage, Value: def, EnvVars: []string{envName(name)}}
}

func listFlag(name, usage string) *cli.StringSliceFlag {
	return &cli.StringSliceFlag{Name: name, Usage: usage, EnvVars: []string{envName(name)}}
}

func durationFlag(name, usage string, def time.Duration) *cli.GenericFlag {
	d := Duration(def)
	return &cli.GenericFlag{Name: name, Usage: usage + " (Go duration or whole days, e.g. 90s, 10m, 7d)",
		Value: &d, EnvVars: []string{envName(name)}, DefaultText: units.FormatDuration(def)}
}

// withDefault sets the default that help shows, once, when it is not the
// flag's zero value written out (urfave adds "(default: TEXT)").
func withDefault[F interface {
	*cli.StringFlag | *cli.IntFlag | *cli.StringSliceFlag
}](f F, text string) F {
	switch f := any(f).(type) {
	case *cli.StringFlag:
		f.DefaultText = text
	case *cli.IntFlag:
		f.DefaultText = text
	case *cli.StringSliceFlag:
		f.DefaultText = text
	}
	return f
}

func hidden(f *cli.GenericFlag) *cli.GenericFlag {
	f.Hidden = true
	return f
}

// Duration is a flag value accepting Go durations and whole days ("7d").
type Duration time.Duration

func (d *Duration) Set(s string) error {
	v, err := units.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d *Duration) String() string { return units.FormatDuration(time.Duration(*d)) }

func durationOf(c *cli.Context, name string) time.Duration {
	if v, ok := c.Generic(name).(*Duration); ok && v != nil {
		return time.Duration(*v)
	}
	return 0
}
