package jobs

// Jobs as transient systemd services (docs/design.md "Jobs as systemd
// units"). Under systemd a job must not live in the daemon's cgroup: it would
// share the service's sandbox (ProtectSystem, PrivateTmp, NoNewPrivileges),
// have no memory limit of its own, and die with a restart unless the service
// used KillMode=process. A transient *service* (not a scope, which keeps the
// caller's sandbox) in runner-jobs.slice is outside all of that.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultSlice is the slice job units go into.
const DefaultSlice = "runner-jobs.slice"

// SpecFileFlag is the `_supervise` flag naming the spec file a unit's
// supervisor reads (and removes): a unit's stdin cannot be the daemon's pipe.
const SpecFileFlag = "spec-file"

// unitStartWait bounds one systemd-run call.
const unitStartWait = 30 * time.Second

// Units starts job supervisors as transient systemd services with
// systemd-run. The zero value is not usable: SystemdRun must be set.
type Units struct {
	SystemdRun string // path of systemd-run
	Slice      string // default DefaultSlice
}

// UnitOptions are a job's unit settings beyond its Spec.
type UnitOptions struct {
	Attempt int    // 1 for the first launch; a retry gets a unit of its own
	Name    string // the job's --name, for the unit's description
	MemMax  uint64 // MemoryMax= in bytes; 0: none
	CPUs    int    // submit --cpus given explicitly: CPUQuota=N×100%; 0: none
}

// UnitName is the unit of a job's attempt: runner-job-<id>.service for the
// first, runner-job-<id>-<attempt>.service after (the previous attempt's
// unit may not be gone yet when a retry starts).
func UnitName(id int64, attempt int) string {
	name := "runner-job-" + strconv.FormatInt(id, 10)
	if attempt > 1 {
		name += "-" + strconv.Itoa(attempt)
	}
	return name + ".service"
}

// Args is the systemd-run command line that starts s's supervisor, which
// reads its spec from specPath.
func (u Units) Args(self string, s Spec, o UnitOptions, specPath string) []string {
	slice := u.Slice
	if slice == "" {
		slice = DefaultSlice
	}
	desc := "runner job " + strconv.FormatInt(s.ID, 10)
	if o.Name != "" {
		desc += " (" + o.Name + ")"
	}
	args := []string{u.SystemdRun,
		"--unit=" + UnitName(s.ID, o.Attempt),
		"--slice=" + slice,
		"--description=" + desc,
		"--collect", "--quiet",
		// SIGTERM to the supervisor only: it stops the job's group with
		// the grace and records the end; systemd kills what is left after.
		"--property=KillMode=mixed",
		"--property=TimeoutStopSec=" + strconv.FormatInt(int64((s.grace()+10*time.Second)/time.Second), 10) + "s",
	}
	if o.MemMax > 0 {
		args = append(args, "--property=MemoryMax="+strconv.FormatUint(o.MemMax, 10))
	}
	if o.CPUs > 0 {
		args = append(args, "--property=CPUQuota="+strconv.Itoa(o.CPUs*100)+"%")
	}
	return append(args, "--", self, SuperviseCommand, "--job", strconv.FormatInt(s.ID, 10), "--"+SpecFileFlag, specPath)
}

// SpecPath is where Launch leaves job id's spec for its unit's supervisor:
// beside its log, in a 0700 directory, as the spec carries its environment.
func specPath(logPath string) string { return filepath.Join(filepath.Dir(logPath), "spec.json") }

// Launch starts s's supervisor as a transient service and returns its pid
// once it has recorded the job's start, as LaunchWith does.
func (u Units) Launch(ctx context.Context, self string, s Spec, o UnitOptions) (int, error) {
	if err := prepareLaunch(&s); err != nil {
		return 0, err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("launch job %d: encode spec: %w", s.ID, err)
	}
	path := specPath(s.LogPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("launch job %d: %w", s.ID, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return 0, fmt.Errorf("launch job %d: write spec: %w", s.ID, err)
	}
	args := u.Args(self, s, o, path)
	cctx, cancel := context.WithTimeout(ctx, unitStartWait)
	defer cancel()
	cmd := exec.CommandContext(cctx, args[0], args[1:]...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(path)
		return 0, fmt.Errorf("launch job %d: %s: %w: %s", s.ID, filepath.Base(u.SystemdRun), err, strings.TrimSpace(string(out)))
	}
	return waitLaunched(s, 0, nil, func() error { return nil })
}

// readSpecFile reads and removes the spec a unit's supervisor was given.
func readSpecFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove job spec: %w", err)
	}
	return b, nil
}

// Job unit modes of `runner daemon --job-units`.
const (
	UnitsAuto    = "auto"    // units when the daemon is a root systemd service
	UnitsSystemd = "systemd" // always units; systemd-run must be there
	UnitsOff     = "off"     // supervisors are the daemon's children
)

// ErrBadUnitsMode: --job-units is not one of the modes.
var ErrBadUnitsMode = errors.New("want auto, systemd or off")

// UnitsFor resolves a --job-units mode: nil means jobs start as the
// daemon's children. auto picks units when the daemon runs as root under
// systemd as a notify service (INVOCATION_ID and NOTIFY_SOCKET set, as the
// shipped unit does) and systemd-run is on PATH; a daemon in a terminal, even
// one inside a systemd user session, does not qualify.
func UnitsFor(mode string, getenv func(string) string, uid int, lookPath func(string) (string, error)) (*Units, error) {
	switch mode {
	case UnitsOff:
		return nil, nil
	case UnitsSystemd:
		p, err := lookPath("systemd-run")
		if err != nil {
			return nil, fmt.Errorf("--job-units systemd: %w", err)
		}
		return &Units{SystemdRun: p, Slice: DefaultSlice}, nil
	case UnitsAuto, "":
		if getenv("INVOCATION_ID") == "" || getenv("NOTIFY_SOCKET") == "" || uid != 0 {
			return nil, nil
		}
		p, err := lookPath("systemd-run")
		if err != nil {
			return nil, nil
		}
		return &Units{SystemdRun: p, Slice: DefaultSlice}, nil
	}
	return nil, fmt.Errorf("--job-units %q: %w", mode, ErrBadUnitsMode)
}
