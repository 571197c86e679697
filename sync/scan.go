package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/wandbfile"
)

// RunDir is one discovered offline run dir.
type RunDir struct {
	// Dir is the canonical absolute path. Only the scan root is resolved with
	// EvalSymlinks; inside the tree symlinks are never followed, so a run dir
	// has exactly one Dir however many links point at it (wandb/latest-run).
	Dir string
	// LogPath is the run-<id>.wandb file, "" while the dir has none yet
	// (wandb creates the dir first and the log an instant later).
	LogPath string
	// Size and MTime describe LogPath; zero when LogPath is "".
	Size  int64
	MTime time.Time
	// Marker reports that LogPath+".synced" exists: `wandb sync` already
	// uploaded this run at some point (by hand or by us).
	Marker bool
}

const (
	runDirPrefix  = "offline-run-"
	runStampLen   = len("YYYYMMDD_HHMMSS")
	runLogPrefix  = "run-"
	runLogSuffix  = ".wandb"
	runMarkSuffix = ".synced"
)

// IsRunDirName reports whether base is an offline run dir name:
// "offline-run-YYYYMMDD_HHMMSS-<id>[-N]". The id may itself contain '-', so
// the name is only checked, never split into id and suffix; the id comes from
// the log file name.
func IsRunDirName(base string) bool {
	rest, ok := strings.CutPrefix(base, runDirPrefix)
	if !ok || len(rest) < runStampLen+2 {
		return false
	}
	for i := range runStampLen {
		c := rest[i]
		if i == 8 {
			if c != '_' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return rest[runStampLen] == '-'
}

// runDirTail returns what follows the timestamp in a run dir name: "<id>" or
// "<id>-N". It assumes IsRunDirName(base).
func runDirTail(base string) string {
	return base[len(runDirPrefix)+runStampLen+1:]
}

// isRunLogName reports whether name is a run-<id>.wandb log (not the
// .synced/.syncstate files that sit next to it, which end differently).
func isRunLogName(name string) bool {
	return len(name) > len(runLogPrefix)+len(runLogSuffix) &&
		strings.HasPrefix(name, runLogPrefix) && strings.HasSuffix(name, runLogSuffix)
}

// logMatchesDir reports whether log run-<id>.wandb belongs to the dir name's
// tail "<id>" or "<id>-N" (N decimal: the suffix wandb adds on a clash).
func logMatchesDir(logName, tail string) bool {
	id := logName[len(runLogPrefix) : len(logName)-len(runLogSuffix)]
	if tail == id {
		return true
	}
	n, ok := strings.CutPrefix(tail, id+"-")
	if !ok || n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// ReadRunPath reads what `runner inspect` names: a run dir (its
// run-*.wandb, as InspectRunDir finds it) or a .wandb file. A symlink named
// there is the user's choice: what it points to is read, if that is a
// regular file (runner never opens a FIFO or a device: docs/design.md
// "Hostile files").
func ReadRunPath(path string) (*wandbfile.Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, rundir.PathCause(err))
	}
	file := path
	if !st.IsDir() {
		if file, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("inspect %s: %w", path, rundir.PathCause(err))
		}
	}
	if st.IsDir() {
		rd, err := InspectRunDir(path)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", path, err)
		}
		if rd.LogPath == "" {
			return nil, fmt.Errorf("inspect %s: no run-*.wandb file in this directory", path)
		}
		file = rd.LogPath
	}
	info, err := wandbfile.ReadFile(file, wandbfile.Options{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", file, err)
	}
	return info, nil
}

// InspectRunDir stats one run dir: finds its log file (run-*.wandb; if there
// are several, the one whose id matches the dir name, else the largest) and
// fills RunDir. dir is made absolute and its symlinks are resolved, as a scan
// root would be. A dir with no log yet is not an error: LogPath is "".
func InspectRunDir(dir string) (RunDir, error) {
	abs, err := canonicalRoot(dir)
	if err != nil {
		return RunDir{}, fmt.Errorf("inspect run dir: %w", err)
	}
	return inspectRunDir(abs)
}

// inspectRunDir is InspectRunDir for a path that is already canonical. It
// reads the dir once and derives the marker from that listing, so a run dir
// costs one getdents plus one lstat of the chosen log.
func inspectRunDir(dir string) (RunDir, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return RunDir{}, fmt.Errorf("inspect run dir: %w", err)
	}
	rd := RunDir{Dir: dir}
	tail := ""
	if base := filepath.Base(dir); IsRunDirName(base) {
		tail = runDirTail(base)
	}

	var logs []fs.DirEntry
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
		// Symlinked or directory "logs" are skipped: symlinks are never followed.
		if isRunLogName(e.Name()) && e.Type().IsRegular() {
			logs = append(logs, e)
		}
	}

	var (
		chosen fs.DirEntry
		info   fs.FileInfo
	)
	// The log named after the dir wins: "<id>" exactly, else "<id>-N" (an id
	// may itself end in -N, so the exact match is preferred).
	for _, e := range logs {
		if tail == "" {
			break
		}
		exact := e.Name() == runLogPrefix+tail+runLogSuffix
		if !exact && (chosen != nil || !logMatchesDir(e.Name(), tail)) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			chosen, info = e, fi
			if exact {
				break
			}
		}
	}
	if chosen == nil {
		// No log named after the dir (a renamed or copied dir): take the
		// largest, which is the one with the most history. Entries are sorted
		// by name, so ties resolve the same way every time.
		for _, e := range logs {
			fi, err := e.Info()
			if err != nil {
				continue // vanished since the listing
			}
			if info == nil || fi.Size() > info.Size() {
				chosen, info = e, fi
			}
		}
	}
	if chosen == nil {
		return rd, nil
	}
	rd.LogPath = filepath.Join(dir, chosen.Name())
	rd.Size = info.Size()
	rd.MTime = info.ModTime()
	if names[chosen.Name()+runMarkSuffix] {
		// Only a real marker counts (rundir.Marker): the engine names a
		// bad one when it looks at the run.
		rd.Marker, _ = rundir.Marker(rd.LogPath + runMarkSuffix)
	}
	return rd, nil
}

// canonicalRoot returns the absolute, symlink-free form of a root path.
func canonicalRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	// EvalSymlinks errors are *fs.PathError and already name the path.
	return filepath.EvalSymlinks(abs)
}

// Scan walks root (any depth) and calls fn for each offline run dir found.
//
// A run dir is recognised by its name alone, whatever its parent is called:
// wandb writes them under wandb/ or .wandb/, but users copy run dirs from
// rented GPUs and cluster pods into arbitrary folders, and the name pattern
// (offline-run-YYYYMMDD_HHMMSS-...) is specific enough not to match by
// accident. If root itself is a run dir, that one dir is reported.
//
// Symlinks inside the tree are never followed, so wandb/latest-run is not
// counted twice and links out of the tree are ignored. A run dir's subtrees
// (files/, logs/, tmp/, which can be huge) are not entered. A directory that
// cannot be read, or that vanished mid-walk, is passed to errFn (may be nil)
// and skipped. It is an error if root does not exist or cannot be read. An
// error returned by fn stops the scan and is returned as is. Run dirs are
// reported depth-first in lexical order, so repeated scans agree.
func Scan(ctx context.Context, root string, fn func(RunDir) error, errFn func(path string, err error)) error {
	abs, err := canonicalRoot(root)
	if err != nil {
		return fmt.Errorf("scan root %s: %w", root, err)
	}
	return walkRunTree(ctx, abs, treeHooks{found: fn, failed: errFn})
}

// treeHooks receive what walkRunTree finds. Every field may be nil.
type treeHooks struct {
	// enter is called for each directory before its entries are read, run
	// dirs included (isRun). The watcher adds its inotify watch here, so
	// anything created after the listing still produces an event.
	enter func(dir string, isRun bool)
	// found is called for each run dir; its error stops the walk.
	found func(RunDir) error
	// failed is called for a directory that could not be read.
	failed func(path string, err error)
}

// errRootNotDir is returned when a scan root is a file.
var errRootNotDir = errors.New("not a directory")

// walkRunTree walks the canonical path root. It is shared by Scan and the
// watcher so both agree on what a run dir is and which dirs are entered.
func walkRunTree(ctx context.Context, root string, h treeHooks) error {
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("scan %s: %w", root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("scan %s: %w", root, errRootNotDir)
	}
	if IsRunDirName(filepath.Base(root)) {
		return h.visitRun(root)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.enter != nil {
		h.enter(root, false)
	}
	entries, err := os.ReadDir(root)
	if err != nil && len(entries) == 0 {
		return fmt.Errorf("scan %s: %w", root, err)
	}
	if err != nil {
		h.fail(root, err)
	}
	return h.walkEntries(ctx, root, entries)
}

func (h treeHooks) fail(path string, err error) {
	if h.failed != nil {
		h.failed(path, err)
	}
}

func (h treeHooks) visitRun(dir string) error {
	if h.enter != nil {
		h.enter(dir, true)
	}
	rd, err := inspectRunDir(dir)
	if err != nil {
		h.fail(dir, err)
		return nil
	}
	if h.found == nil {
		return nil
	}
	return h.found(rd)
}

// skipDirName reports directories that never hold offline runs and can be huge
// (a repository's history, a JavaScript tree, bytecode caches, model and
// dataset caches): walking and watching them would only cost inotify
// watches and time.
func skipDirName(name string) bool {
	switch name {
	case ".git", "node_modules", "__pycache__", ".cache":
		return true
	}
	return false
}

func (h treeHooks) walkEntries(ctx context.Context, dir string, entries []fs.DirEntry) error {
	for _, e := range entries {
		// DirEntry types come from getdents: no lstat per entry, and a
		// symlink is never IsDir, which is what keeps the walk inside the tree.
		if !e.IsDir() {
			continue
		}
		if skipDirName(e.Name()) {
			continue
		}
		p := childPath(dir, e.Name())
		if IsRunDirName(e.Name()) {
			if err := h.visitRun(p); err != nil {
				return err
			}
			continue
		}
		if err := h.walkDir(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (h treeHooks) walkDir(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.enter != nil {
		h.enter(dir, false)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		h.fail(dir, err)
		// os.ReadDir returns what it read before the error; use it.
	}
	return h.walkEntries(ctx, dir, entries)
}

// childPath joins a clean dir and one name without filepath.Join's Clean,
// which shows up in profiles of 10,000-dir scans.
func childPath(dir, name string) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir + name
	}
	return dir + string(filepath.Separator) + name
}
