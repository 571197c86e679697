package sync

import (
	"os"
	"path/filepath"
	"strconv"
)

// HeldOpen reports whether any process visible in /proc has path open. It is
// the last guard of the settle rule: a run that has not grown for --settle but
// whose writer is alive (a long evaluation, a paused job) is not finished.
// Processes of other users are invisible without privileges; that is the
// "no process that runner can see" of the readiness rule (docs/design.md "Readiness").
func HeldOpen(path string) bool {
	want, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && target == want {
				return true
			}
		}
	}
	return false
}
