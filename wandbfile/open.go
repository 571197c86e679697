package wandbfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/runnerhq/runner/internal/rundir"
)

// ErrNotRegular means a path that should hold a log is something else: a
// FIFO, a device, a socket, a directory or a symlink. runner never reads
// one: opening a FIFO blocks until a writer comes (forever, in a daemon), a
// device may never end, and a symlink may point out of the run dir.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path for reading only if it is a regular file, and
// without blocking on anything else: O_NONBLOCK makes opening a FIFO return
// at once, O_NOFOLLOW refuses a symlink, and the type is checked on the open
// descriptor (fstat), so a file swapped after a stat is caught too. For a
// regular file O_NONBLOCK changes nothing. The dirs on the way are opened
// with rundir.Open, so a dir a user swapped for a link is not followed
// either. See docs/design.md "Hostile files" and "Threat model".
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	d, err := rundir.Open(filepath.Dir(abs))
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	return openIn(d, filepath.Base(abs), path)
}

// openIn is OpenRegular of name in the open dir d; path names it in errors.
func openIn(d *rundir.Dir, name, path string) (*os.File, fs.FileInfo, error) {
	fd, err := unix.Openat(d.FD(), name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (a symlink)", ErrNotRegular)}
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(st.Mode()))}
	}
	return f, st, nil
}

// describeMode names a non-regular file type for an error message.
func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	default:
		return "mode " + m.String()
	}
}
