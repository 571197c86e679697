package app

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/status"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// opsBuffer is a bytes.Buffer safe for the daemon's goroutines and the test.
type opsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *opsBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *opsBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// opsEnv runs commands in-process with the test's streams and the real
// environment (urfave reads flag defaults from it; tests set it with t.Setenv).
func opsEnv(stdout, stderr io.Writer) Env {
	self, _ := os.Executable()
	return Env{
		Self:  self,
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		Getenv: os.Getenv, Environ: os.Environ, Now: time.Now,
		IsTerminal: func(io.Writer) bool { return false },
	}
}

// opsRun runs one command like main does: the error line to stderr, the exit code back.
func opsRun(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errb opsBuffer
	err := Run(ctx, append([]string{"runner"}, args...), opsEnv(&out, &errb))
	if msg := ErrorLine(err); msg != "" {
		errb.Write([]byte("runner: " + msg + "\n"))
	}
	return out.String(), errb.String(), ExitCode(err)
}

// opsWriteRun writes a finished offline run (exit record, mtime an hour ago)
// under root/wandb and returns its dir.
func opsWriteRun(t *testing.T, root, id string) string {
	t.Helper()
	dir := filepath.Join(root, "wandb", "offline-run-20250101_120000-"+id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "run-"+id+".wandb")
	w, err := wandbtest.Create(log, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, err := range []error{
		w.Header(0),
		w.Run(wandbtest.Run{ID: id, Project: "ops", Name: "run " + id, StartTime: start, CLIVersion: "0.23.0"}),
		w.Row(0, 1, start, map[string]float64{"train/loss": 1}),
		w.Exit(0, 10),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(log, old, old); err != nil {
		t.Fatal(err)
	}
	return dir
}

type notifyMsg struct {
	at   time.Time
	text string
}

// listenNotify is a fake systemd: a unix datagram socket in NOTIFY_SOCKET.
func listenNotify(t *testing.T) <-chan notifyMsg {
	t.Helper()
	// sun_path holds 108 bytes: keep the socket path short.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan notifyMsg, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				ch <- notifyMsg{at: time.Now(), text: line}
			}
		}
	}()
	return ch
}

func nextNotify(t *testing.T, ch <-chan notifyMsg, timeout time.Duration) notifyMsg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no sd_notify message within %s", timeout)
		return notifyMsg{}
	}
}

// Under systemd (Type=notify, WatchdogSec=) the daemon says READY=1 once the
// first scan is in the ledger, feeds the watchdog at half its interval no
// matter how slowly its main loop ticks, says STOPPING=1 when asked to stop,
// and serves Prometheus metrics when given --metrics-addr.
func TestDaemonNotifiesSystemdAndServesMetrics(t *testing.T) {
	notes := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "200000") // WatchdogSec=0.2: WATCHDOG=1 every 100 ms
	t.Setenv("WATCHDOG_PID", "")
	os.Unsetenv("WATCHDOG_PID")
	root := t.TempDir()
	runDir := opsWriteRun(t, root, "sdn1")
	db := filepath.Join(t.TempDir(), "ledger.db")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr opsBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"runner", "--db", db, "daemon", "--watch", root, "--no-upload",
			"--metrics-addr", "127.0.0.1:0"}, opsEnv(io.Discard, &stderr))
	}()

	first := nextNotify(t, notes, 15*time.Second)
	if first.text != "READY=1" {
		cancel()
		t.Logf("daemon: %v\n%s", <-done, stderr.String())
		t.Fatalf("first notify message %q, want READY=1", first.text)
	}
	ro := ledgertest.Open(t, db, ledger.Options{ReadOnly: true})
	if _, err := ro.GetRun(context.Background(), runDir); err != nil {
		t.Errorf("READY=1 came before the first scan recorded %s: %v", runDir, err)
	}

	// Watchdog cadence over one second (the loop's own tick is 1 s).
	var dogs []time.Time
	window := time.After(time.Second)
collect:
	for {
		select {
		case m := <-notes:
			if m.text != "WATCHDOG=1" {
				cancel()
				t.Fatalf("unexpected notify message %q while running: daemon %v\n%s", m.text, <-done, stderr.String())
			}
			dogs = append(dogs, m.at)
		case <-window:
			break collect
		}
	}
	if len(dogs) < 6 || len(dogs) > 14 {
		t.Errorf("%d WATCHDOG=1 in 1 s, want about 10 (every 100 ms for WatchdogSec=200ms)", len(dogs))
	}
	for i := 1; i < len(dogs); i++ {
		if gap := dogs[i].Sub(dogs[i-1]); gap > 400*time.Millisecond {
			t.Errorf("watchdog gap %s, want about 100 ms", gap)
		}
	}

	// The metrics endpoint answers from the ledger.
	addr := regexp.MustCompile(`metrics endpoint listening"? addr=(\S+)`).FindStringSubmatch(stderr.String())
	if addr == nil {
		t.Fatalf("daemon did not log the metrics address:\n%s", stderr.String())
	}
	body := scrape(t, "http://"+addr[1]+"/metrics")
	for _, want := range []string{`runner_runs{state="pending"} 1`, `runner_uploads_total{outcome="success"} 0`,
		"runner_last_scan_timestamp_seconds ", `runner_jobs{state="queued"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	for {
		m := nextNotify(t, notes, 10*time.Second)
		if m.text == "WATCHDOG=1" {
			continue
		}
		if m.text != "STOPPING=1" {
			t.Fatalf("notify message %q on shutdown, want STOPPING=1", m.text)
		}
		break
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not return within 15 s of cancel")
	}
	st, err := ro.DaemonState(context.Background())
	if err != nil || st == nil || st.Up {
		t.Errorf("daemon state after stop %+v (%v), want down", st, err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// cronJob is the documented line of deploy/runner.cron: its variables and
// the command after the schedule and the user.
type cronJob struct {
	vars map[string]string
	argv []string
}

func readCronFile(t *testing.T) cronJob {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "deploy", "runner.cron"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	job := cronJob{vars: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
			job.vars[k] = v
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 7 || job.argv != nil {
			t.Fatalf("runner.cron: want one job line `m h dom mon dow user command...`, got %q", line)
		}
		job.argv = fields[6:]
	}
	if job.argv == nil {
		t.Fatal("runner.cron has no job line")
	}
	return job
}

// The cron line in deploy/runner.cron (and the README) works as written:
// quiet when all went well, so cron mails nothing; exit 1 and a line on
// stderr when an upload failed, so cron mails it.
func TestDocumentedCronBackfill(t *testing.T) {
	wandb := testbin.Build(t, "./testdata/fakewandb", "wandb")
	job := readCronFile(t)
	if job.argv[0] != "/usr/local/bin/runner" || job.argv[1] != "backfill" || job.argv[len(job.argv)-1] != ">/dev/null" {
		t.Fatalf("cron command %q: want /usr/local/bin/runner backfill ... >/dev/null", job.argv)
	}
	for _, tc := range []struct {
		name     string
		mode     string
		code     int
		stderrRe string
		synced   bool
	}{
		{"upload succeeds", "ok", 0, `^$`, true},
		{"api key rejected", "auth", 1, `runner: backfill: 1 upload failed`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			workspace := filepath.Join(dir, "workspace")
			runDir := opsWriteRun(t, workspace, "cron1")
			keyFile := filepath.Join(dir, "wandb-api-key")
			if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			paths := strings.NewReplacer("/var/lib/runner/ledger.db", filepath.Join(dir, "ledger.db"),
				"/etc/runner/wandb-api-key", keyFile, "/workspace", workspace)
			for k, v := range job.vars {
				t.Setenv(k, paths.Replace(v))
			}
			t.Setenv("WANDB_API_KEY", "")
			t.Setenv("RUNNER_WANDB", wandb)
			t.Setenv("FAKE_WANDB_MODE", tc.mode)
			t.Setenv("FAKE_WANDB_STATE", filepath.Join(dir, "fake-state"))
			t.Setenv("FAKE_WANDB_LOG", filepath.Join(dir, "uploads.jsonl"))
			var args []string
			for _, a := range job.argv[1 : len(job.argv)-1] { // the redirect is the shell's
				args = append(args, paths.Replace(a))
			}
			_, stderr, code := opsRun(context.Background(), args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if !regexp.MustCompile(tc.stderrRe).MatchString(stderr) {
				t.Errorf("stderr (what cron mails) %q, want it to match %q", stderr, tc.stderrRe)
			}
			if _, err := os.Stat(filepath.Join(runDir, "run-cron1.wandb.synced")); (err == nil) != tc.synced {
				t.Errorf("run synced = %v, want %v", err == nil, tc.synced)
			}
		})
	}
}

// unitSettings reads deploy/runner.service into section.key -> values.
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	return unitFileSettings(t, filepath.Join("..", "deploy", "runner.service"))
}

// unitFileSettings reads a unit file or drop-in: "Section.Key" -> values.
func unitFileSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: malformed line %q", path, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// The unit keeps the promises the README makes: notify with a watchdog,
// restarts that leave jobs running, the ledger in the state directory, the
// key as a credential, and hardening that still lets jobs reach the GPUs.
func TestSystemdUnitSettings(t *testing.T) {
	u := unitSettings(t)
	want := map[string]string{
		"Service.Type":                    "notify",
		"Service.WatchdogSec":             "60",
		"Service.Restart":                 "on-failure",
		"Service.KillMode":                "mixed",
		"Service.StateDirectory":          "runner",
		"Service.Environment":             "RUNNER_DB=/var/lib/runner/ledger.db",
		"Service.EnvironmentFile":         "/etc/runner/runner.env",
		"Service.LoadCredential":          "wandb-api-key:/etc/runner/wandb-api-key",
		"Service.ExecStart":               "/usr/local/bin/runner daemon --watch ${RUNNER_WATCH_DIR}",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.PrivateTmp":              "yes",
		"Service.ReadWritePaths":          "-/workspace",
		"Service.UMask":                   "0077",
		"Service.ProtectControlGroups":    "yes",
		"Service.ProtectKernelTunables":   "yes",
		"Service.SystemCallArchitectures": "native",
		"Service.CapabilityBoundingSet":   "CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN CAP_KILL CAP_SYS_PTRACE CAP_SETUID CAP_SETGID",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Each of these hides /dev/nvidia* from the daemon and its jobs.
	for _, k := range []string{"Service.PrivateDevices", "Service.DeviceAllow", "Service.DevicePolicy", "Service.ProtectClock"} {
		if v, ok := u[k]; ok {
			t.Errorf("%s = %q would cut GPU access", k, v)
		}
	}
	// The key file name is the one the daemon looks for.
	cred := filepath.Join(t.TempDir(), "creds")
	os.MkdirAll(cred, 0o700)
	os.WriteFile(filepath.Join(cred, "wandb-api-key"), []byte(testKey), 0o600)
	env := opsEnv(io.Discard, io.Discard)
	env.Getenv = func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return cred
		}
		return ""
	}
	c := cli.NewContext(New(env), flag.NewFlagSet("daemon", flag.ContinueOnError), nil)
	if got := apiKeyFile(c, env); got != filepath.Join(cred, "wandb-api-key") {
		t.Errorf("daemon reads the key from %q, want the LoadCredential file", got)
	}

	// The environment file sets the variable ExecStart uses.
	envFile, err := os.ReadFile(filepath.Join("..", "deploy", "runner.env"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUNNER_WATCH_DIR=/workspace$`).Match(envFile) {
		t.Error("runner.env does not set RUNNER_WATCH_DIR=/workspace (ReadWritePaths= names /workspace)")
	}
	if bytes.Contains(envFile, []byte("WANDB_API_KEY=")) {
		t.Error("runner.env must not hold the API key")
	}
}

// `runner version` and `runner --version` print the same four facts.
func TestVersionCommand(t *testing.T) {
	out, _, code := opsRun(context.Background(), "version")
	if code != 0 {
		t.Fatalf("runner version: exit %d", code)
	}
	for _, re := range []string{`(?m)^runner \S+$`, `(?m)^commit: \S+`, `(?m)^go: +go1\.`, `(?m)^nvml: +(available|not available: .+)$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("runner version output lacks %s:\n%s", re, out)
		}
	}
	flagOut, _, code := opsRun(context.Background(), "--version")
	if code != 0 || flagOut != out {
		t.Errorf("runner --version (exit %d) printed %q, want what runner version prints %q", code, flagOut, out)
	}
	js, _, code := opsRun(context.Background(), "version", "--json")
	if code != 0 || !strings.Contains(js, `"nvml": `) || !strings.Contains(js, `"go": "go1.`) {
		t.Errorf("runner version --json (exit %d): %s", code, js)
	}
}

// `runner status` shows a daemon that died without saying so as down within
// 30 s (three missed heartbeats), an up one with its uptime, and colours
// only on a terminal.
func TestStatusUptimeCrashAndColour(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	clock := &gcClock{}
	db := ledgertest.Open(t, path, ledger.Options{Clock: clock})
	now := time.Now()
	status := func(tty bool) (string, int) {
		var out opsBuffer
		env := opsEnv(&out, io.Discard)
		env.IsTerminal = func(io.Writer) bool { return tty }
		err := Run(ctx, []string{"runner", "--db", path, "status"}, env)
		return out.String(), ExitCode(err)
	}
	clock.Set(now.Add(-2 * time.Hour))
	info := ledger.Daemon{PID: 4242, Host: "gpu1", Version: "v1.2.3", StartedAt: now.Add(-2 * time.Hour), Watch: []string{"/workspace"}}
	if err := db.Heartbeat(ctx, info); err != nil {
		t.Fatal(err)
	}
	clock.Set(now.Add(-31 * time.Second)) // the last beat of a daemon that was SIGKILLed
	if err := db.Heartbeat(ctx, info); err != nil {
		t.Fatal(err)
	}
	if out, code := status(false); code != 1 || !strings.Contains(out, "daemon:   DOWN (last heartbeat") {
		t.Errorf("31 s after the last heartbeat: exit %d\n%s\nwant DOWN and exit 1", code, out)
	}
	clock.Set(now)
	if err := db.Heartbeat(ctx, info); err != nil {
		t.Fatal(err)
	}
	out, code := status(false)
	if code != 0 || !strings.Contains(out, "daemon:   up 2h0m0s (pid 4242 on gpu1, version v1.2.3") || strings.Contains(out, "\x1b[") {
		t.Errorf("fresh heartbeat, no terminal: exit %d\n%q\nwant up 2h0m0s, no escape codes", code, out)
	}
	if out, _ := status(true); !strings.Contains(out, "\x1b[32mup 2h0m0s\x1b[0m") {
		t.Errorf("on a terminal the state is not coloured: %q", out)
	}
}

// Every variable the shipped env file names is one the daemon reads (a
// RUNNER_ENTITY that nothing reads once sat there), and the backfill unit
// uses the daemon's env file.
func TestDeployEnvFileNamesRealSettings(t *testing.T) {
	b, err := os.ReadFile("../deploy/runner.env")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"RUNNER_WATCH_DIR": true} // the units' ExecStart uses it
	for _, f := range append(daemonCommand(Env{}).Flags, New(Env{}).Flags...) {
		if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range ef.GetEnvVars() {
				known[v] = true
			}
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		name, _, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(name, "RUNNER_") || strings.Contains(name, " ") {
			continue
		}
		if !known[name] {
			t.Errorf("deploy/runner.env names %s, which runner daemon does not read", name)
		}
	}
	unit, err := os.ReadFile("../deploy/runner-backfill.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "EnvironmentFile=/etc/runner/runner.env") {
		t.Error("runner-backfill.service does not read the daemon's env file")
	}
}

// `runner status` tells the truth about uploads: off with --no-upload, not
// running with the daemon down; it lists errors only of runs not yet
// synced, says why runs wait, and counts the last day's uploads.
func TestStatusIsTruthful(t *testing.T) {
	ctx := context.Background()
	db := ledgertest.Open(t, "", ledger.Options{})
	now := time.Now()
	root := t.TempDir()
	doneDir := opsWriteRun(t, root, "done1")
	waitDir := opsWriteRun(t, root, "wait1")
	var obs []ledger.Observation
	for _, d := range []string{doneDir, waitDir} {
		rd, err := runsync.InspectRunDir(d)
		if err != nil {
			t.Fatal(err)
		}
		m, err := runsync.ReadMeta(rd.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		rd.MTime = now // fresh: in its quiet period
		obs = append(obs, ledger.Observation{Dir: rd.Dir, LogPath: rd.LogPath, Size: rd.Size, MTime: rd.MTime, Meta: m})
	}
	if _, err := db.UpsertRuns(ctx, obs); err != nil {
		t.Fatal(err)
	}
	// done1 failed once, then went up: its failure is history.
	if err := db.MarkReady(ctx, obs[0].Dir, "test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ledger.Result{
		{Outcome: ledger.OutcomeTransient, Error: "dial tcp: refused", CountAttempt: true, NextAttemptAt: now},
		{Outcome: ledger.OutcomeSuccess, URL: "https://wandb.ai/e/p/runs/done1"},
	} {
		if _, err := db.Claim(ctx, "w1", time.Minute, nil); err != nil {
			t.Fatal(err)
		}
		r.StartedAt = now
		if err := db.Complete(ctx, "w1", []string{obs[0].Dir}, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddEvent(ctx, "error", obs[1].Dir, "run log not read: not a regular file"); err != nil {
		t.Fatal(err)
	}
	if err := db.Heartbeat(ctx, ledger.Daemon{PID: os.Getpid(), Host: "h", StartedAt: now, UploadsOff: true}); err != nil {
		t.Fatal(err)
	}
	st, err := status.Read(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	// done1's failed attempt was retried and went up: 1 synced, no failed run.
	if st.Uploads.State != "off (--no-upload)" || st.Uploads.Last24h.Synced != 1 || st.Uploads.Last24h.Failed != 0 {
		t.Errorf("uploads %+v: want off, 1 synced and no failed run in 24h", st.Uploads)
	}
	if len(st.LastErrors) != 1 || st.LastErrors[0].Subject != obs[1].Dir {
		t.Errorf("last errors %+v: want only the error of the run not synced", st.LastErrors)
	}
	if len(st.Waiting) != 1 || st.Waiting[0].State != "active" || st.Waiting[0].Count != 1 || st.Waiting[0].ReadyWithinS == nil ||
		*st.Waiting[0].ReadyWithinS <= 0 || *st.Waiting[0].ReadyWithinS > runsync.DefaultQuiet.Seconds() {
		t.Errorf("waiting %+v: want 1 active run ready within the quiet period", st.Waiting)
	}
	if err := db.DaemonDown(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ = status.Read(ctx, db, now); st.Uploads.State != "not running (daemon down)" {
		t.Errorf("uploads with the daemon down: %q", st.Uploads.State)
	}
}

// The Slurm drop-in adds exactly what running sbatch, scancel and scontrol
// as their user needs (the unit grants it too, to act in users' trees as
// them; the drop-in keeps Slurm working under a unit that drops it).
func TestSlurmDropIn(t *testing.T) {
	d := unitFileSettings(t, filepath.Join("..", "deploy", "slurm", "runner-slurm.conf"))
	if got := d["Service.CapabilityBoundingSet"]; len(got) != 1 || got[0] != "CAP_SETUID CAP_SETGID" {
		t.Errorf("drop-in capabilities %q", got)
	}
	if got := d["Service.Environment"]; !slices.Contains(got, "RUNNER_EXECUTOR=slurm") || !slices.Contains(got, "RUNNER_POLL=30s") {
		t.Errorf("drop-in environment %q", got)
	}

}
