package app

// Every user of the box, one daemon (docs/design.md "Every user, one
// daemon"): a user who may not write the ledger runs the job and status
// commands through the daemon's socket. The daemon runs the very same command
// in-process for them (socketHandler), as them: the job's owner is the uid the
// kernel reports for the connection.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/remote"
)

// forward runs the command through the daemon's socket when this process
// may not write the ledger (root always may). It returns nil when the
// command should run here, else a *ExitStatus (or the reason the call failed).
func forward(c *cli.Context, env Env) error {
	args := c.Args().Slice()
	if env.Caller != nil || os.Geteuid() == 0 || len(args) == 0 || !remote.ViaSocket(args[0]) || slices.Contains(args, completionFlag) {
		return nil
	}
	db := dbPath(c, env)
	if remote.MayWrite(db) {
		return nil
	}
	wd, err := env.getwd()
	if err != nil {
		return fmt.Errorf("%s: working directory: %w", args[0], err)
	}
	if args, err = inlineSweep(args); err != nil {
		return err
	}
	sock := remote.SocketPath(c.String("socket"), db)
	req := remote.Request{Version: Version, Args: args, Env: env.Environ(), Cwd: wd,
		Terminal: env.IsTerminal != nil && env.IsTerminal(env.Stdout), Width: env.width(env.Stdout)}
	code, line, err := remote.Call(c.Context, sock, req, env.Stdout, env.Stderr)
	if errors.Is(err, remote.ErrNoDaemon) && remote.ReadsOnly(args[0]) && remote.MayRead(db) {
		// A user who may read the ledger but not write it (a shared,
		// read-only ledger) still sees jobs, runs and status with the
		// daemon down, as before there was a socket.
		return nil
	}
	if errors.Is(err, remote.ErrNoDaemon) && args[0] == "cancel" {
		if err := jobs.CancelArgsWithoutDaemon(args[1:], env.say); err != nil {
			return err
		}
		return &ExitStatus{} // done here; the command must not run again locally
	}
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("%s: you may not write the ledger %s, so this goes through the daemon, and %w (ask to join the socket's group, by default %q)",
				args[0], db, err, remote.DefaultGroup)
		}
		return fmt.Errorf("%s: you may not write the ledger %s, so this goes through the daemon, and %w", args[0], db, err)
	}
	return &ExitStatus{Code: code, Line: line}
}

// inlineSweep sends submit's --sweep file along (remote.InlineFile).
func inlineSweep(args []string) ([]string, error) {
	if len(args) == 0 || args[0] != submitName {
		return args, nil
	}
	args, err := remote.InlineFile(args, "sweep", sweepContentFlag)
	if err != nil {
		return nil, usagef("submit: %v", err)
	}
	return args, nil
}

// socketHandler runs a command for a socket caller: with the caller's
// output, environment and working directory, on the daemon's ledger, and
// with the caller's identity for ownership (Env.Caller).
func socketHandler(base Env, db string) remote.Handler {
	return func(ctx context.Context, caller remote.Caller, req remote.Request, stdout, stderr io.Writer) (int, string) {
		if len(req.Args) == 0 || !remote.ViaSocket(req.Args[0]) {
			return 2, fmt.Sprintf("the daemon's socket runs only submit, jobs, runs, status, logs, wait, cancel, hold, release, requeue, update, clean, pause and resume, not %q",
				strings.Join(req.Args[:min(1, len(req.Args))], ""))
		}
		env := Env{
			Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
			Getenv:     req.Getenv(envName("db"), envName("socket")),
			Environ:    func() []string { return slices.Clone(req.Env) },
			Getwd:      func() (string, error) { return req.Cwd, nil },
			Now:        base.Now,
			IsTerminal: func(w io.Writer) bool { return w == stdout && req.Terminal },
			TermWidth: func(w io.Writer) int {
				if w == stdout {
					return req.Width
				}
				return 0
			},
			Self:   base.Self,
			Caller: &caller,
		}
		err := Run(ctx, append([]string{"runner", "--db", db}, req.Args...), env)
		return ExitCode(err), ErrorLine(err)
	}
}

// mayTouch says whether this caller may change job j or read its output:
// anyone running locally (who may write the ledger may change it anyway),
// and a socket caller as jobs.MayTouch says.
func (e Env) mayTouch(j ledger.Job, what string) error {
	if e.Caller == nil {
		return nil
	}
	return jobs.MayTouch(e.Caller.UID, j, what)
}

// owner is who submits: the socket caller, else this process's user.
func (e Env) owner() (uid, gid int, name string) {
	uid, gid = os.Getuid(), os.Getgid()
	if e.Caller != nil {
		uid, gid = e.Caller.UID, e.Caller.GID
	}
	name = strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return uid, gid, name
}

// getwd is the caller's working directory.
func (e Env) getwd() (string, error) {
	if e.Getwd == nil {
		return os.Getwd()
	}
	return e.Getwd()
}
