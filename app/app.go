// Package app is runner's command line: one urfave/cli command per file,
// each a thin wrapper around a plain function that tests call directly.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"

	"github.com/runnerhq/runner/internal/argv"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/remote"

	"github.com/urfave/cli/v2"
)

// Version is set at build time with -ldflags "-X github.com/runnerhq/runner/app.Version=...".
var Version = "dev"

// Env is everything a command takes from the outside world, so tests can
// run commands in-process with their own streams, environment and clock.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        func() []string
	Now            func() time.Time
	// IsTerminal reports whether w is an interactive terminal (progress bars, colour).
	IsTerminal func(w io.Writer) bool
	// TermWidth is w's width in columns when it is a terminal, else 0.
	TermWidth func(w io.Writer) int
	// Self is the path of the runner executable (job supervisors re-exec it).
	Self string
	// Getwd is the caller's working directory (nil: the process's).
	Getwd func() (string, error)
	// Caller is the user a command runs for through the daemon's socket;
	// nil for a command run locally.
	Caller *remote.Caller
}

// say prints one line of a command's report on stdout.
func (e Env) say(line string) { fmt.Fprintln(e.Stdout, line) }

// StdEnv is the process's real environment.
func StdEnv() Env {
	self, _ := os.Executable()
	return Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Environ: os.Environ, Now: time.Now,
		IsTerminal: isTerminal, TermWidth: termWidth, Self: self, Getwd: os.Getwd,
	}
}

// Run parses args (args[0] is the program name) and runs the command.
func Run(ctx context.Context, args []string, env Env) error {
	a := New(env)
	if len(args) > 1 && args[len(args)-1] == completionFlag {
		// A completion request must never run the command: urfave runs it
		// when "--" is among the words, and moving the flag would too.
		var ok bool
		if args, ok = argv.Completion(args); !ok {
			return nil
		}
		return a.RunContext(ctx, args)
	}
	if len(args) > 1 {
		args = argv.Command(a, args, submitName)
	}
	return a.RunContext(ctx, args)
}

// suggest adds the nearest flag to an unknown-flag error, and for submit
// where the job's own flags go (argv.AsTyped).
func suggest(c *cli.Context, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok || c.Command == nil {
		return err
	}
	// The flag package names it with one dash whatever was typed.
	dashes := "--"
	if len(name) == 1 {
		dashes = "-"
	}
	err = fmt.Errorf("unknown flag %s%s", dashes, name)
	if s := cli.SuggestFlag(c.Command.Flags, strings.TrimLeft(name, "-"), true); s != "" {
		err = fmt.Errorf("%w; did you mean %s?", err, s)
	}
	if c.Command.Name == submitName {
		err = fmt.Errorf("%w (the job's own flags go after its command: runner submit [flags] CMD ARGS...)", err)
	}
	return err
}

// unknownCommand is the usage error for a mistyped command, with the
// nearest visible one when it is near enough to be what was meant.
func unknownCommand(a *cli.App, name string) error {
	best, bestD := "", 3 // at most two edits away
	for _, c := range a.VisibleCommands() {
		if d := levenshtein.ComputeDistance(name, c.Name); d < bestD {
			best, bestD = c.Name, d
		}
	}
	if best == "" {
		return usagef("unknown command %q (runner help lists them)", name)
	}
	return usagef("unknown command %q; did you mean %q?", name, best)
}

// rejectExtraArgs makes action refuse positional arguments beyond what the
// command's ArgsUsage names (none when empty; any number after "..."), so
// `runner runs pde` or `runner logs 1 2` is a usage error, not a silently
// ignored word. The help text is the one statement of what a command takes.
func rejectExtraArgs(action cli.ActionFunc, usage string) cli.ActionFunc {
	max := len(strings.Fields(usage))
	if strings.Contains(usage, "...") {
		return action
	}
	return func(c *cli.Context) error {
		if n := c.Args().Len(); n > max {
			extra := c.Args().Slice()[max:]
			takes := "no arguments"
			if max > 0 {
				takes = usage
			}
			return usagef("%s: unexpected argument %q (%s takes %s)", c.Command.Name, extra[0], c.Command.Name, takes)
		}
		return action(c)
	}
}

// New builds the CLI application.
func New(env Env) *cli.App {
	a := &cli.App{
		Name:                      "runner",
		Usage:                     "W&B offline runs ledger, GPU job queue and idempotent uploader",
		Version:                   Version,
		Writer:                    env.Stdout,
		ErrWriter:                 env.Stderr,
		Reader:                    env.Stdin,
		DisableSliceFlagSeparator: true,
		HideHelpCommand:           false, // runner help [COMMAND]
		Suggest:                   true,
		// Shell completion (deploy/completion/): the scripts ask
		// `runner ... --generate-bash-completion`.
		EnableBashCompletion: true,
		// --version is versionFlag, printed by the root action.
		HideVersion: true,
		// Errors are printed and mapped to exit codes once, in main.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &UsageError{Err: suggest(c, err)}
		},
		Flags: []cli.Flag{
			withDefault(stringFlag("db", "the ledger file", ""), "/var/lib/runner/ledger.db if it exists, else $XDG_STATE_HOME/runner/ledger.db"),
			withDefault(stringFlag("socket", "the daemon's unix socket", ""), "/run/runner/runner.sock for the system ledger, else api.sock beside the ledger"),
			stringFlag("log-format", "log format: text or json", "text"),
			withDefault(stringFlag("log-level", "log level: debug, info, warn, error", "info"), "info for the daemon, warn otherwise"),
			versionFlag(),
		},
	}
	a.Commands = commands(env)
	configFlags(a)
	for _, c := range a.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = a.OnUsageError
		}
		if c.Name != submitName && c.Action != nil {
			c.Action = rejectExtraArgs(c.Action, c.ArgsUsage)
		}
		if ex := examples(c.Name); len(ex) > 0 {
			c.Description = strings.TrimSpace(c.Description + "\n\nExamples:\n   " + strings.Join(ex, "\n   "))
		}
	}
	a.CommandNotFound = func(c *cli.Context, name string) {}
	a.Before = func(c *cli.Context) error { return forward(c, env) }
	a.Action = func(c *cli.Context) error {
		if c.Bool("version") {
			return printVersion(env, false)
		}
		if c.Args().Len() > 0 {
			return unknownCommand(a, c.Args().First())
		}
		return cli.ShowAppHelp(c)
	}
	return a
}

func commands(env Env) []*cli.Command {
	return []*cli.Command{
		inspectCommand(env),
		daemonCommand(env),
		backfillCommand(env),
		runsCommand(env),
		syncCommand(env),
		statusCommand(env),
		skipCommand(env), unskipCommand(env), doctorCommand(env), backupCommand(env),
		submitCommand(env),
		jobsCommand(env),
		logsCommand(env),
		cancelCommand(env),
		waitCommand(env),
		holdCommand(env, true), holdCommand(env, false),
		requeueCommand(env),
		updateCommand(env),
		cleanCommand(env),
		pauseCommand(env, true),
		pauseCommand(env, false),
		configCommand(env),
		gpusCommand(env),
		superviseCommand(env),
		metricsCommand(env),
		compareCommand(env),
		leaderboardCommand(env),
		regressionsCommand(env),
		checkCommand(env),
		plotCommand(env),
		reportCommand(env),
		serveCommand(env),
		gcCommand(env),
		versionCommand(env),
	}
}

func dbPath(c *cli.Context, env Env) string {
	if p := c.String("db"); p != "" {
		return p
	}
	return remote.DefaultDB(env.Getenv)
}

// newLogger builds the structured logger. The daemon logs at info by default;
// one-shot commands at warn, so that cron mails only what went wrong.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	name := c.String("log-level")
	if !c.IsSet("log-level") && c.Command.Name != "daemon" {
		name = "warn"
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return nil, usagef("invalid --log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usagef("invalid --log-format %q: want text or json", c.String("log-format"))
	}
}

// needArgs returns a usage error when a command got fewer positional arguments than it needs.
func needArgs(c *cli.Context, n int, what string) error {
	if c.Args().Len() < n {
		return usagef("%s: missing %s", c.Command.Name, what)
	}
	return nil
}

// withLedger opens the ledger (read-only for commands that only read, so
// users with read access can run them) and runs fn with it and the
// command's logger.
func withLedger(c *cli.Context, env Env, readOnly bool, fn func(db *ledger.DB, logger *slog.Logger) error) error {
	logger, err := newLogger(c, env.Stderr)
	if err != nil {
		return err
	}
	db, err := openDB(c.Context, c, env, logger, readOnly)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db, logger)
}
