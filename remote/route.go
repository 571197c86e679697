package remote

// Which commands go through the daemon's socket, and where it is
// (docs/design.md "Every user, one daemon").

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	// SystemDB is the ledger of a systemd install (StateDirectory=runner).
	SystemDB = "/var/lib/runner/ledger.db"
	// SystemSocket is its daemon's socket (RuntimeDirectory=runner).
	SystemSocket = "/run/runner/runner.sock"
	// SocketName is the socket beside any other ledger.
	SocketName = "api.sock"
	// DefaultGroup may connect to the socket when it exists.
	DefaultGroup = "runner"
)

// ViaSocket reports whether a command runs through the daemon's socket for
// a user who may not write the ledger: the job commands and the read-only
// views people need beside them.
func ViaSocket(command string) bool {
	switch command {
	case "submit", "jobs", "runs", "status", "logs", "cancel", "wait", "hold", "release", "requeue", "update", "clean", "pause", "resume":
		return true
	}
	return false
}

// ReadsOnly reports the socket commands that only read the ledger: with the
// daemon down, a user who may read the ledger runs them locally.
func ReadsOnly(command string) bool {
	switch command {
	case "jobs", "runs", "status", "logs", "wait":
		return true
	}
	return false
}

// SocketPath is the daemon's socket for the ledger at db: flag (--socket)
// when set, else SystemSocket for the system ledger, else api.sock beside it.
func SocketPath(flag, db string) string {
	if flag != "" {
		return flag
	}
	if db == SystemDB {
		return SystemSocket
	}
	return filepath.Join(filepath.Dir(db), SocketName)
}

// SocketGroup is the group whose members may connect: flag
// (--socket-group) when set, else DefaultGroup when that group exists, else
// none (the daemon's own).
func SocketGroup(flag string) string {
	if flag != "" {
		return flag
	}
	if _, err := user.LookupGroup(DefaultGroup); err == nil {
		return DefaultGroup
	}
	return ""
}

// MayRead reports whether this process may read the ledger at path.
func MayRead(path string) bool {
	const rOK = 4
	return syscall.Access(path, rOK) == nil
}

// MayWrite reports whether this process may write the ledger at path, or
// create it there.
func MayWrite(path string) bool {
	const wOK, xOK = 2, 1
	err := syscall.Access(path, wOK)
	if err == nil {
		return true
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	dir := filepath.Dir(path)
	derr := syscall.Access(dir, wOK|xOK)
	return derr == nil || errors.Is(derr, fs.ErrNotExist)
}

// DefaultDB is the ledger a command uses without --db: SystemDB when a
// systemd install made it, else $XDG_STATE_HOME/runner/ledger.db. A user
// who may not look into /var/lib/runner still means that ledger (and then
// reaches it through the daemon's socket).
func DefaultDB(getenv func(string) string) string {
	if _, err := os.Stat(SystemDB); err == nil || errors.Is(err, fs.ErrPermission) {
		return SystemDB
	}
	state := getenv("XDG_STATE_HOME")
	if state == "" {
		home := getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "runner", "ledger.db")
}

// InlineFile reads the file that flag names in args (the words of a
// command, up to "--") here, as the caller, and adds its content as
// --contentFlag=CONTENT after it: the daemon is root and must not read
// files for a caller (nor could it resolve a path relative to the
// caller's directory). The error names the flag and why, not the path.
func InlineFile(args []string, flag, contentFlag string) ([]string, error) {
	out := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		path, ok := strings.CutPrefix(a, "--"+flag+"=")
		if !ok && a == "--"+flag && i+1 < len(args) {
			i++
			path, ok = args[i], true
		}
		if !ok {
			out = append(out, a)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		out = append(out, "--"+flag+"="+path, "--"+contentFlag+"="+string(data))
	}
	return out, nil
}
