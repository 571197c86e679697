package sync

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// Run dirs are watched with inotify directly, not through fsnotify: a run
// being trained writes its log at 10 Hz, and each write is an IN_MODIFY
// that wakes the watcher for nothing while the run is polled on its
// schedule anyway (docs/design.md "Observing active runs"). fsnotify
// v1.10 cannot leave IN_MODIFY out of a watch (its withOps option is not
// exported), so a run dir's mask is set here, per dir.
const (
	// runWatchLoud is a run dir's mask while its log is not growing: a
	// write is news (a pending run that grows again, an empty log that
	// became a run). IN_ATTRIB is left out: a touch alone is not news
	// for the watcher (handleEvent ignores Chmod), the next report carries it.
	runWatchLoud = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_DELETE | unix.IN_DELETE_SELF |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW
	// runWatchMuted is the mask while the watcher polls a growing log
	// itself: new files, renames and removals still arrive at once.
	runWatchMuted = runWatchLoud &^ unix.IN_MODIFY
)

// runWatches is one inotify instance for run dirs, with a mask per dir
// (Mute). It delivers fsnotify Events, so Watcher.handleEvent serves both.
type runWatches struct {
	f      *os.File
	fd     int // f's descriptor for the add/rm syscalls: f.Fd() would make reads blocking
	events chan fsnotify.Event
	errors chan error
	done   chan struct{}
	closed gosync.Once
	exited chan struct{}

	mu    gosync.Mutex
	byWD  map[int32]string // watch descriptor -> dir
	wds   map[string]int32 // dir -> watch descriptor
	muted map[string]bool  // dirs whose writes are not reported
}

func newRunWatches() (*runWatches, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	r := &runWatches{
		// Non-blocking and handed to the runtime poller: Close ends a
		// pending Read, so the reader goroutine never outlives the watcher.
		f:      os.NewFile(uintptr(fd), "inotify"),
		fd:     fd,
		events: make(chan fsnotify.Event),
		errors: make(chan error),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		byWD:   map[int32]string{},
		wds:    map[string]int32{},
		muted:  map[string]bool{},
	}
	go r.read()
	return r, nil
}

// Add watches dir, muted if Mute said so before (a rescan re-adds every
// watch and must not undo a mute).
func (r *runWatches) Add(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(dir, r.muted[dir])
}

func (r *runWatches) addLocked(dir string, muted bool) error {
	mask := uint32(runWatchLoud)
	if muted {
		mask = runWatchMuted
	}
	wd, err := unix.InotifyAddWatch(r.fd, dir, mask)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	if old, ok := r.wds[dir]; ok && old != int32(wd) {
		delete(r.byWD, old) // the path is another dir now
	}
	r.wds[dir], r.byWD[int32(wd)] = int32(wd), dir
	return nil
}

// Mute stops (on) or restarts (off) the reports of writes in a watched dir;
// creations, renames and removals are reported either way.
func (r *runWatches) Mute(dir string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.muted[dir] == on {
		return nil
	}
	if _, ok := r.wds[dir]; !ok {
		return fmt.Errorf("mute %s: %w", dir, fsnotify.ErrNonExistentWatch)
	}
	if err := r.addLocked(dir, on); err != nil {
		return err
	}
	if on {
		r.muted[dir] = true
	} else {
		delete(r.muted, dir)
	}
	return nil
}

// Remove drops dir's watch; a dir already deleted lost it with its inode.
func (r *runWatches) Remove(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	wd, ok := r.wds[dir]
	delete(r.muted, dir)
	if !ok {
		return fmt.Errorf("remove %s: %w", dir, fsnotify.ErrNonExistentWatch)
	}
	delete(r.wds, dir)
	delete(r.byWD, wd)
	if _, err := unix.InotifyRmWatch(r.fd, uint32(wd)); err != nil && !errors.Is(err, unix.EINVAL) {
		// EINVAL: the kernel dropped it already (the dir was deleted).
		return &os.PathError{Op: "inotify_rm_watch", Path: dir, Err: err}
	}
	return nil
}

// WatchList returns the watched dirs.
func (r *runWatches) WatchList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirs := make([]string, 0, len(r.wds))
	for d := range r.wds {
		dirs = append(dirs, d)
	}
	return dirs
}

func (r *runWatches) Close() error {
	var err error
	r.closed.Do(func() {
		close(r.done)
		err = r.f.Close()
		<-r.exited
	})
	return err
}

// read turns the kernel's events into fsnotify Events until Close.
func (r *runWatches) read() {
	defer close(r.exited)
	var buf [64 * (unix.SizeofInotifyEvent + unix.NAME_MAX + 1)]byte
	for {
		n, err := r.f.Read(buf[:])
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if !r.sendErr(fmt.Errorf("read run dir events: %w", err)) {
				return
			}
			continue
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if raw.Len > 0 {
				b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(raw.Len)]
				for i, c := range b {
					if c == 0 {
						b = b[:i]
						break
					}
				}
				name = string(b)
			}
			off += unix.SizeofInotifyEvent + int(raw.Len)
			if raw.Mask&unix.IN_Q_OVERFLOW != 0 {
				if !r.sendErr(fsnotify.ErrEventOverflow) {
					return
				}
				continue
			}
			ev, ok := r.event(raw.Wd, raw.Mask, name)
			if !ok {
				continue
			}
			select {
			case r.events <- ev:
			case <-r.done:
				return
			}
		}
	}
}

func (r *runWatches) sendErr(err error) bool {
	select {
	case r.errors <- err:
		return true
	case <-r.done:
		return false
	}
}

// event maps one inotify event to an fsnotify Event the way fsnotify does;
// ok is false for events of a watch already dropped and for IN_IGNORED.
func (r *runWatches) event(wd int32, mask uint32, name string) (fsnotify.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, ok := r.byWD[wd]
	if !ok {
		return fsnotify.Event{}, false
	}
	if mask&unix.IN_IGNORED != 0 {
		// The kernel dropped the watch (its dir was deleted).
		delete(r.byWD, wd)
		if r.wds[dir] == wd {
			delete(r.wds, dir)
			delete(r.muted, dir)
		}
		return fsnotify.Event{}, false
	}
	ev := fsnotify.Event{Name: dir}
	if name != "" {
		ev.Name = filepath.Join(dir, name)
	}
	switch {
	case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		ev.Op = fsnotify.Create
	case mask&(unix.IN_DELETE|unix.IN_DELETE_SELF) != 0:
		ev.Op = fsnotify.Remove
	case mask&(unix.IN_MOVED_FROM|unix.IN_MOVE_SELF) != 0:
		ev.Op = fsnotify.Rename
	case mask&unix.IN_MODIFY != 0:
		ev.Op = fsnotify.Write
	default:
		return fsnotify.Event{}, false
	}
	return ev, true
}
