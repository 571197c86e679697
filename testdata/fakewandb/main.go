// Command fakewandb stands in for the `wandb` CLI in tests. It behaves like `wandb sync` as
// described in docs/wandb-sync-output.md: the beta-routed output of wandb >= 0.28.1 (everything on
// stderr with `wandb: ` prefixes), or the legacy output with FAKE_WANDB_STYLE=legacy. It reads the
// real `.wandb` logs with package wandbfile, so torn and empty files fail as with the real CLI.
//
// Environment:
//
//	FAKE_WANDB_STYLE=legacy      legacy (<= 0.28.0) output
//	FAKE_WANDB_MODE=m[,m...]     per call: ok (default), auth, network, ratelimit, fatal, hang,
//	                             crash, leak (echo the key, then ok), and after the first run of
//	                             the call is synced: unlabelled (an ERROR without a label, then
//	                             stop), crashafter (a traceback, exit 1), hangafter (hang);
//	                             a list selects by call number
//	FAKE_WANDB_STATE=file        call counter for FAKE_WANDB_MODE lists (the last entry repeats)
//	FAKE_WANDB_DELAY=50ms        sleep before finishing each call (the CLI's start-up)
//	FAKE_WANDB_RUN_DELAY=300ms   time each run takes to sync; 5 runs sync at once, as in the
//	                             real CLI (FAKE_WANDB_PARALLEL changes the 5)
//	FAKE_WANDB_FAIL=id=how[,...] a failure of one run of the call (beta style): fatal (labelled
//	                             Fatal error, marker written), nofinish (marker written, no
//	                             Finished line), error (labelled ERROR, no marker)
//	FAKE_WANDB_CALLS=file        one line per call: the number of run dirs it got
//	FAKE_WANDB_LOG=file          one JSON line per uploaded log (success or fatal)
//	FAKE_WANDB_IGNORE_TERM=1     ignore SIGTERM (hang mode, to test escalation to SIGKILL)
//	FAKE_WANDB_SPAWN_CHILD=1     start a grandchild that sleeps (same process group, same stderr)
//	FAKE_WANDB_PIDFILE=file      where the grandchild's pid is written
//	FAKE_WANDB_WHO=file          one JSON line per sync call: pid, real/effective uid and gid
//	FAKE_WANDB_READS=file        one JSON line per file the call read, as the real CLI reads
//	                             them (following symlinks): each .wandb, and files/ of its dir
//	FAKE_WANDB_PLANT_MARKER=1    write each run's .synced marker just before the skip check, as
//	                             a `wandb sync` by hand that finished at that moment would
//	FAKE_WANDB_SKIP_ALWAYS=1     skip marked runs even with --include-synced (an odd CLI)
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhq/runner/wandbfile"
)

const version = "0.28.2"

func main() {
	if os.Getenv("FAKE_WANDB_CHILD") == "1" {
		sleepForever()
	}
	os.Exit(run(os.Args[1:]))
}

func sleepForever() {
	if os.Getenv("FAKE_WANDB_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// cli is one invocation.
type cli struct {
	stdout, stderr io.Writer
	legacy         bool
	mode           string
	entity         string
	project        string
	includeSynced  bool
	paths          []string
	key            string
	argv           []string
}

func run(args []string) int {
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, argv: args, legacy: os.Getenv("FAKE_WANDB_STYLE") == "legacy"}
	if len(args) == 1 && args[0] == "--version" {
		fmt.Fprintf(c.stdout, "wandb, version %s\n", version)
		return 0
	}
	if len(args) == 0 || args[0] != "sync" {
		fmt.Fprintln(c.stderr, "Usage: wandb [OPTIONS] COMMAND [ARGS]...")
		fmt.Fprintln(c.stderr, "Try 'wandb --help' for help.")
		fmt.Fprintln(c.stderr)
		if len(args) == 0 {
			fmt.Fprintln(c.stderr, "Error: Missing command.")
		} else {
			fmt.Fprintf(c.stderr, "Error: No such command '%s'.\n", args[0])
		}
		return 2
	}
	if code, ok := c.parse(args[1:]); !ok {
		return code
	}
	mode, err := pickMode()
	if err != nil {
		fmt.Fprintf(c.stderr, "fakewandb: %v\n", err)
		return 3
	}
	c.mode = mode
	c.key = os.Getenv("WANDB_API_KEY")
	if os.Getenv("FAKE_WANDB_SPAWN_CHILD") == "1" {
		if err := spawnChild(); err != nil {
			fmt.Fprintf(c.stderr, "fakewandb: spawn child: %v\n", err)
			return 3
		}
	}
	if c.legacy {
		return c.syncLegacy()
	}
	return c.syncBeta()
}

func (c *cli) usageError(msg string) int {
	fmt.Fprintln(c.stderr, "Usage: wandb sync [OPTIONS] [PATH]...")
	fmt.Fprintln(c.stderr, "Try 'wandb sync --help' for help.")
	fmt.Fprintln(c.stderr)
	fmt.Fprintf(c.stderr, "Error: %s\n", msg)
	return 2
}

// parse reads click-style options; it returns false with an exit code on a usage error.
func (c *cli) parse(args []string) (int, bool) {
	onlyPaths := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if onlyPaths || !strings.HasPrefix(a, "-") || a == "-" {
			c.paths = append(c.paths, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--":
			onlyPaths = true
		case "-e", "--entity", "-p", "--project":
			if !hasVal {
				if i+1 >= len(args) {
					return c.usageError(fmt.Sprintf("Option '%s' requires an argument.", name)), false
				}
				i++
				val = args[i]
			}
			if name == "-e" || name == "--entity" {
				c.entity = val
			} else {
				c.project = val
			}
		case "--include-synced", "--no-skip-synced":
			c.includeSynced = true
		case "--legacy":
			c.legacy = true
		default:
			return c.usageError(fmt.Sprintf("No such option: %s", name)), false
		}
	}
	for _, p := range c.paths {
		if _, err := os.Stat(p); err != nil {
			return c.usageError(fmt.Sprintf("Invalid value for '[PATH]...': Path '%s' does not exist.", p)), false
		}
	}
	if len(c.paths) == 0 {
		// The real CLI asks for confirmation and, without a TTY, dies with a traceback.
		fmt.Fprintln(c.stderr, "Traceback (most recent call last):")
		fmt.Fprintln(c.stderr, "wandb.sdk.lib.printer.NotATerminalError: Not a terminal.")
		return 1, false
	}
	return 0, true
}

// pickMode returns this call's FAKE_WANDB_MODE entry, counting calls in FAKE_WANDB_STATE under an
// exclusive lock so that concurrent fakes each get their own number.
func pickMode() (string, error) {
	modes := strings.Split(os.Getenv("FAKE_WANDB_MODE"), ",")
	n := 0
	if state := os.Getenv("FAKE_WANDB_STATE"); state != "" {
		f, err := os.OpenFile(state, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return "", err
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			if n, err = strconv.Atoi(s); err != nil {
				return "", fmt.Errorf("state file %s: %w", state, err)
			}
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(n+1)+"\n"), 0); err != nil {
			return "", err
		}
	}
	m := strings.TrimSpace(modes[min(n, len(modes)-1)])
	if m == "" {
		m = "ok"
	}
	switch m {
	case "ok", "auth", "network", "ratelimit", "fatal", "hang", "crash", "leak", "unlabelled", "crashafter", "hangafter":
		return m, nil
	}
	return "", fmt.Errorf("unknown FAKE_WANDB_MODE %q", m)
}

func spawnChild() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "FAKE_WANDB_CHILD=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	if pf := os.Getenv("FAKE_WANDB_PIDFILE"); pf != "" {
		return os.WriteFile(pf, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
	}
	return nil
}

// keySecret applies the CLI's format check: 40+ [\w-] characters, after the first '-' for
// prefixed keys such as local-… (docs/wandb-sync-output.md §2.1 "Malformed key").
var keyChars = regexp.MustCompile(`^[\w-]+$`)

func keySecret(key string) (ok bool, n int) {
	secret := key
	if _, after, found := strings.Cut(key, "-"); found {
		secret = after
	}
	return len(secret) >= 40 && keyChars.MatchString(secret), len(secret)
}

func baseURL() string {
	if u := os.Getenv("WANDB_BASE_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "https://api.wandb.ai"
}

func appURL() string {
	if u := os.Getenv("WANDB_APP_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	b := baseURL()
	switch {
	case strings.Contains(b, "://api.wandb."):
		return strings.Replace(b, "://api.wandb.", "://wandb.", 1)
	case strings.Contains(b, "://api."):
		return strings.Replace(b, "://api.", "://app.", 1)
	}
	return b
}

// wandbDir is where the sync process writes its own logs: $WANDB_DIR/wandb or ./wandb.
func wandbDir() string {
	if d := os.Getenv("WANDB_DIR"); d != "" {
		return filepath.Join(d, "wandb")
	}
	return "wandb"
}

func cliLogPath() string {
	name := "user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	d, err := filepath.Abs(wandbDir())
	if err != nil {
		d = wandbDir()
	}
	return filepath.Join(d, "debug-cli."+name+".log")
}

func writeDebugLog() {
	dir := filepath.Join(wandbDir(), "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	name := "debug-sync." + time.Now().UTC().Format("20060102.150405") + ".log"
	_ = os.WriteFile(filepath.Join(dir, name), []byte("fake wandb sync\n"), 0o644)
}

// relToCwd is p relative to the cwd when it lies under it, else p as typed.
func relToCwd(p string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(cwd, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return p
}

// runFile is one .wandb log found under a PATH argument.
type runFile struct {
	path string // as found (typed path joined with the file name)
	dir  string
	info *wandbfile.Info
}

// expand lists the .wandb files of a PATH: the file itself, or dir/*.wandb, else dir/*/*.wandb.
func expand(p string) []string {
	st, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if !st.IsDir() {
		if strings.HasSuffix(p, ".wandb") {
			return []string{p}
		}
		return nil
	}
	for _, pat := range []string{"*.wandb", filepath.Join("*", "*.wandb")} {
		m, _ := filepath.Glob(filepath.Join(globEscape(p), pat))
		if len(m) > 0 {
			sort.Strings(m)
			return m
		}
	}
	return nil
}

func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (c *cli) printBeta(format string, args ...any) {
	fmt.Fprintf(c.stderr, "wandb: "+format+"\n", args...)
}

func (c *cli) crash() int {
	fmt.Fprintln(c.stderr, "Traceback (most recent call last):")
	fmt.Fprintln(c.stderr, `  File "/usr/lib/python3/dist-packages/wandb/cli/cli.py", line 1, in sync`)
	fmt.Fprintln(c.stderr, "RuntimeError: fake wandb crashed")
	return 1
}

func (c *cli) leak() {
	fmt.Fprintf(c.stderr, "wandb: DEBUG environment WANDB_API_KEY=%s\n", c.key)
	fmt.Fprintf(c.stderr, "wandb: DEBUG settings {'api_key': '%s'}\n", c.key)
	fmt.Fprintf(c.stderr, "wandb: DEBUG using %s\n", c.key)
}

func (c *cli) hang() int {
	c.printBeta("[fake] setting up run")
	sleepForever()
	return 0
}

// runFailures parses FAKE_WANDB_FAIL: run id -> how it fails.
func runFailures() map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("FAKE_WANDB_FAIL"), ",") {
		if id, how, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			out[id] = how
		}
	}
	return out
}

// runDelay is the i-th run's share of the call: runs sync FAKE_WANDB_PARALLEL
// (5) at a time, so every fifth run waits FAKE_WANDB_RUN_DELAY.
func runDelay(i int) {
	d, err := time.ParseDuration(os.Getenv("FAKE_WANDB_RUN_DELAY"))
	if err != nil || d <= 0 {
		return
	}
	par := 5
	if p, err := strconv.Atoi(os.Getenv("FAKE_WANDB_PARALLEL")); err == nil && p > 0 {
		par = p
	}
	if i%par == 0 {
		time.Sleep(d)
	}
}

// countCall appends the call's number of run dirs to FAKE_WANDB_CALLS.
func countCall(n int) {
	path := os.Getenv("FAKE_WANDB_CALLS")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, n)
}

func delay() {
	if d, err := time.ParseDuration(os.Getenv("FAKE_WANDB_DELAY")); err == nil && d > 0 {
		time.Sleep(d)
	}
}

// label is the run path the CLI prints in brackets: entity/project/id without empty parts.
func label(in *wandbfile.Info) string {
	var parts []string
	for _, p := range []string{in.Entity, in.Project, in.RunID} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

// display is the run dir relative to the cwd, or the .wandb path when the dir name does not
// contain the run id (displaypath.go ToDisplayPath).
func display(f runFile) string {
	if f.info != nil && f.info.RunID != "" && !strings.Contains(filepath.Base(f.dir), f.info.RunID) {
		return relToCwd(f.path)
	}
	return relToCwd(f.dir)
}

func (c *cli) runURL(in *wandbfile.Info) string {
	entity := c.entity
	if entity == "" {
		entity = "fake-entity"
	}
	project := c.project
	if project == "" {
		project = in.Project
	}
	if project == "" {
		project = "uncategorized"
	}
	return appURL() + "/" + entity + "/" + project + "/runs/" + in.RunID
}

func (c *cli) syncBeta() int {
	c.printBeta("Using wandb beta sync. Turn this off with --legacy.")
	logWho()
	var files []runFile
	skipped := 0
	skipAlways := os.Getenv("FAKE_WANDB_SKIP_ALWAYS") == "1"
	for _, p := range c.paths {
		for _, f := range expand(p) {
			if os.Getenv("FAKE_WANDB_PLANT_MARKER") == "1" {
				_ = writeMarker(f)
			}
			logReads(f)
			if (!c.includeSynced || skipAlways) && exists(f+".synced") {
				skipped++
				continue
			}
			files = append(files, runFile{path: f, dir: filepath.Dir(f)})
		}
	}
	if skipped > 0 {
		c.printBeta("Skipped %d synced run(s). Include with --no-skip-synced.", skipped)
	}
	if len(files) == 0 {
		c.printBeta("No runs to sync.")
		return 0
	}
	c.printBeta("Syncing %d run(s):", len(files))
	listed := make([]string, len(files))
	for i, f := range files {
		listed[i] = relToCwd(f.path)
	}
	sort.Strings(listed)
	for _, l := range listed {
		c.printBeta("  %s", l)
	}

	if c.key == "" {
		c.printBeta("ERROR Find detailed error logs at: %s", cliLogPath())
		fmt.Fprintln(c.stderr, "Error: No API key configured. Use `wandb login` to log in.")
		return 1
	}
	if ok, n := keySecret(c.key); !ok {
		c.printBeta("ERROR Find detailed error logs at: %s", cliLogPath())
		fmt.Fprintf(c.stderr, "Error: WANDB_API_KEY invalid: API key must have 40+ characters, has %d.\n", n)
		return 1
	}
	c.printBeta("[wandb sync] Loaded credentials for %s from WANDB_API_KEY.", baseURL())
	writeDebugLog()

	switch c.mode {
	case "crash":
		return c.crash()
	case "leak":
		c.leak()
	case "hang":
		return c.hang()
	}

	// Init reads every file first: one unreadable file makes the whole call a no-op.
	for i := range files {
		f := &files[i]
		info, err := wandbfile.ReadFile(f.path, wandbfile.Options{})
		switch {
		case errors.Is(err, os.ErrNotExist):
			c.printBeta("ERROR File does not exist: %s", display(*f))
			return 0
		case errors.Is(err, wandbfile.ErrNotWandb):
			reason := "transactionlog: bad header: EOF"
			if st, serr := os.Stat(f.path); serr == nil && st.Size() > 0 {
				reason = "transactionlog: bad header: leveldb/record: invalid W&B identifier: " + err.Error()
			}
			c.printBeta("ERROR Failed to read %q: %s", display(*f), reason)
			return 0
		case err != nil:
			c.printBeta("ERROR Failed to read %q: %v", display(*f), err)
			return 0
		case info.Empty() || info.RunID == "":
			f.info = info
			c.printBeta("ERROR Failed to read %q: transactionlog: error getting next record: EOF", display(*f))
			return 0
		}
		f.info = info
	}
	delay()

	switch c.mode {
	case "auth":
		c.printBeta("ERROR user is not logged in")
		return 0
	case "network":
		c.printBeta(`ERROR Error initializing run: POST %s/graphql giving up after 21 attempt(s): Post "%s/graphql": dial tcp 35.186.228.49:443: connect: connection refused`, baseURL(), baseURL())
		c.printBeta(`ERROR while retrying: Post "%s/graphql": dial tcp 35.186.228.49:443: connect: connection refused`, baseURL())
		return 0
	case "ratelimit":
		c.printBeta("ERROR Error initializing run: POST %s/graphql giving up after 21 attempt(s)", baseURL())
		c.printBeta("ERROR while retrying: HTTP 429: rate limit exceeded")
		return 0
	}

	failPlan := runFailures()
	countCall(len(c.paths))
	failed := map[string]bool{} // an error stops the later files of the same run
	for i, f := range files {
		in := f.info
		if failed[in.RunID] {
			continue
		}
		if i > 0 {
			switch c.mode {
			case "unlabelled":
				c.printBeta("ERROR Internal error: stream closed unexpectedly")
				return 0
			case "crashafter":
				return c.crash()
			case "hangafter":
				return c.hang()
			}
		}
		runDelay(i)
		lbl := label(in)
		if in.Name != "" {
			c.printBeta("[%s] View run %s at %s", lbl, in.Name, c.runURL(in))
		} else {
			c.printBeta("[%s] View run at %s", lbl, c.runURL(in))
		}
		if in.Err != nil {
			c.printBeta("ERROR Internal error: transactionlog: error getting next record: leveldb/record: invalid chunk (checksum mismatch)")
			failed[in.RunID] = true
			continue
		}
		if in.TornTail {
			c.printBeta("ERROR Internal error: transactionlog: error getting next record: unexpected EOF")
			failed[in.RunID] = true
			continue
		}
		how := failPlan[in.RunID]
		if how == "error" {
			c.printBeta("ERROR [%s] Error uploading run: HTTP 400: invalid history row", lbl)
			failed[in.RunID] = true
			continue
		}
		if c.mode == "fatal" || how == "fatal" {
			c.printBeta("ERROR [%s] Fatal error while uploading data. Some run data will not be synced, but it will still be written to disk. Use `wandb sync` at the end of the run to try uploading.", lbl)
		}
		// The data is on the server before the marker is written: a marker
		// that cannot be written leaves an uploaded run unmarked.
		c.logUpload(f)
		if err := writeMarker(f.path); err != nil {
			c.printBeta("ERROR Internal error: %v", err)
			failed[in.RunID] = true
			continue
		}
		if how != "nofinish" {
			c.printBeta("[%s] Finished syncing %s", lbl, display(f))
		}
	}
	return 0
}

func (c *cli) syncLegacy() int {
	fmt.Fprintf(c.stdout, "Find logs at: %s\n", cliLogPath())
	logWho()
	if c.key == "" {
		fmt.Fprintln(c.stderr, "wandb: Login to W&B to sync runs")
		fmt.Fprintln(c.stderr, "Error: api_key not configured (no-tty). call wandb login [your_api_key]")
		return 1
	}
	if ok, n := keySecret(c.key); !ok {
		fmt.Fprintf(c.stderr, "Error: WANDB_API_KEY invalid: API key must have 40+ characters, has %d.\n", n)
		return 1
	}
	switch c.mode {
	case "crash":
		return c.crash()
	case "leak":
		c.leak()
	case "hang":
		return c.hang()
	}
	delay()
	countCall(len(c.paths))
	for i, p := range c.paths {
		runDelay(i)
		abs, _ := filepath.Abs(p)
		files := expand(p)
		if len(files) != 1 {
			fmt.Fprintf(c.stdout, "Skipping directory: %s\n", abs)
			continue
		}
		f := runFile{path: files[0], dir: filepath.Dir(files[0])}
		if os.Getenv("FAKE_WANDB_PLANT_MARKER") == "1" {
			_ = writeMarker(f.path)
		}
		logReads(f.path)
		if os.Getenv("FAKE_WANDB_SKIP_ALWAYS") == "1" && exists(f.path+".synced") {
			continue // silently, as legacy --sync-all would
		}
		fabs, _ := filepath.Abs(f.path)
		info, err := wandbfile.ReadFile(f.path, wandbfile.Options{})
		if err != nil {
			if st, serr := os.Stat(f.path); serr == nil && st.Size() < 7 {
				fmt.Fprintf(c.stdout, ".wandb file is empty (header is %d bytes instead of the expected 7), skipping: %s\n", st.Size(), fabs)
				continue
			}
			fmt.Fprintln(c.stderr, "Exception in thread SyncThread:")
			fmt.Fprintln(c.stderr, "Traceback (most recent call last):")
			fmt.Fprintln(c.stderr, "Exception: Invalid header")
			continue
		}
		f.info = info
		fmt.Fprintf(c.stdout, "Syncing: %s ... ", c.runURL(info))
		switch c.mode {
		case "auth":
			fmt.Fprintln(c.stderr, "wandb: ERROR Error while calling W&B API: user is not logged in (<Response [401]>)")
			fmt.Fprintln(c.stdout, "done.")
			continue
		case "network":
			fmt.Fprintln(c.stderr, "wandb: Network error (ConnectionError), entering retry loop.")
			fmt.Fprintln(c.stdout, "done.")
			continue
		case "ratelimit":
			fmt.Fprintln(c.stderr, "wandb: ERROR Error while calling W&B API: rate limit exceeded (<Response [429]>)")
			fmt.Fprintln(c.stdout, "done.")
			continue
		case "fatal":
			fmt.Fprintln(c.stderr, "wandb: ERROR Dropped streaming file chunk (see wandb/debug-internal.log)")
		}
		if info.TornTail || info.Err != nil {
			fmt.Fprintln(c.stderr, "wandb: WARNING .wandb file is incomplete (unexpected end of file), be sure to sync this run again once it's finished")
		}
		// Legacy marks a run synced only when it saw the exit record.
		if info.Finished && !info.TornTail && info.Err == nil {
			c.logUpload(f)
			if err := writeMarker(f.path); err != nil {
				// The sync thread dies on Python's OSError: a traceback that
				// quotes the marker's path, and the CLI still exits 0.
				fmt.Fprintln(c.stderr, "Exception in thread Thread-1:")
				fmt.Fprintln(c.stderr, "Traceback (most recent call last):")
				fmt.Fprintln(c.stderr, `  File "/usr/lib/python3/dist-packages/wandb/sync/sync.py", line 233, in run`)
				fmt.Fprintf(c.stderr, "%s: [Errno %d] %s: '%s'\n", pythonOSError(err), errno(err), pythonStrerror(err), f.path+".synced")
				continue
			}
		}
		fmt.Fprintln(c.stdout, "done.")
	}
	return 0
}

// pythonOSError names err as Python's OSError subclass would.
func pythonOSError(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "PermissionError"
	case errors.Is(err, fs.ErrNotExist):
		return "FileNotFoundError"
	default:
		return "OSError"
	}
}

func errno(err error) int {
	var e syscall.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	return 5 // EIO
}

// pythonStrerror is strerror with Python's capital first letter.
func pythonStrerror(err error) string {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return err.Error()
	}
	msg := e.Error()
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func writeMarker(logPath string) error {
	f, err := os.OpenFile(logPath+".synced", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	return f.Close()
}

// logWho appends who this call runs as to FAKE_WANDB_WHO.
func logWho() {
	path := os.Getenv("FAKE_WANDB_WHO")
	if path == "" {
		return
	}
	line, _ := json.Marshal(map[string]int{"pid": os.Getpid(), "uid": os.Getuid(), "euid": os.Geteuid(),
		"gid": os.Getgid(), "egid": os.Getegid()})
	appendLine(path, line)
}

// readEntry is one FAKE_WANDB_READS line.
type readEntry struct {
	Path  string `json:"path"`
	OK    bool   `json:"ok"`
	Bytes int    `json:"bytes"`
	Err   string `json:"err,omitempty"`
	EUID  int    `json:"euid"`
}

// logReads reads the log and its dir's files/ the way the real CLI does,
// through symlinks, and records what it could read to FAKE_WANDB_READS.
func logReads(log string) {
	path := os.Getenv("FAKE_WANDB_READS")
	if path == "" {
		return
	}
	read := func(p string) {
		b, err := os.ReadFile(p)
		e := readEntry{Path: p, OK: err == nil, Bytes: len(b), EUID: os.Geteuid()}
		if err != nil {
			e.Err = err.Error()
		}
		line, _ := json.Marshal(e)
		appendLine(path, line)
	}
	read(log)
	files := filepath.Join(filepath.Dir(log), "files")
	entries, _ := os.ReadDir(files)
	for _, en := range entries {
		if !en.IsDir() {
			read(filepath.Join(files, en.Name()))
		}
	}
}

func appendLine(path string, line []byte) {
	lf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakewandb: %v\n", err)
		return
	}
	defer lf.Close()
	_, _ = lf.Write(append(line, '\n'))
}

// uploadEntry is one FAKE_WANDB_LOG line.
type uploadEntry struct {
	At         string `json:"at"`
	PID        int    `json:"pid"`
	RunID      string `json:"run_id"`
	Project    string `json:"project"`
	Dir        string `json:"dir"`
	File       string `json:"file"`
	Size       int64  `json:"size"`
	Records    int    `json:"records"`
	Finished   bool   `json:"finished"`
	Footer     bool   `json:"footer"`
	Torn       bool   `json:"torn"`
	Mode       string `json:"mode"`
	KeyOK      bool   `json:"key_ok"`
	WandbMode  string `json:"wandb_mode"`
	ArgvHasKey bool   `json:"argv_has_key"`
}

func (c *cli) logUpload(f runFile) {
	path := os.Getenv("FAKE_WANDB_LOG")
	if path == "" {
		return
	}
	in := f.info
	records := 0
	for _, n := range in.Records {
		records += n
	}
	keyOK, _ := keySecret(c.key)
	argvHasKey := false
	for _, a := range os.Args {
		if c.key != "" && strings.Contains(a, c.key) {
			argvHasKey = true
		}
	}
	project := c.project
	if project == "" {
		project = in.Project
	}
	dir, _ := filepath.Abs(f.dir)
	file, _ := filepath.Abs(f.path)
	size := in.Size
	if st, err := os.Stat(f.path); err == nil {
		size = st.Size()
	}
	line, err := json.Marshal(uploadEntry{
		At: time.Now().UTC().Format(time.RFC3339Nano), PID: os.Getpid(), RunID: in.RunID, Project: project,
		Dir: dir, File: file, Size: size, Records: records, Finished: in.Finished, Footer: in.Footer,
		Torn: in.TornTail, Mode: c.mode, KeyOK: keyOK, WandbMode: os.Getenv("WANDB_MODE"), ArgvHasKey: argvHasKey,
	})
	if err != nil {
		return
	}
	// One write of a whole line with O_APPEND: concurrent fakes never interleave within a line.
	lf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(c.stderr, "fakewandb: %v\n", err)
		return
	}
	defer lf.Close()
	_, _ = lf.Write(append(line, '\n'))
}
