package jobs

// A job's environment (docs/design.md "Job environment"): the environment of
// the `runner submit` call, captured then and kept in a 0600 file outside the
// ledger, less credential-like variables unless kept by name; runner's own
// variables go on top at launch. Jobs recorded before capture existed (no
// file) inherit the daemon's environment, as they always did.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/runnerhq/runner/internal/secret"
)

// EnvDirName is the directory, under the state dir's jobs/, that holds the
// captured environments.
const EnvDirName = "env"

// EnvDir is where captured environments live for the ledger in stateDir.
func EnvDir(stateDir string) string { return filepath.Join(stateDir, "jobs", EnvDirName) }

// Captured is the environment of one submit call as the job will get it.
type Captured struct {
	Env     []string // K=V, in the caller's order
	Dropped []string // credential-like names left out (not kept with --env-keep)
}

// Names lists the captured variables' names, sorted: what the ledger and
// `jobs --json` show.
func (c Captured) Names() []string {
	names := make([]string, 0, len(c.Env))
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Capture keeps environ (a submit call's os.Environ) for a job: every
// variable except credential-like ones (secret.EnvName) not named in keep.
// Malformed entries (no "=", empty name) are left out too.
func Capture(environ, keep []string) Captured {
	var c Captured
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
		case secret.EnvName(k) && !slices.Contains(keep, k):
			c.Dropped = append(c.Dropped, k)
		default:
			c.Env = append(c.Env, kv)
		}
	}
	return c
}

// Only keeps the variables of environ named in names (submit --env-clear
// with --env-keep).
func Only(environ, names []string) []string {
	var out []string
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}

// envFile is the captured environment on disk.
type envFile struct {
	Env []string `json:"env"`
}

// WriteEnvFile stores env in a new file in dir, readable by its owner only,
// and returns its path. The name is random: it is written before the job
// has an id, so the job can never be dispatched without it.
func WriteEnvFile(dir string, env []string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("save job environment: %w", err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	path := filepath.Join(dir, hex.EncodeToString(b[:])+".json")
	data, err := json.Marshal(envFile{Env: env})
	if err != nil {
		return "", fmt.Errorf("save job environment: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("save job environment: %w", err)
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("save job environment %s: %w", path, err)
	}
	return path, nil
}

// ReadEnvFile reads an environment WriteEnvFile stored.
func ReadEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job environment: %w", err)
	}
	var f envFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("job environment %s: %w", path, err)
	}
	return f.Env, nil
}

// RemoveEnvFile removes a stored environment; one already gone is fine.
func RemoveEnvFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove job environment: %w", err)
	}
	return nil
}

// isRunnerEnvKey reports whether runner sets k itself. Inherited values of
// these are dropped so a job never sees a stale or foreign value (a --env
// may still set the W&B ones runner leaves empty).
func isRunnerEnvKey(k string) bool {
	switch k {
	case "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "WANDB_MODE", "WANDB_DIR", "WANDB_RUN_ID", "RUNNER_JOB_ID",
		"RUNNER_ARRAY_ID", "RUNNER_ARRAY_INDEX":
		return true
	}
	return false
}

// isServiceEnvKey reports whether k is systemd's hand-over to the daemon
// itself (notify socket, watchdog, socket activation): a job that saw them
// could speak to systemd in the daemon's name.
func isServiceEnvKey(k string) bool {
	switch k {
	case "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
		"INVOCATION_ID", "JOURNAL_STREAM":
		return true
	}
	return false
}

// JobEnv builds a job's environment: base (s.BaseEnv when s.OwnEnv, else
// inherited: the supervisor's own environment, for jobs without one) less
// runner's own keys and systemd's NOTIFY_SOCKET/WATCHDOG_*/LISTEN_*, then s.Env, then CUDA_VISIBLE_DEVICES=<UUIDs
// comma-joined> (empty for a CPU job, which hides every GPU),
// CUDA_DEVICE_ORDER=PCI_BUS_ID, WANDB_MODE=offline, WANDB_DIR and
// WANDB_RUN_ID when set, and RUNNER_JOB_ID. A later value of a key wins.
func JobEnv(inherited []string, s Spec) []string {
	base := inherited
	if s.OwnEnv {
		base = s.BaseEnv
	}
	var order []string
	vals := map[string]string{}
	put := func(kv string) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return
		}
		if _, seen := vals[k]; !seen {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range SubmitterEnv(base) {
		put(kv)
	}
	if s.User != nil {
		// Who the job runs as, whatever the captured environment says.
		put("HOME=" + s.User.Home)
		put("USER=" + s.User.Name)
		put("LOGNAME=" + s.User.Name)
	}
	for _, kv := range s.Env {
		put(kv)
	}
	put("CUDA_VISIBLE_DEVICES=" + strings.Join(s.GPUUUIDs, ","))
	put("CUDA_DEVICE_ORDER=PCI_BUS_ID")
	put("WANDB_MODE=offline")
	if s.WandbDir != "" {
		put("WANDB_DIR=" + s.WandbDir)
	}
	if s.RunID != "" {
		put("WANDB_RUN_ID=" + s.RunID)
	}
	if s.RunGroup != "" {
		put("WANDB_RUN_GROUP=" + s.RunGroup)
	}
	if s.ArrayID != 0 {
		put("RUNNER_ARRAY_ID=" + strconv.FormatInt(s.ArrayID, 10))
		put("RUNNER_ARRAY_INDEX=" + strconv.FormatInt(s.ArrayIndex, 10))
	}
	put("RUNNER_JOB_ID=" + strconv.FormatInt(s.ID, 10))
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out
}

// lookPath finds file as the job's shell would: through the job's PATH
// (env), relative entries taken from dir. The supervisor's own PATH is the
// daemon's, where the submitter's venv or conda env is not.
func lookPath(file string, env []string, dir string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in the job's PATH %s", file, fs.ErrNotExist, strconv.Quote(path))
}
