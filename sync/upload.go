package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/internal/owner"
	"github.com/runnerhq/runner/internal/rundir"
	"github.com/runnerhq/runner/internal/wandbout"
	"github.com/runnerhq/runner/ledger"
)

// Defaults for the zero Uploader fields.
const (
	DefaultWandb         = "wandb"
	DefaultUploadTimeout = 30 * time.Minute
	DefaultUploadGrace   = 10 * time.Second
	// DefaultUploadPerRun is what each run past the first adds to a
	// batched call's timeout.
	DefaultUploadPerRun = 2 * time.Minute
)

const (
	uploadDrainBounds = time.Second
)

var (
	// ErrWandbNotFound means the wandb executable is missing or cannot be run; UploadResult.Pause
	// is set because no upload can succeed until the operator fixes the configuration.
	ErrWandbNotFound = errors.New("wandb CLI not found")
	// ErrUploadTimeout means runner killed wandb sync after Uploader.Timeout.
	ErrUploadTimeout = wandbout.ErrTimeout
	// ErrUploadDirMissing means a run dir passed to Upload does not exist (the ledger's `missing`).
	ErrUploadDirMissing = errors.New("run dir missing")
	// ErrMarkerNotWritten means the CLI uploaded a run but could not write its .synced marker
	// (the dir belongs to another user, or is read-only). UploadResult.Final is set: a retry
	// would upload the run again.
	ErrMarkerNotWritten = wandbout.ErrMarkerNotWritten
	// ErrSkippedSynced means the CLI skipped a run as already synced (a
	// marker runner did not see before the call): not an upload.
	ErrSkippedSynced = wandbout.ErrSkippedSynced
	// ErrMixedOwners means one call was given dirs of several owners.
	ErrMixedOwners = errors.New("run dirs of several owners in one call")
)

// Syncer uploads the dirs of one run; the engine depends on this, tests substitute it.
type Syncer interface {
	Upload(ctx context.Context, dirs []string) UploadResult
}

var _ Syncer = (*Uploader)(nil)

// Uploader runs `wandb sync` as a child process and decides from its exit code, its output and the
// `.synced` markers whether the upload worked, because the CLI exits 0 even when it did not
// (docs/design.md "Upload outcomes").
type Uploader struct {
	// Wandb is the executable: a path, or a name looked up in PATH. Default "wandb".
	Wandb string
	// Env is the base environment of the child (the daemon's os.Environ(); nil means
	// os.Environ()). WANDB_MODE, WANDB_API_KEY, WANDB_DIR and TERM in it are replaced.
	Env []string
	// APIKey, when set, is called for every upload (so a rotated key file is picked up) and its
	// result, trimmed of surrounding whitespace, replaces any WANDB_API_KEY in Env.
	APIKey func() (string, error)
	// KeyFrom says where APIKey reads from ("file /etc/runner/wandb-api-key"), for people.
	KeyFrom string
	// Entity and Project override the run's target (`-e`, `-p`); `wandb sync` ignores
	// WANDB_ENTITY/WANDB_PROJECT.
	Entity, Project string
	// Timeout bounds one call (the CLI retries for ~16 min at run creation and for days on the
	// upload stream). Then the process group gets SIGTERM, Grace later SIGKILL.
	Timeout time.Duration
	Grace   time.Duration
	// PerRun is added to Timeout for each run past the first in one call.
	PerRun time.Duration
	// WorkDir is the child's cwd and WANDB_DIR, where the CLI writes its debug logs; created if
	// missing. Empty means a fresh temporary dir per call, removed afterwards.
	WorkDir string
	// AllowForeign uploads dirs owned by other users as runner's own user
	// when it cannot switch to theirs (no CAP_SETUID); without it such dirs
	// fail with ErrForeignOwner.
	AllowForeign bool
	// Self is the runner executable that runs the CLI as a dir's owner
	// (owner.HelperArg); "" is os.Executable().
	Self   string
	Logger *slog.Logger
}

// UploadResult is the outcome of one `wandb sync` call.
type UploadResult struct {
	Outcome string // ledger.Outcome{Success,Auth,Transient,Other}
	Pause   bool   // stop uploads until fixed: bad credentials, unusable wandb executable
	// PauseScope is what the pause holds (Uploader.Scopes): the key's scope
	// for a credential problem, the CLI's for a missing executable.
	PauseScope  string
	PauseConfig string        // what PauseScope stands for, for people
	Final       bool          // never retry on its own: the run went up but could not be marked (ErrMarkerNotWritten)
	URL         string        // the last run URL the CLI printed ("" if none)
	ExitCode    *int          // nil if the CLI was not started or was killed by a signal
	Output      string        // last 4 KiB of combined stdout+stderr, secrets redacted
	Err         error         // nil on success; one line naming the run dir(s) and the cause
	Duration    time.Duration // wall time of the call
	// Runs judges each dir of a call of several dirs on its own
	// (docs/design.md "Batched uploads"); nil for a call of one dir.
	Runs map[string]RunResult
}

// RunResult is one dir's share of a batched call.
type RunResult struct {
	// Verified: every log of the dir got its marker during the call, the CLI
	// said it finished syncing it, and no line about it reports an error.
	Verified bool
	// Err is an error the CLI reported about this run by name (its label
	// or, for the legacy CLI, its URL); Outcome classifies it. A dir that is
	// neither verified nor named by an error was let down by the call.
	Err     error
	Outcome string
	// Final: the run went up but its marker could not be written
	// (ErrMarkerNotWritten); never retried on its own.
	Final bool
	URL   string // the run's URL as the CLI printed it
}

// Upload syncs the dirs of ONE run id (oldest first) in one `wandb sync` call.
//
// Success needs exit 0, no `wandb: ERROR` or "Fatal error while uploading data" line, and a
// `run-<id>.wandb.synced` marker that appeared during the call for each log. A marker that existed
// before the call counts as done (the CLI skips such runs; the engine never passes them). A marker
// that appeared during a failed call is removed again: the data behind it is partial, and left in
// place it would make the CLI skip the retry.
func (u *Uploader) Upload(ctx context.Context, dirs []string) UploadResult {
	start := time.Now()
	log := u.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := u.upload(ctx, log, dirs)
	if res.Pause {
		// A credential problem holds everyone with this key; a CLI that
		// cannot run holds only processes configured like this one
		// (docs/design.md "Pauses").
		key, cli, keyDesc, cliDesc := u.scopes()
		res.PauseScope, res.PauseConfig = key, keyDesc
		if errors.Is(res.Err, ErrWandbNotFound) {
			res.PauseScope, res.PauseConfig = cli, cliDesc
		}
	}
	res.Duration = time.Since(start)
	attrs := []any{"dirs", dirs, "outcome", res.Outcome, "duration", res.Duration.Round(time.Millisecond)}
	if res.ExitCode != nil {
		attrs = append(attrs, "exit", *res.ExitCode)
	}
	// Debug only: the engine logs the one line per upload outcome
	// (docs/design.md "Upload outcomes").
	if res.Err != nil {
		log.Debug("wandb sync failed", append(attrs, "pause", res.Pause, "err", res.Err)...)
	} else {
		log.Debug("wandb sync done", append(attrs, "url", res.URL)...)
	}
	return res
}

// checkTimeout bounds `wandb --version`: the CLI imports a lot of Python.
const checkTimeout = 20 * time.Second

// Check runs `wandb --version` the way uploads run the CLI (same
// executable, environment and working dir, bounded in time) and returns
// what it printed and the path it ran.
func (u *Uploader) Check(ctx context.Context) (version, exe string, err error) {
	wandb := u.Wandb
	if wandb == "" {
		wandb = DefaultWandb
	}
	exe, err = exec.LookPath(wandb)
	if err != nil {
		return "", wandb, wandbNotFound(wandb, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "--version")
	base := u.Env
	if base == nil {
		base = os.Environ()
	}
	dir, err := os.MkdirTemp("", "runner-wandb-")
	if err != nil {
		return "", exe, err
	}
	defer os.RemoveAll(dir)
	cmd.Env, cmd.Dir = uploadEnv(base, "", dir), dir // the key is not needed to print a version
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if parent.Err() != nil {
		return "", exe, fmt.Errorf("%s --version: %w", exe, parent.Err())
	}
	if ctx.Err() != nil {
		return "", exe, fmt.Errorf("%s --version did not answer within %s", exe, checkTimeout)
	}
	if err != nil {
		return "", exe, fmt.Errorf("%s --version: %v: %s", exe, err, wandbout.Shorten(string(out)))
	}
	return strings.TrimSpace(string(out)), exe, nil
}

// KeySource says where uploads get the API key, never the key itself:
// ok is false when there is none.
func (u *Uploader) KeySource() (source string, ok bool) {
	if u.APIKey != nil {
		k, err := u.APIKey()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", u.KeyFrom, err), false
		case strings.TrimSpace(k) == "":
			return u.KeyFrom + " is empty", false
		}
		return u.KeyFrom, true
	}
	base := u.Env
	if base == nil {
		base = os.Environ()
	}
	if envValue(base, "WANDB_API_KEY") != "" {
		return "WANDB_API_KEY in the environment", true
	}
	return "no --api-key-file and no WANDB_API_KEY", false
}

// Scopes are the pause scopes of uploads through u: its API key's and its
// CLI's (path as found on PATH, and base URL). A pause recorded under one
// of them holds u (docs/design.md "Pauses").
func (u *Uploader) Scopes() []string {
	key, cli, _, _ := u.scopes()
	return []string{key, cli}
}

func (u *Uploader) scopes() (key, cli, keyDesc, cliDesc string) {
	base := u.Env
	if base == nil {
		base = os.Environ()
	}
	k := envValue(base, "WANDB_API_KEY")
	if u.APIKey != nil {
		if v, err := u.APIKey(); err == nil {
			k = strings.TrimSpace(v)
		}
	}
	key, keyDesc = "key:none", "no API key"
	if k != "" {
		sum := sha256.Sum256([]byte(k))
		key = "key:" + hex.EncodeToString(sum[:6])
		keyDesc = "API key " + key[4:] + " (a hash)"
	}
	wandb := u.Wandb
	if wandb == "" {
		wandb = DefaultWandb
	}
	exe, err := exec.LookPath(wandb)
	if err != nil {
		exe = wandb + " (not found)"
	}
	url := envValue(base, "WANDB_BASE_URL")
	if url == "" {
		url = "https://api.wandb.ai"
	}
	sum := sha256.Sum256([]byte(exe + "\x00" + url))
	return key, "cli:" + hex.EncodeToString(sum[:6]), keyDesc, "wandb CLI " + exe + " for " + url
}

func (u *Uploader) upload(ctx context.Context, log *slog.Logger, dirs []string) UploadResult {
	label := uploadLabel(dirs)
	fail := func(outcome string, pause bool, err error) UploadResult {
		return UploadResult{Outcome: outcome, Pause: pause, Err: fmt.Errorf("upload %s: %w", label, err)}
	}
	if len(dirs) == 0 {
		return UploadResult{Outcome: ledger.OutcomeOther, Err: errors.New("upload: no run dirs given")}
	}
	if err := ctx.Err(); err != nil {
		return fail(ledger.OutcomeTransient, false, fmt.Errorf("cancelled: %w", err))
	}

	abs := make([]string, len(dirs))
	var logs []string
	var as owner.ID
	for i, d := range dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return fail(ledger.OutcomeOther, false, err)
		}
		abs[i] = a
		id, err := dirOwner(a)
		if err != nil {
			res := fail(ledger.OutcomeOther, false, err)
			res.Final = errors.Is(err, rundir.ErrPlantedLink)
			return res
		}
		if i == 0 {
			as = id
		} else if id.UID != as.UID {
			return fail(ledger.OutcomeOther, false, fmt.Errorf("%w: %s and %s", ErrMixedOwners, as, id))
		}
		found, err := runLogs(a)
		if err != nil {
			return fail(ledger.OutcomeOther, false, err)
		}
		logs = append(logs, found...)
	}
	as, err := owner.For(as.UID, as.GID, u.AllowForeign)
	if err != nil {
		res := fail(ledger.OutcomeOther, false, err)
		res.Final = true
		return res
	}
	self := as.Self()
	premarked := make(map[string]bool, len(logs))
	var bad []string
	for _, l := range logs {
		ok, err := rundir.Marker(l + ".synced")
		premarked[l] = ok
		if err != nil && errors.Is(err, rundir.ErrNotMarker) {
			// Not a marker (a symlink, a FIFO, a hard link): gone before
			// the call, as the owner, so the CLI writes a real one instead
			// of writing through it.
			log.Warn("removing a .synced that is not a marker", "path", l+".synced", "err", err)
			bad = append(bad, l)
		}
	}
	removeMarkers(log, as, bad)

	wandb := u.Wandb
	if wandb == "" {
		wandb = DefaultWandb
	}
	exe, err := exec.LookPath(wandb)
	if err != nil {
		return fail(ledger.OutcomeOther, true, wandbNotFound(wandb, err))
	}

	base := u.Env
	if base == nil {
		base = os.Environ()
	}
	key := envValue(base, "WANDB_API_KEY")
	if u.APIKey != nil {
		k, err := u.APIKey()
		if err != nil {
			return fail(ledger.OutcomeAuth, true, fmt.Errorf("read API key: %w", err))
		}
		key = strings.TrimSpace(k)
	}

	workDir := u.WorkDir
	if !self {
		// The CLI, as the owner, cannot write runner's own work dir.
		tmp, err := ownedTempDir(as)
		if err != nil {
			return fail(ledger.OutcomeTransient, false, fmt.Errorf("create wandb work dir for %s: %w", as, err))
		}
		defer os.RemoveAll(tmp)
		workDir = filepath.Join(tmp, "w")
	} else if workDir == "" {
		tmp, err := os.MkdirTemp("", "runner-wandb-")
		if err != nil {
			return fail(ledger.OutcomeTransient, false, fmt.Errorf("create wandb work dir: %w", err))
		}
		defer os.RemoveAll(tmp)
		workDir = tmp
	} else if err := os.MkdirAll(workDir, 0o700); err != nil {
		return fail(ledger.OutcomeTransient, false, fmt.Errorf("create wandb work dir: %w", err))
	}

	// Always --include-synced: runner decides what goes up, and a marker
	// that appears in the dir (planted, or a hand-run sync) must not make
	// the CLI skip a run runner then counts as uploaded. A fragment synced
	// before goes up again with the new one (same run id) the same way.
	args := []string{"sync", "--include-synced"}
	if u.Entity != "" {
		args = append(args, "-e", u.Entity)
	}
	if u.Project != "" {
		args = append(args, "-p", u.Project)
	}
	// Absolute paths: the child runs in workDir, and a path can never be mistaken for a flag.
	args = append(args, abs...)

	argv := append([]string{exe}, args...)
	if !self {
		me := u.Self
		if me == "" {
			if me, err = os.Executable(); err != nil {
				return fail(ledger.OutcomeOther, false, fmt.Errorf("find the runner executable: %w", err))
			}
		}
		argv = owner.Command(me, as, exe, args)
	}
	env := uploadEnv(base, key, workDir)
	if !self {
		// runner's own HOME (root's) is not the owner's to write: the CLI's
		// config and caches live in the call's work dir.
		env = append(env, "HOME="+workDir, "WANDB_CONFIG_DIR="+filepath.Join(workDir, "config"),
			"WANDB_CACHE_DIR="+filepath.Join(workDir, "cache"), "WANDB_DATA_DIR="+filepath.Join(workDir, "data"))
	}
	scan := wandbout.NewScan([]string{key}, nil)
	run := u.run(ctx, log, argv, env, workDir, scan, len(logs))
	res := UploadResult{ExitCode: run.Code, Output: scan.Output(), URL: scan.URL()}
	if run.startErr != nil {
		res.Outcome, res.Pause = ledger.OutcomeOther, true
		res.Err = fmt.Errorf("upload %s: %w", label, wandbNotFound(wandb, run.startErr))
		return res
	}

	var appeared, missing, unconfirmed []string
	for _, l := range logs {
		switch {
		case premarked[l]:
			// Not ours to remove: it was there before the call.
			if !scan.Finished(logRunID(l)) {
				unconfirmed = append(unconfirmed, l)
			}
		case validMarker(log, l):
			appeared = append(appeared, l)
			// A marker proves nothing by itself: only this call's own line
			// for the run ("Finished syncing", legacy "... done.") does
			// (docs/design.md "Upload outcomes").
			if !scan.Finished(logRunID(l)) {
				unconfirmed = append(unconfirmed, l)
			}
		default:
			missing = append(missing, l)
		}
	}
	if len(dirs) > 1 {
		res.Runs = judgeRuns(abs, dirs, scan, premarked)
		// A marker the CLI wrote for a run it did not confirm is removed,
		// as after a failed call; markers of verified runs stay.
		var unconfirmed []string
		for _, l := range appeared {
			if r := res.Runs[dirOfLog(abs, dirs, l)]; !r.Verified {
				unconfirmed = append(unconfirmed, l)
			}
		}
		removeMarkers(log, as, unconfirmed)
		appeared = nil
	}
	if run.Stopped == "" && run.Code != nil && *run.Code == 0 &&
		len(missing) == 0 && len(unconfirmed) == 0 && scan.Clean() {
		res.Outcome = ledger.OutcomeSuccess
		return res
	}

	removeMarkers(log, as, appeared)
	outcome, pause, cause := classifyUpload(run, scan, append(missing, unconfirmed...))
	res.Outcome, res.Pause = outcome, pause
	if errors.Is(cause, ErrMarkerNotWritten) {
		res.Final = true
		cause = markerFix(cause, missing)
	}
	res.Err = fmt.Errorf("upload %s: %w", label, cause)
	return res
}

// removeMarkers removes the markers of logs whose upload is not confirmed:
// the data behind them is partial, and left in place they would make the
// CLI skip the retry.
// They are removed as the dir's owner, by name in the opened dir.
func removeMarkers(log *slog.Logger, as owner.ID, logs []string) {
	for _, l := range logs {
		err := owner.Do(as, func() error {
			d, err := rundir.Open(filepath.Dir(l))
			if err != nil {
				return err
			}
			defer d.Close()
			return d.Remove(filepath.Base(l) + ".synced")
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove marker of failed upload", "path", l+".synced", "err", err)
		}
	}
}

// validMarker reports whether log's .synced marker is one (rundir.Marker):
// a symlink, FIFO or hard link by that name is not, and is logged by name.
func validMarker(log *slog.Logger, l string) bool {
	ok, err := rundir.Marker(l + ".synced")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("ignored .synced marker", "path", l+".synced", "err", err)
	}
	return ok
}

// dirOwner is the owner of the run dir at path, opened without following a
// link a user planted.
func dirOwner(path string) (owner.ID, error) {
	d, err := rundir.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return owner.ID{}, fmt.Errorf("%w: %s", ErrUploadDirMissing, path)
	}
	if err != nil {
		return owner.ID{}, err
	}
	defer d.Close()
	return owner.ID{UID: d.UID, GID: d.GID}, nil
}

// ownedTempDir makes <tmp>/runner-wandb-*/w for id: the parent root's and
// 0711 (id can reach w but not rename it), w id's and 0700. The parent is
// returned; removing it removes both.
func ownedTempDir(id owner.ID) (string, error) {
	parent, err := os.MkdirTemp("", "runner-wandb-")
	if err != nil {
		return "", err
	}
	w := filepath.Join(parent, "w")
	err = errors.Join(os.Chmod(parent, 0o711), os.Mkdir(w, 0o700), os.Chown(w, id.UID, id.GID))
	if err != nil {
		os.RemoveAll(parent)
		return "", err
	}
	return parent, nil
}

// uploadRun is what happened to the child process.
type uploadRun struct {
	startErr error
	wandbout.Exit
}

// run starts the child in its own process group, feeds its output to scan, and stops the whole
// group on timeout or cancellation. The output goes through one pipe we own (not exec's copying
// goroutines) so that the child's exit is seen even while a grandchild still holds the pipe.
func (u *Uploader) run(ctx context.Context, log *slog.Logger, argv, env []string, dir string, scan *wandbout.Scan, logs int) uploadRun {
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = DefaultUploadTimeout
	}
	// A call is never killed for carrying many runs: each log past the
	// first adds PerRun to the budget.
	perRun := u.PerRun
	if perRun <= 0 {
		perRun = DefaultUploadPerRun
	}
	timeout += time.Duration(max(logs-1, 0)) * perRun
	grace := u.Grace
	if grace <= 0 {
		grace = DefaultUploadGrace
	}

	r, w, err := os.Pipe()
	if err != nil {
		return uploadRun{startErr: fmt.Errorf("create output pipe: %w", err)}
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = w
	cmd.Stderr = w
	// Pdeathsig: if the daemon dies without stopping it (a crash, SIGKILL
	// of the daemon alone), the CLI dies too, instead
	// of uploading on while the next daemon retries the run when its lease
	// expires.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return uploadRun{startErr: err}
	}
	pgid := cmd.Process.Pid
	log.Debug("wandb sync started", "pid", pgid, "argv", argv)

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		scan.Consume(r)
	}()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_ = cmd.Wait() // the outcome is read from cmd.ProcessState
	}()

	res := uploadRun{Exit: wandbout.Exit{Timeout: timeout}}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		res.Stopped = "timed out after " + timeout.String()
	case <-ctx.Done():
		res.Stopped = "cancelled"
		res.CtxErr = ctx.Err()
	}
	if res.Stopped != "" {
		log.Warn("stopping wandb sync", "pid", pgid, "reason", res.Stopped)
		stopGroup(pgid, exited, grace)
	}

	// Grandchildren left in the group may still hold the pipe: give them Grace, then kill them.
	// (While a member holds the pipe the group exists, so its id has not been reused.)
	drain := time.NewTimer(grace)
	defer drain.Stop()
	select {
	case <-readDone:
	case <-drain.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-readDone:
		case <-time.After(uploadDrainBounds):
			r.Close() // someone outside the group holds the pipe; stop reading
			<-readDone
		}
	}

	if st := cmd.ProcessState; st != nil {
		if st.Exited() {
			code := st.ExitCode()
			res.Code = &code
		} else if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
	}
	return res
}

// stopGroup sends SIGTERM to the process group, waits up to grace for the leader, then SIGKILLs
// the group so that no grandchild survives a leader that died from the SIGTERM. The leader is
// reaped before the SIGKILL; the group id is only reused once the group is empty, and kill(2)
// of an empty group fails harmlessly with ESRCH.
func stopGroup(pgid int, exited <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
}

func wandbNotFound(name string, err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	return fmt.Errorf("%w: %s: %v; set --wandb or RUNNER_WANDB", ErrWandbNotFound, name, err)
}

// runLogs returns the run-*.wandb files in dir. Names are matched by hand instead of with
// filepath.Glob, because dir may contain glob metacharacters.
func runLogs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrUploadDirMissing, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read run dir: %w", err)
	}
	var logs []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "run-") && strings.HasSuffix(n, ".wandb") && e.Type().IsRegular() {
			logs = append(logs, filepath.Join(dir, n))
		}
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("no run-*.wandb file in %s", dir)
	}
	return logs, nil
}

func uploadLabel(dirs []string) string {
	names := make([]string, len(dirs))
	for i, d := range dirs {
		names[i] = filepath.Base(d)
	}
	return strings.Join(names, ", ")
}

func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val // the last one wins, as in exec
		}
	}
	return v
}

// uploadEnv is base without the variables runner controls, plus runner's values for them.
func uploadEnv(base []string, key, workDir string) []string {
	env := make([]string, 0, len(base)+4)
	for _, kv := range base {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "TERM":
			continue
		// These hide the CLI's ERROR lines (so a failed upload would look
		// like a success) or drop the console log from the upload.
		case "WANDB_SILENT", "WANDB_QUIET", "WANDB_SHOW_INFO", "WANDB_SHOW_WARNINGS", "WANDB_SHOW_ERRORS", "WANDB_CONSOLE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "WANDB_MODE=online", "WANDB_DIR="+workDir, "TERM=dumb")
	if key != "" {
		env = append(env, "WANDB_API_KEY="+key)
	}
	return env
}

// classifyUpload is wandbout.Classify with the ledger's outcome.
func classifyUpload(run uploadRun, s *wandbout.Scan, missing []string) (outcome string, pause bool, cause error) {
	o, pause, cause := wandbout.Classify(run.Exit, s, missing)
	return ledgerOutcome(o), pause, cause
}

// ledgerOutcome is the ledger's name of a wandbout outcome.
func ledgerOutcome(o wandbout.Outcome) string {
	switch o {
	case wandbout.OutcomeAuth:
		return ledger.OutcomeAuth
	case wandbout.OutcomeTransient:
		return ledger.OutcomeTransient
	}
	return ledger.OutcomeOther
}

// judgeRuns decides each dir of a batched call on its own (docs/design.md
// "Batched uploads"): verified when every one of its logs got its marker
// during the call, the CLI said it finished the run, and no line about the
// run reports an error. abs are the absolute dirs in dirs' order.
func judgeRuns(abs, dirs []string, scan *wandbout.Scan, premarked map[string]bool) map[string]RunResult {
	out := make(map[string]RunResult, len(dirs))
	for i, a := range abs {
		logs, err := runLogs(a)
		if err != nil {
			out[dirs[i]] = RunResult{Err: err, Outcome: ledger.OutcomeOther}
			continue
		}
		r := RunResult{Verified: true}
		for _, l := range logs {
			id := logRunID(l)
			if denied := scan.MarkerDenied(); denied != "" && strings.Contains(denied, l+".synced") {
				err := fmt.Errorf("%w: %s", ErrMarkerNotWritten, wandbout.Shorten(denied))
				r = RunResult{Err: markerFix(err, []string{l}), Outcome: ledger.OutcomeOther, Final: true}
				break
			}
			run := scan.Run(id)
			if run.Err != "" {
				r.Verified, r.Err, r.Outcome = false, errors.New(run.Err), ledgerOutcome(run.Outcome)
				break
			}
			if !scan.Finished(id) || !premarked[l] && !validMarker(slog.New(slog.DiscardHandler), l) {
				r.Verified = false
			}
			if r.URL == "" {
				r.URL = run.URL
			}
		}
		out[dirs[i]] = r
	}
	return out
}

// logRunID is the run id in a log's name, run-<id>.wandb.
func logRunID(log string) string {
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(log), "run-"), ".wandb")
}

// dirOfLog is the dir (as given to Upload) that holds log l.
func dirOfLog(abs, dirs []string, l string) string {
	for i, a := range abs {
		if filepath.Dir(l) == a {
			return dirs[i]
		}
	}
	return ""
}

// markerFix adds to a marker failure what the operator needs to fix it: the
// dir that refused the marker, its owner and mode, and who runner runs as.
func markerFix(cause error, missing []string) error {
	dir := ""
	for _, l := range missing {
		if syscall.Access(filepath.Dir(l), 2 /* W_OK */) != nil {
			dir = filepath.Dir(l)
			break
		}
	}
	if dir == "" && len(missing) > 0 {
		dir = filepath.Dir(missing[0])
	}
	if dir == "" {
		return cause
	}
	who := ""
	if st, err := os.Stat(dir); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			who = fmt.Sprintf(" (owner uid %d, mode %s; runner runs as uid %d)", sys.Uid, st.Mode().Perm(), os.Geteuid())
		}
	}
	return fmt.Errorf("%w; not retried, a retry would upload it again: make %s writable for runner%s, then `runner sync --retry %s`",
		cause, dir, who, dir)
}

// KeyFile is the W&B key file: flag (--api-key-file) when set, else under
// systemd the credential LoadCredential=wandb-api-key, else "" (the key
// comes from WANDB_API_KEY).
func KeyFile(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, "wandb-api-key")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// KeyFromFile is an Uploader.APIKey that reads the key from path at each
// upload (a rotated key needs no restart).
func KeyFromFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read API key file %s: %w", path, rundir.PathCause(err))
		}
		return strings.TrimSpace(string(b)), nil
	}
}
