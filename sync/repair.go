package sync

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/wandbfile"
)

// wandbHeaderLen is the size of the `.wandb` file header; a cut inside it leaves nothing to sync.
const wandbHeaderLen = 7

// Repair makes a temporary copy of a killed run's dir that the wandb CLI accepts: the CLI refuses
// a log with a torn tail (it prints an error and writes no marker), so the copy holds the log cut
// at cut (the reader's GoodOffset, just after the last complete record) and a copy of the run's
// files/ subtree. The copy lives at <tmpRoot>/repair-*/<base name of dir>, so the CLI shows the
// same dir name. cleanup removes it. The original dir is never modified.
//
// files/ is copied, not hard-linked, because `wandb sync` rewrites config.yaml,
// wandb-summary.json and output.log there, and writing through a link would change the original.
// Only regular files and dirs are copied; symlinks (which may point anywhere) are skipped.
//
// The copy is read and written as as, the run dir's owner (docs/design.md
// "Threat model"): a link swapped in mid-copy reaches nothing the owner
// could not read. For another user than runner's own, the copy lives in the
// system temp dir (tmpRoot may be in runner's private state dir), under a
// root-owned 0711 parent, and belongs to as, who uploads it.
func Repair(as owner.ID, dir, logPath string, cut int64, tmpRoot string) (repaired string, cleanup func() error, err error) {
	if !as.Self() {
		tmpRoot = os.TempDir()
	}
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return "", nil, fmt.Errorf("repair %s: %w", filepath.Base(dir), err)
	}
	parent, err := os.MkdirTemp(tmpRoot, "repair-")
	if err != nil {
		return "", nil, fmt.Errorf("repair %s: %w", filepath.Base(dir), err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(parent)
		}
	}()

	repaired = filepath.Join(parent, filepath.Base(dir))
	if err := os.Mkdir(repaired, 0o700); err != nil {
		return "", nil, fmt.Errorf("repair %s: %w", filepath.Base(dir), err)
	}
	if !as.Self() {
		if err := errors.Join(os.Chmod(parent, 0o711), os.Chown(repaired, as.UID, as.GID)); err != nil {
			return "", nil, fmt.Errorf("repair %s: %w", filepath.Base(dir), err)
		}
	}
	if err := owner.Do(as, func() error { return repairCopy(dir, logPath, repaired, cut) }); err != nil {
		return "", nil, fmt.Errorf("repair %s: %w", filepath.Base(dir), err)
	}
	return repaired, func() error { return os.RemoveAll(parent) }, nil
}

// repairCopy fills repaired with the good part of the run at dir.
func repairCopy(dir, logPath, repaired string, cut int64) error {
	in, st, err := wandbfile.OpenRegular(logPath)
	if err != nil {
		return err
	}
	in.Close()
	if cut < wandbHeaderLen || cut > st.Size() {
		return fmt.Errorf("cut offset %d outside the log (%d bytes, header %d)", cut, st.Size(), wandbHeaderLen)
	}
	copied := filepath.Join(repaired, filepath.Base(logPath))
	info, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil {
		return err
	}
	if info.Err != nil {
		// Corrupt mid-file: the CLI stops at the bad chunk, so write every
		// record the reader could recover into a fresh log.
		if err := rewriteLog(logPath, copied); err != nil {
			return fmt.Errorf("rewrite log: %w", err)
		}
	} else if err := copyPrefix(logPath, copied, cut); err != nil {
		return fmt.Errorf("copy log: %w", err)
	}
	if err := closeRun(copied); err != nil {
		return err
	}
	if err := copyTree(filepath.Join(dir, "files"), filepath.Join(repaired, "files")); err != nil {
		return fmt.Errorf("copy files: %w", err)
	}
	return nil
}

// rewriteLog writes a fresh log at dst holding src's header and every
// well-formed record the reader recovers from it, in order, in the normal
// block layout.
func rewriteLog(src, dst string) error {
	hdr := make([]byte, wandbHeaderLen)
	in, _, err := wandbfile.OpenRegular(src)
	if err != nil {
		return err
	}
	_, err = io.ReadFull(in, hdr)
	in.Close()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := &countWriter{w: bufio.NewWriter(out)}
	_, werr := w.Write(hdr)
	_, rerr := wandbfile.ReadFile(src, wandbfile.Options{Record: func(p []byte) {
		if werr == nil {
			werr = wandbfile.AppendRecord(w, w.n, false, p)
		}
	}})
	if werr == nil {
		werr = w.w.(*bufio.Writer).Flush()
	}
	if cerr := out.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	return rerr
}

// countWriter counts what went through it: AppendRecord needs the offset.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// closeRun ends a killed run's log with the exit record (code 1) its process
// never wrote, as `wandb beta sync` does in memory: W&B shows the run as
// crashed, and legacy `wandb sync`, which writes the marker only after an exit
// record, marks it synced too.
func closeRun(logPath string) error {
	info, err := wandbfile.ReadFile(logPath, wandbfile.Options{})
	if err != nil {
		return err
	}
	if info.Finished {
		return nil
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if err := wandbfile.AppendRecord(f, info.Size, info.Shifted, wandbfile.ExitRecord(1)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MarkSynced writes the empty run-<id>.wandb.synced marker next to logPath, as the CLI would have:
// used after the repaired copy of a run was uploaded, so the original counts as synced. It is
// written as as, the dir's owner, in the dir opened without following a planted link, never
// through a link and never over a file that is there (docs/design.md "Threat model").
func MarkSynced(as owner.ID, logPath string) error {
	err := owner.Do(as, func() error {
		d, err := rundir.Open(filepath.Dir(logPath))
		if err != nil {
			return err
		}
		defer d.Close()
		return d.CreateMarker(filepath.Base(logPath) + ".synced")
	})
	if err != nil {
		return fmt.Errorf("mark synced: %w", err)
	}
	return nil
}

func copyPrefix(src, dst string, n int64) error {
	in, _, err := wandbfile.OpenRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(out, in, n); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies the regular files and dirs under src to dst. A missing src is not an error:
// a run killed early may have no files/ yet.
func copyTree(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			return copyFile(path, target)
		default:
			return nil // symlinks, sockets, devices
		}
	})
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Lstat(src); errors.Is(statErr, fs.ErrNotExist) {
			return nil
		}
	}
	return err
}

func copyFile(src, dst string) error {
	in, _, err := wandbfile.OpenRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
