package wandbfile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/runnerhq/runner/internal/rundir"
)

// Cursor reads a log that is still being written, incrementally (docs/design.md
// "Growing logs"): each Read goes on from the end of the last complete record
// the previous one saw, carrying the decoded state (counts, last history
// values, summary and config operations, errors) forward, so a log read after
// every write costs about one full parse over its whole growth instead of one
// per read. A replaced file (another inode), a truncated one, or a first Read
// reads from the start. Not safe for concurrent use.
type Cursor struct {
	path string
	opts Options

	rd       *recordReader
	shift    int64
	good     int64 // file offset after the last complete record: where the next Read starts
	dev, ino uint64
	errAt    *ReadError // rd.info.Err before the unconfirmed tail was read
	// dir is the log's dir, kept open between Reads: OpenRegular walks
	// every dir of the path with a syscall or three each, which was a
	// third of what re-reading a growing log cost (docs/design.md
	// "Growing logs"). It is used only while the path still leads to it.
	dir *rundir.Dir
}

// NewCursor returns a Cursor over the log at path. opts.History and
// opts.Record see every record once, in order, across all Reads.
func NewCursor(path string, opts Options) *Cursor { return &Cursor{path: path, opts: opts} }

// Fresh reports whether the next Read starts from the beginning (and so
// calls opts' callbacks from the first record again).
func (c *Cursor) Fresh() bool { return c.rd == nil }

// Stale reports whether the next Read will start over because the file at
// path was replaced or truncated since the last one (callers that keep state
// fed by opts' callbacks reset it first). A file that cannot be stat'ed is
// left for Read to report.
func (c *Cursor) Stale() bool {
	if c.rd == nil {
		return true
	}
	st, err := os.Lstat(c.path)
	if err != nil {
		return false
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && (uint64(s.Dev) != c.dev || s.Ino != c.ino || st.Size() < c.good)
}

// Read returns the Info of the whole log as it is now, reading only what was
// appended since the last Read when the file is the same one. Errors are
// ReadFile's.
func (c *Cursor) Read() (*Info, error) {
	f, st, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("open .wandb log: %w", err)
	}
	defer f.Close()
	var dev, ino uint64
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(s.Dev), s.Ino
	}
	if c.rd != nil && (dev != c.dev || ino != c.ino || st.Size() < c.good) {
		c.rd = nil // replaced or truncated: start over
	}
	if c.rd == nil {
		info, ck, err := readState(f, c.opts, bufferFor(st.Size()))
		if info != nil {
			info.Path = c.path
		}
		if err != nil || ck == nil {
			return info, wrapPath(c.path, err)
		}
		c.rd, c.shift, c.good, c.dev, c.ino = ck.rd, ck.shift, ck.good, dev, ino
		c.errAt = nil
		if e := ck.rd.info.Err; e != nil && e.Offset < ck.good {
			c.errAt = e
		}
		ck.rd.info.Err = c.errAt
		return info, nil
	}
	if _, err := f.Seek(c.good, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	// Only complete records changed the state: what was read past good
	// (a torn tail, corruption in bytes still being written) is judged again.
	c.rd.info.TornTail, c.rd.info.Err = false, c.errAt
	cr := &countingReader{r: f}
	ck := chunkReader{br: bufio.NewReaderSize(cr, bufferFor(st.Size()-c.good)), rd: c.rd, shift: c.shift, pos: c.good}
	ioErr := ck.run()
	info := c.rd.finish()
	info.Path = c.path
	info.Shifted = c.shift != 0
	info.Size = c.good + cr.n
	info.GoodOffset = ck.good
	c.good = ck.good
	if e := c.rd.info.Err; e != nil && e.Offset < ck.good {
		c.errAt = e
	}
	c.rd.info.Err = c.errAt
	if ioErr != nil {
		return info, fmt.Errorf("%s: read log: %w", c.path, ioErr)
	}
	return info, nil
}

// open opens the log in the kept dir while the log's dir path still leads
// to that dir (same device and inode: a dir renamed away, or replaced by
// another or by a link, is opened again the safe way), else by OpenRegular,
// keeping its dir. A dir reached through a link another user planted
// resolves to another inode, so it is walked again and refused as before.
func (c *Cursor) open() (*os.File, fs.FileInfo, error) {
	abs, err := filepath.Abs(c.path)
	if err != nil {
		return nil, nil, err
	}
	dirPath, name := filepath.Dir(abs), filepath.Base(abs)
	if c.dir != nil {
		st, err := os.Stat(dirPath)
		s, ok := sysStat(st)
		if err != nil || !ok || !st.IsDir() || uint64(s.Dev) != c.dir.Dev || s.Ino != c.dir.Ino {
			c.Close()
		}
	}
	if c.dir == nil {
		d, err := rundir.Open(dirPath)
		if err != nil {
			return nil, nil, err
		}
		c.dir = d
	}
	return openIn(c.dir, name, c.path)
}

// Close releases what the Cursor keeps open between Reads (a later Read
// opens it again).
func (c *Cursor) Close() error {
	err := c.dir.Close()
	c.dir = nil
	return err
}

func sysStat(st fs.FileInfo) (*syscall.Stat_t, bool) {
	if st == nil {
		return nil, false
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return s, ok
}

func wrapPath(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// bufferFor is the read buffer for size bytes: a small log gets a buffer its
// own size (a backfill reads thousands), a large one readBufferSize.
func bufferFor(size int64) int {
	if size < readBufferSize {
		return max(int(size)+headerLen, 512)
	}
	return readBufferSize
}
