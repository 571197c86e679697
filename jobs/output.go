package jobs

// A job's own output files (submit --output/--error, as sbatch's): their
// patterns, and opening them without following a link planted there
// (docs/design.md "Output files").

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/ledger"
)

// ErrNotRegularOutput: an --output or --error path is a symlink, a FIFO, a
// device or a directory; the job does not start rather than write there.
var ErrNotRegularOutput = errors.New("is not a regular file (a symlink is never followed)")

// CheckOutputPattern refuses a pattern runner cannot expand: % takes only
// j (the job id), x (its name) and % itself.
func CheckOutputPattern(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+1 == len(p) || !strings.ContainsRune("jx%", rune(p[i+1])) {
			return fmt.Errorf("%q: %% takes %%j (job id), %%x (job name) or %%%%", p)
		}
		i++
	}
	if strings.HasSuffix(p, "/") {
		return fmt.Errorf("%q names a directory, not a file", p)
	}
	return nil
}

// OutputPatterns checks submit's --output and --error and makes them
// absolute against the job's working directory cwd, as sbatch does.
func OutputPatterns(output, errPath, cwd string) (string, string, error) {
	var out [2]string
	for i, p := range []string{output, errPath} {
		if p == "" {
			continue
		}
		if err := CheckOutputPattern(p); err != nil {
			return "", "", fmt.Errorf("--%s %w", [2]string{"output", "error"}[i], err)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		out[i] = p
	}
	return out[0], out[1], nil
}

// ExpandOutput is pattern with %j the job's id, %x its name (its command's
// base name when it has none; a / becomes _) and %% a %.
func ExpandOutput(pattern string, j ledger.Job) string {
	name := j.Name
	if name == "" && len(j.Argv) > 0 {
		name = filepath.Base(j.Argv[0])
	}
	name = strings.ReplaceAll(name, "/", "_")
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		i++
		switch pattern[i] {
		case 'j':
			b.WriteString(strconv.FormatInt(j.ID, 10))
		case 'x':
			b.WriteString(name)
		default:
			b.WriteByte(pattern[i])
		}
	}
	return b.String()
}

// OutputPaths is where job j's stdout and stderr go: its --output and
// --error expanded, the job log for a job without --output (once it has
// one), and stderr with stdout without --error.
func OutputPaths(j ledger.Job) (stdout, stderr string) {
	stdout = j.LogPath
	if j.Output != "" {
		stdout = ExpandOutput(j.Output, j)
	}
	stderr = stdout
	if j.Error != "" {
		stderr = ExpandOutput(j.Error, j)
	}
	return stdout, stderr
}

// openOutput opens an output file for appending, creating it 0600, with
// as's filesystem credentials (nil: this process's), so a root supervisor
// writes only where the job's owner may, and never through a symlink
// in the last component (O_NOFOLLOW) or into a FIFO or device.
func openOutput(path string, as *User) (*os.File, error) {
	return openAs(path, as, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT)
}

// OpenOutputForRead opens job j's output file for reading (runner logs) as
// its owner, by the same rules: through the root daemon's socket a user
// reads only what they could read themselves.
func OpenOutputForRead(path string, j ledger.Job) (*os.File, error) {
	var as *User
	if j.OwnerUID != os.Geteuid() && os.Geteuid() == 0 {
		u, err := LookupUser(j.OwnerUID)
		if err != nil {
			return nil, err
		}
		as = u
	}
	return openAs(path, as, unix.O_RDONLY)
}

func openAs(path string, as *User, flags int) (*os.File, error) {
	var f *os.File
	open := func() error {
		fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.ELOOP) {
			return &fs.PathError{Op: "open", Path: path, Err: ErrNotRegularOutput}
		}
		if err != nil {
			return &fs.PathError{Op: "open", Path: path, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return &fs.PathError{Op: "open", Path: path, Err: ErrNotRegularOutput}
		}
		// O_NONBLOCK was for the open alone (a FIFO must not block it).
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return &fs.PathError{Op: "open", Path: path, Err: err}
		}
		f = os.NewFile(uintptr(fd), path)
		return nil
	}
	var err error
	if as == nil {
		err = open()
	} else {
		err = owner.Do(owner.ID{UID: as.UID, GID: as.GID, Groups: as.Groups, Name: as.Name}, open)
	}
	return f, err
}
