// Package rundir opens run dirs, and the files in them, without following a
// link that a user planted: the daemon runs as root over trees that other
// users write (docs/design.md "Threat model").
//
// A path is walked one component at a time from "/", each step an openat(2)
// with O_NOFOLLOW relative to the dir before it, so nothing can be swapped
// between a check and a use. A symlink on the way is followed only when it is
// trusted: owned by root (or by the daemon's own user) in a dir that only
// root (or the daemon's user) can change, like /home -> /data/home set up by
// an admin. Inside a run dir no symlink is followed at all.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

var (
	// ErrPlantedLink means a path goes through a symlink that a user other
	// than root (or the daemon's user) owns or could replace.
	ErrPlantedLink = errors.New("goes through a symlink a user controls")
	// ErrNotMarker means a file named like a .synced marker is not one:
	// a symlink, a FIFO, a hard link, or owned by somebody else.
	ErrNotMarker = errors.New("not a marker")
	// ErrNotRegular means a file that should be a regular file is not.
	ErrNotRegular = errors.New("not a regular file")
)

// maxLinks bounds how many trusted symlinks one walk follows, as the
// kernel's own limit (40) does.
const maxLinks = 40

// Dir is an open run dir (or any dir reached by Open).
type Dir struct {
	fd   int
	Path string // as given to Open, cleaned
	UID  int    // owner of the dir as opened
	GID  int
	Dev  uint64
	Ino  uint64
}

// Open opens the dir at the absolute path without following a symlink a
// user controls (ErrPlantedLink names it).
func Open(path string) (*Dir, error) {
	fd, err := walk(path, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return &Dir{fd: fd, Path: filepath.Clean(path), UID: int(st.Uid), GID: int(st.Gid), Dev: st.Dev, Ino: st.Ino}, nil
}

// Close releases the dir.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// FD is the dir's file descriptor, valid until Close.
func (d *Dir) FD() int { return d.fd }

// trusted is who may own a symlink that Open follows and the dir it is in.
func trusted(uid uint32) bool {
	return uid == 0 || int(uid) == os.Geteuid()
}

// walk opens path component by component; flags are added to the final
// open (O_RDONLY|O_CLOEXEC always).
func walk(path string, flags int) (int, error) {
	if !filepath.IsAbs(path) {
		return -1, &fs.PathError{Op: "open", Path: path, Err: errors.New("not an absolute path")}
	}
	rest := splitPath(path)
	cur, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	var curSt unix.Stat_t
	if err := unix.Fstat(cur, &curSt); err != nil {
		unix.Close(cur)
		return -1, &fs.PathError{Op: "fstat", Path: "/", Err: err}
	}
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		next, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(cur)
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			unix.Close(cur)
			unix.Close(next)
			return -1, &fs.PathError{Op: "fstat", Path: path, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			// A link is safe to follow only when nobody but root could have
			// made it or could replace it.
			parentSafe := trusted(curSt.Uid) && (curSt.Mode&0o022 == 0 || curSt.Mode&unix.S_ISVTX != 0)
			if !trusted(st.Uid) || !parentSafe || links >= maxLinks {
				unix.Close(cur)
				unix.Close(next)
				return -1, &fs.PathError{Op: "open", Path: path,
					Err: fmt.Errorf("%w (%s is a symlink owned by uid %d)", ErrPlantedLink, name, st.Uid)}
			}
			links++
			target, err := readlinkFD(next)
			unix.Close(next)
			if err != nil {
				unix.Close(cur)
				return -1, &fs.PathError{Op: "readlink", Path: path, Err: err}
			}
			rest = append(splitPath(target), rest...)
			if strings.HasPrefix(target, "/") {
				unix.Close(cur)
				if cur, err = unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
					return -1, &fs.PathError{Op: "open", Path: "/", Err: err}
				}
				_ = unix.Fstat(cur, &curSt)
			}
			continue
		}
		unix.Close(cur)
		cur, curSt = next, st
	}
	// Reopen the last O_PATH fd as a real one: O_PATH cannot read.
	fd, err := unix.Openat(cur, ".", unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
	unix.Close(cur)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

func readlinkFD(fd int) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Lstat is fstatat(name) in d, never following a link.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return st, &fs.PathError{Op: "lstat", Path: d.join(name), Err: err}
	}
	return st, nil
}

func (d *Dir) join(name string) string { return d.Path + "/" + name }

// Marker reports whether name in d is a .synced marker: a regular file
// with one link, owned by the dir's owner or root. Absent is (false, nil);
// anything else by that name is (false, an ErrNotMarker error naming it).
func (d *Dir) Marker(name string) (bool, error) {
	st, err := d.Lstat(name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if why := notMarker(st, d.UID); why != "" {
		return false, &fs.PathError{Op: "marker", Path: d.join(name), Err: fmt.Errorf("%w: %s", ErrNotMarker, why)}
	}
	return true, nil
}

func notMarker(st unix.Stat_t, owner int) string {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return "it is " + describe(st.Mode)
	case st.Nlink != 1:
		return fmt.Sprintf("it is a hard link (%d links)", st.Nlink)
	case int(st.Uid) != owner && st.Uid != 0:
		return fmt.Sprintf("it is owned by uid %d, not by the dir's owner (uid %d)", st.Uid, owner)
	}
	return ""
}

// describe names a file type for an error message.
func describe(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	}
	return "not a regular file"
}

// Marker is Dir.Marker for a marker path: its dir is opened with Open.
func Marker(path string) (bool, error) {
	// Most runs have no marker, and the daemon asks about every active run
	// each second: a plain lstat answers "none" without the walk below,
	// which opens every component. (lstat follows links above the name; a
	// name it does not find, the walk, which follows none, cannot find.)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	d, err := Open(filepath.Dir(path))
	if err != nil {
		return false, err
	}
	defer d.Close()
	return d.Marker(filepath.Base(path))
}

// CreateMarker creates the empty marker name in d, never through a link
// and never over an existing file; a valid marker already there is fine.
func (d *Dir) CreateMarker(name string) error {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EEXIST) {
		_, err := d.Marker(name)
		return err
	}
	if err != nil {
		return &fs.PathError{Op: "create", Path: d.join(name), Err: err}
	}
	return unix.Close(fd)
}

// Remove unlinks name in d: a link is removed itself, never its target.
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.join(name), Err: err}
	}
	return nil
}

// OpenRegular opens the regular file at rel (a path inside d, no "..")
// for reading, following no symlink on the way: with openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the kernel has it (5.6+), one
// O_NOFOLLOW step at a time where it does not.
func (d *Dir) OpenRegular(rel string) (*os.File, error) {
	full := d.join(rel)
	if filepath.IsAbs(rel) || rel != filepath.Clean(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, &fs.PathError{Op: "open", Path: full, Err: errors.New("not a path inside the run dir")}
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(d.fd, rel, &how)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// No openat2 (before 5.6), or a seccomp filter that refuses it.
		fd, err = d.openSteps(rel)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return nil, &fs.PathError{Op: "open", Path: full, Err: fmt.Errorf("%w (a symlink on the way)", ErrNotRegular)}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: full, Err: ErrNotRegular}
	}
	// Reads block as usual from here; O_NONBLOCK was only for the open of
	// a FIFO that would otherwise wait for a writer.
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openSteps is OpenRegular for kernels without openat2.
func (d *Dir) openSteps(rel string) (int, error) {
	parts := splitPath(rel)
	cur, err := unix.Dup(d.fd)
	if err != nil {
		return -1, err
	}
	for i, p := range parts {
		flags := unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_DIRECTORY
		if i == len(parts)-1 {
			flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		next, err := unix.Openat(cur, p, flags, 0)
		unix.Close(cur)
		if errors.Is(err, unix.ENOTDIR) {
			err = unix.ELOOP // a symlink (or a file) where a dir should be
		}
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// PathCause is a path error's cause, for a message that names the path
// itself once: "open ledger /x: permission denied", not the path twice.
func PathCause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
