// Package doctor checks what runner needs to work on this box: the wandb
// CLI and the API key (also checked by the daemon at start), the watched
// trees, inotify limits, NVML, the ledger's permissions and the daemon.
// `runner doctor` prints one line per check.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/units"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
)

// Level is how a check came out.
type Level string

const (
	OK   Level = "ok"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Check is one line of the report: what was checked, the outcome, and the
// fix when it is not ok.
type Check struct {
	Name   string `json:"name"`
	Level  Level  `json:"level"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Options is what to check.
type Options struct {
	Uploader *runsync.Uploader
	Roots    []string // the trees runner watches
	DB       *ledger.DB
	GPUs     string // inventory spec; "" skips the GPU check
	// DaemonGPUs: with a live daemon, report the GPUs it sampled (what jobs
	// get) instead of opening GPUs here; for a --gpus the user did not give.
	DaemonGPUs bool
	Heartbeat  time.Duration // the daemon is down after three missed beats
	Now        func() time.Time
	Logger     *slog.Logger
}

// UploadProblems is the daemon's start check (daemon.Daemon.CheckUploads):
// Uploads, each result logged at its level, and the failures joined into
// the reason uploads pause; "" when none failed, or when ctx ended first
// (checks stopped early found nothing).
func UploadProblems(ctx context.Context, u *runsync.Uploader, logger *slog.Logger) string {
	var problems []string
	checks := Uploads(ctx, u)
	if ctx.Err() != nil {
		return ""
	}
	for _, ch := range checks {
		if ch.Level == Warn {
			logger.Warn("upload check", "check", ch.Name, "problem", ch.Detail, "fix", ch.Fix)
		} else if ch.Level == Fail {
			logger.Error("uploads cannot work", "check", ch.Name, "problem", ch.Detail, "fix", ch.Fix)
			problems = append(problems, ch.Name+": "+ch.Detail)
		} else {
			logger.Info("upload check", "check", ch.Name, "result", ch.Detail)
		}
	}
	return strings.Join(problems, "; ")
}

// Uploads checks what every upload needs: the CLI and the key. The daemon
// runs it at start.
func Uploads(ctx context.Context, u *runsync.Uploader) []Check {
	var out []Check
	if version, exe, err := u.Check(ctx); err != nil {
		out = append(out, Check{"wandb CLI", Fail, err.Error(),
			"install the wandb CLI (pip install wandb) or point --wandb / RUNNER_WANDB at it"})
	} else {
		out = append(out, Check{"wandb CLI", OK, version + " at " + exe, ""})
	}
	if src, ok := u.KeySource(); !ok {
		out = append(out, Check{"API key", Fail, src,
			"put the key in /etc/runner/wandb-api-key (mode 600) or --api-key-file, or set WANDB_API_KEY"})
	} else {
		out = append(out, Check{"API key", OK, "from " + src, ""})
	}
	return append(out, Owners(u.AllowForeign))
}

// Owners checks that runner can act in each user's tree as that user
// (docs/design.md "Threat model"), and says what happens where it cannot.
func Owners(allowForeign bool) Check {
	ok, why := owner.CanSwitch()
	switch {
	case ok:
		return Check{"run dir owners", OK, "uploads, markers, repairs and gc run as each run dir's owner", ""}
	case allowForeign:
		return Check{"run dir owners", Warn, fmt.Sprintf("cannot switch user (%s): runs of other users are uploaded as uid %d (--allow-foreign-owners)", why, os.Geteuid()),
			"fine for one user's runs; for several users' trees run the daemon as root without dropping CAP_SETUID/CAP_SETGID"}
	}
	return Check{"run dir owners", Warn, fmt.Sprintf("cannot switch user (%s): runs other users own fail instead of uploading", why),
		"run the daemon as root (several users' trees), or pass --allow-foreign-owners to upload them as uid " + strconv.Itoa(os.Geteuid())}
}

// Run makes every check.
func Run(ctx context.Context, o Options) []Check {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var out []Check
	if o.Uploader != nil {
		out = append(out, Uploads(ctx, o.Uploader)...)
	}
	dirs := 0
	for _, r := range o.Roots {
		out = append(out, tree(r))
		dirs += countDirs(r, inotifyWatches()+1)
	}
	if len(o.Roots) > 0 {
		out = append(out, inotify(dirs))
	}
	if o.GPUs != "" {
		c, ok := Check{}, false
		if o.DaemonGPUs {
			c, ok = daemonGPUs(ctx, o.DB, o.Now())
		}
		if !ok {
			c = gpus(o.GPUs)
		}
		out = append(out, c)
	}
	if o.DB != nil {
		out = append(out, ledgerFiles(o.DB.Path()))
		out = append(out, daemon(ctx, o.DB, o.Now(), o.Heartbeat))
		if d, err := o.DB.DaemonState(ctx); err == nil && d != nil && d.Executor == ledger.ExecutorSlurm {
			out = append(out, slurm(ctx))
		}
	}
	return out
}

// slurm checks that the cluster answers where jobs go to Slurm.
func slurm(ctx context.Context) Check {
	msg, err := (&jobs.Slurm{}).Ping(ctx)
	if err != nil {
		return Check{"slurm", Fail, err.Error(),
			"install slurm-client, point SLURM_CONF at the cluster's slurm.conf, and check slurmctld (scontrol ping)"}
	}
	return Check{"slurm", OK, msg, ""}
}

// Failed reports whether any check failed.
func Failed(cs []Check) bool {
	for _, c := range cs {
		if c.Level == Fail {
			return true
		}
	}
	return false
}

// tree: markers are written in the run dirs, so the tree must be writable.
func tree(root string) Check {
	name := "tree " + root
	st, err := os.Stat(root)
	switch {
	case err != nil:
		return Check{name, Fail, err.Error(), "create it, or fix --watch"}
	case !st.IsDir():
		return Check{name, Fail, "not a directory", "fix --watch"}
	case syscall.Access(root, 2 /* W_OK */) != nil:
		return Check{name, Fail, fmt.Sprintf("not writable by uid %d (markers are written in run dirs)", os.Geteuid()),
			"run runner as the tree's owner, or give it write access"}
	}
	return Check{name, OK, "writable", ""}
}

// countDirs counts the dirs the watcher would watch under root, up to
// limit (it skips what discovery skips).
func countDirs(root string, limit int) int {
	n := 0
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case ".git", "node_modules", "__pycache__", ".cache":
			return filepath.SkipDir
		}
		n++
		if n >= limit {
			return errors.New("enough")
		}
		return nil
	})
	return n
}

func inotifyWatches() int {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return 1 << 20
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1 << 20
	}
	return n
}

// inotify: the watcher needs one watch per dir; past the limit it falls
// back to its periodic rescan only.
func inotify(dirs int) Check {
	limit := inotifyWatches()
	detail := fmt.Sprintf("%d dirs to watch, fs.inotify.max_user_watches = %d", dirs, limit)
	fix := fmt.Sprintf("sysctl -w fs.inotify.max_user_watches=%d (and in /etc/sysctl.d)", max(2*dirs, 524288))
	switch {
	case dirs > limit:
		return Check{"inotify", Fail, detail, fix}
	case dirs > limit*9/10:
		return Check{"inotify", Warn, detail + ": close to the limit", fix}
	}
	return Check{"inotify", OK, detail, ""}
}

// daemonGPUs is the GPU line from a live daemon's last sample: with a
// daemon running, its inventory (fake GPUs, --gpus none) is what jobs get,
// and doctor's own look at the driver would contradict it. ok is false
// when no live daemon has sampled.
func daemonGPUs(ctx context.Context, db *ledger.DB, now time.Time) (Check, bool) {
	if db == nil {
		return Check{}, false
	}
	d, err := db.DaemonState(ctx)
	if err != nil || !d.Live(now) {
		return Check{}, false
	}
	snap, at, ok, err := status.StoredGPUs(ctx, db)
	if err != nil || !ok {
		return Check{}, false
	}
	seen := fmt.Sprintf("as the running daemon sees them, sampled %s ago", now.Sub(at).Round(time.Second))
	if len(snap.GPUs) == 0 {
		reason := "none found"
		if snap.Reason != nil {
			reason = *snap.Reason
		}
		return Check{"GPUs", Warn, reason + " (" + seen + "): GPU jobs wait, uploads are not affected",
			"install the NVIDIA driver (nvidia-smi must work for runner's user), or see the daemon's --gpus"}, true
	}
	return Check{"GPUs", OK, fmt.Sprintf("%s (%s, %s)", units.Count(len(snap.GPUs), "GPU"), snap.Inventory, seen), ""}, true
}

func gpus(spec string) Check {
	// The inventory's own warning ("GPU jobs disabled") is this check's line.
	inv, err := jobs.OpenInventory(spec, slog.New(slog.DiscardHandler))
	if err != nil {
		return Check{"GPUs", Fail, err.Error(), "fix --gpus (auto, nvml, none, fake:N)"}
	}
	defer inv.Close()
	devs, err := inv.Devices(context.Background())
	if err != nil || len(devs) == 0 {
		reason := "none found"
		if err != nil {
			reason = err.Error()
		}
		return Check{"GPUs", Warn, reason + ": GPU jobs wait, uploads are not affected",
			"install the NVIDIA driver (nvidia-smi must work for runner's user)"}
	}
	return Check{"GPUs", OK, fmt.Sprintf("%d (%s)", len(devs), inv.Name()), ""}
}

// ledgerFiles: the ledger, its -wal and -shm and its dir must not be
// writable by other users.
func ledgerFiles(path string) Check {
	for _, p := range []string{filepath.Dir(path), path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Check{"ledger", Fail, err.Error(), ""}
		}
		if st.Mode().Perm()&0o002 != 0 {
			return Check{"ledger", Fail, fmt.Sprintf("%s is writable by every user (mode %s)", p, st.Mode().Perm()),
				"chmod o-w " + p}
		}
	}
	return Check{"ledger", OK, path, ""}
}

func daemon(ctx context.Context, db *ledger.DB, now time.Time, beat time.Duration) Check {
	d, err := db.DaemonState(ctx)
	switch {
	case err != nil:
		return Check{"daemon", Fail, err.Error(), ""}
	case d == nil:
		return Check{"daemon", Warn, "never started with this ledger", "systemctl enable --now runner (or runner daemon --watch DIR)"}
	case !d.Up || now.Sub(d.HeartbeatAt) >= 3*beat:
		return Check{"daemon", Warn, "down since " + d.HeartbeatAt.Format(time.RFC3339), "systemctl start runner; journalctl -u runner says why it stopped"}
	}
	return Check{"daemon", OK, fmt.Sprintf("up, pid %d on %s", d.PID, d.Host), ""}
}
