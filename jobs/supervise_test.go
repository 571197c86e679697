package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as runner: Launch starts it as
// `<test binary> _supervise --job ID`, and with jobsTestLauncher set it
// plays a daemon that launches one job and exits at once.
const jobsTestLauncher = "RUNNER_JOBS_TEST_LAUNCH_SPEC"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == SuperviseCommand {
		spare := len(os.Args) > 2 && os.Args[2] == "--"+SpareFlag
		var (
			id       int64
			specFile string
		)
		if !spare && len(os.Args) > 3 {
			fmt.Sscan(os.Args[3], &id)
		}
		if len(os.Args) > 5 && os.Args[4] == "--"+SpecFileFlag {
			specFile = os.Args[5]
		}
		if err := RunSupervisor(context.Background(), os.Stdin, spare, id, specFile); err != nil {
			fmt.Fprintln(os.Stderr, "runner _supervise:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if js := os.Getenv(jobsTestLauncher); js != "" {
		var s Spec
		if err := json.Unmarshal([]byte(js), &s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		self, _ := os.Executable()
		pid, err := Launch(self, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(pid)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testSpec(t *testing.T, argv ...string) Spec {
	dir := t.TempDir()
	return Spec{
		ID: 42, Argv: argv, Dir: dir,
		LogPath:    filepath.Join(dir, "jobs", "42", "log"),
		StatusPath: filepath.Join(dir, "jobs", "42", "status.json"),
		Grace:      time.Second,
	}
}

func readLog(t *testing.T, s Spec) string {
	t.Helper()
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dead reports whether pid is gone or a zombie (an init that does not reap
// leaves zombies behind; they hold nothing).
func dead(pid int) bool {
	state, _, _, err := procStat(pid)
	return errors.Is(err, ErrNotRunning) || state == 'Z'
}

func TestJobEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/home/u", "WANDB_RUN_ID=stale", "CUDA_VISIBLE_DEVICES=0,1", "KEEP=1", "NOTIFY_SOCKET=/run/systemd/notify"}
	tests := []struct {
		name string
		spec Spec
		want []string // exact K=V entries expected
		not  []string // keys that must be absent
	}{
		{
			name: "CPU job hides every GPU and drops inherited run id",
			spec: Spec{ID: 7},
			want: []string{"CUDA_VISIBLE_DEVICES=", "CUDA_DEVICE_ORDER=PCI_BUS_ID", "WANDB_MODE=offline", "RUNNER_JOB_ID=7", "PATH=/usr/bin", "KEEP=1"},
			not:  []string{"WANDB_RUN_ID", "WANDB_DIR", "NOTIFY_SOCKET"},
		},
		{
			name: "GPU job sees its GPUs by UUID and its run",
			spec: Spec{ID: 8, GPUUUIDs: []string{"GPU-a", "GPU-b"}, RunID: "r8", WandbDir: "/w"},
			want: []string{"CUDA_VISIBLE_DEVICES=GPU-a,GPU-b", "WANDB_RUN_ID=r8", "WANDB_DIR=/w", "RUNNER_JOB_ID=8"},
		},
		{
			name: "--env overrides inherited values but not runner's",
			spec: Spec{ID: 9, Env: []string{"KEEP=2", "WANDB_MODE=online", "CUDA_VISIBLE_DEVICES=3", "EXTRA=x=y", "junk"}},
			want: []string{"KEEP=2", "WANDB_MODE=offline", "CUDA_VISIBLE_DEVICES=", "EXTRA=x=y"},
			not:  []string{"junk"},
		},
		{
			name: "--env may set the run id when runner has none",
			spec: Spec{ID: 10, Env: []string{"WANDB_RUN_ID=mine"}},
			want: []string{"WANDB_RUN_ID=mine"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := JobEnv(base, tt.spec)
			keys := map[string]int{}
			for _, kv := range env {
				k, _, _ := strings.Cut(kv, "=")
				keys[k]++
			}
			for k, n := range keys {
				if n > 1 {
					t.Errorf("%s appears %d times", k, n)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(env, w) {
					t.Errorf("missing %s in %v", w, env)
				}
			}
			for _, k := range tt.not {
				if keys[k] > 0 {
					t.Errorf("%s should not be set: %v", k, env)
				}
			}
		})
	}
}

func TestSuperviseJobSeesItsEnvironment(t *testing.T) {
	s := testSpec(t, "sh", "-c", `env; echo "cwd=$(pwd)"; echo "stdin=$(cat)"; echo oops >&2`)
	s.GPUUUIDs = []string{"GPU-fake-0000", "GPU-fake-0001"}
	s.RunID, s.WandbDir = "run-abc", "/tmp/wandb-dir"
	s.Env = []string{"MY_FLAG=on"}
	if err := Supervise(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	out := readLog(t, s)
	for _, want := range []string{
		"CUDA_VISIBLE_DEVICES=GPU-fake-0000,GPU-fake-0001\n", "CUDA_DEVICE_ORDER=PCI_BUS_ID\n",
		"WANDB_MODE=offline\n", "WANDB_DIR=/tmp/wandb-dir\n", "WANDB_RUN_ID=run-abc\n", "RUNNER_JOB_ID=42\n",
		"MY_FLAG=on\n", "cwd=" + s.Dir + "\n", "stdin=\n", "oops\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("job log lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	st, err := ReadStatus(s.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID <= 0 || st.PGID != st.PID || st.StartTicks == 0 || st.EndedAt == nil || st.StartedAt.IsZero() {
		t.Errorf("status = %+v, want pid, pgid = pid, start ticks and both times", st)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 || st.Signal != "" || st.Reason != "" {
		t.Errorf("status = %+v, want exit 0", st)
	}
}

func TestSuperviseRecordsHowTheJobEnded(t *testing.T) {
	tests := []struct {
		name       string
		argv       []string
		timeout    time.Duration
		cancel     bool
		wantErr    error
		wantCode   *int
		wantSignal string
		wantReason string
	}{
		{name: "exit code", argv: []string{"sh", "-c", "exit 3"}, wantCode: ptr(3)},
		{name: "killed by a signal", argv: []string{"sh", "-c", "kill -KILL $$"}, wantSignal: "SIGKILL"},
		{name: "command not found", argv: []string{"/nonexistent/train"}, wantErr: ErrStartFailed, wantReason: "start failed: "},
		{name: "timeout", argv: []string{"sleep", "30"}, timeout: 100 * time.Millisecond, wantSignal: "SIGTERM", wantReason: "timeout"},
		{name: "supervisor cancelled", argv: []string{"sleep", "30"}, cancel: true, wantSignal: "SIGTERM", wantReason: "cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec(t, tt.argv...)
			s.Timeout = tt.timeout
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			err := Supervise(ctx, s)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Supervise err = %v, want %v", err, tt.wantErr)
			}
			st, err := ReadStatus(s.StatusPath)
			if err != nil {
				t.Fatal(err)
			}
			if st.EndedAt == nil {
				t.Fatal("end not recorded")
			}
			if (st.ExitCode == nil) != (tt.wantCode == nil) || (st.ExitCode != nil && *st.ExitCode != *tt.wantCode) {
				t.Errorf("exit code = %v, want %v", deref(st.ExitCode), deref(tt.wantCode))
			}
			if st.Signal != tt.wantSignal || !strings.HasPrefix(st.Reason, tt.wantReason) || (tt.wantReason == "") != (st.Reason == "") {
				t.Errorf("signal %q reason %q, want %q %q", st.Signal, st.Reason, tt.wantSignal, tt.wantReason)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *int) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(*p)
}

func TestTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantSignal string
		maxTime    time.Duration
	}{
		// The background sleep is a grandchild of the supervisor.
		{"job honours SIGTERM", `sleep 30 & echo $! > child.pid; wait`, "SIGTERM", 2 * time.Second},
		{"job ignores SIGTERM: SIGKILL after grace", `trap "" TERM; sleep 30 & echo $! > child.pid; sleep 30`, "SIGKILL", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec(t, "sh", "-c", tt.script)
			s.Timeout, s.Grace = 300*time.Millisecond, 400*time.Millisecond
			start := time.Now()
			if err := Supervise(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %s", d)
			}
			st, err := ReadStatus(s.StatusPath)
			if err != nil {
				t.Fatal(err)
			}
			if st.Reason != "timeout" || st.Signal != tt.wantSignal {
				t.Errorf("status reason %q signal %q, want timeout %s", st.Reason, st.Signal, tt.wantSignal)
			}
			b, err := os.ReadFile(filepath.Join(s.Dir, "child.pid"))
			if err != nil {
				t.Fatalf("job did not record its background child: %v", err)
			}
			child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if child <= 0 || !dead(child) || !dead(st.PID) {
				t.Errorf("job %d or its background child %d still alive", st.PID, child)
			}
			if groupAlive(st.PGID) {
				t.Errorf("process group %d still has live members", st.PGID)
			}
			if !strings.Contains(readLog(t, s), "[runner] job 42 reached its timeout") {
				t.Errorf("log does not say the job timed out:\n%s", readLog(t, s))
			}
		})
	}
}

func TestSuperviseStopsProcessesLeftBehind(t *testing.T) {
	s := testSpec(t, "sh", "-c", `sleep 30 & echo $! > child.pid; exit 0`)
	s.Grace = 500 * time.Millisecond
	if err := Supervise(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !dead(child) {
		t.Fatalf("background process %d outlived its job", child)
	}
	st, _ := ReadStatus(s.StatusPath)
	if st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("exit code %s, want the main process's 0", deref(st.ExitCode))
	}
}

// startGroup starts argv in its own process group, reaped in the background.
func startGroup(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		minTime time.Duration
		maxTime time.Duration
	}{
		{"SIGTERM is enough", "sleep 30 & wait", 0, 600 * time.Millisecond},
		{"SIGKILL after the grace", `trap "" TERM; sleep 30 & wait; sleep 30`, 500 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := startGroup(t, "sh", "-c", tt.script)
			time.Sleep(100 * time.Millisecond) // let sh install its trap
			start := time.Now()
			if err := Terminate(cmd.Process.Pid, 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tt.minTime || d > tt.maxTime {
				t.Errorf("Terminate took %s, want %s..%s", d, tt.minTime, tt.maxTime)
			}
			if groupAlive(cmd.Process.Pid) {
				t.Fatal("group still alive after Terminate")
			}
			if err := Terminate(cmd.Process.Pid, time.Second); !errors.Is(err, ErrNotRunning) {
				t.Fatalf("second Terminate: %v, want ErrNotRunning", err)
			}
		})
	}
	for _, pgid := range []int{0, 1, -5} {
		if err := Terminate(pgid, 0); err == nil || errors.Is(err, ErrNotRunning) {
			t.Errorf("Terminate(%d) = %v, want a refusal", pgid, err)
		}
	}
}

func TestAlive(t *testing.T) {
	cmd := startGroup(t, "sleep", "30")
	ticks, err := ProcStartTicks(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	// A command name with spaces and parentheses must not confuse the
	// /proc/<pid>/stat parser.
	odd := filepath.Join(t.TempDir(), "a) (b c")
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sleepPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(odd, data, 0o700); err != nil {
		t.Fatal(err)
	}
	oddCmd := startGroup(t, odd, "30")
	oddTicks, err := ProcStartTicks(oddCmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pid   int
		ticks uint64
		want  bool
	}{
		{"running with its start time", cmd.Process.Pid, ticks, true},
		{"running but a different start time (pid reused)", cmd.Process.Pid, ticks + 1, false},
		{"exited", exited.Process.Pid, ticks, false},
		{"odd command name", oddCmd.Process.Pid, oddTicks, true},
		{"no pid", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Alive(tt.pid, tt.ticks); got != tt.want {
				t.Fatalf("Alive(%d, %d) = %v, want %v", tt.pid, tt.ticks, got, tt.want)
			}
		})
	}
	if _, err := ProcStartTicks(exited.Process.Pid); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ProcStartTicks of an exited pid: %v, want ErrNotRunning", err)
	}
}

// TestJobOutlivesTheLauncher runs a launcher process (the test binary
// playing the daemon) that starts a job and exits at once; the supervisor
// must keep running and record the job's exit code.
func TestJobOutlivesTheLauncher(t *testing.T) {
	// The job runs until the test creates the file "go" in its directory.
	s := testSpec(t, "sh", "-c", "while [ ! -e go ]; do sleep 0.02; done; exit 7")
	js, _ := json.Marshal(s)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	launcher := exec.Command(self)
	launcher.Env = append(os.Environ(), jobsTestLauncher+"="+string(js))
	out, err := launcher.Output()
	if err != nil {
		t.Fatalf("launcher: %v: %s", err, out)
	}
	supervisor, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	st, err := ReadStatus(s.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.EndedAt != nil || !Alive(st.PID, st.StartTicks) {
		t.Fatalf("job not running after its launcher exited: %+v", st)
	}
	if st.SupervisorPID != supervisor || dead(supervisor) {
		t.Fatalf("supervisor %d (status says %d) not running after its launcher exited", supervisor, st.SupervisorPID)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	st, err = Wait(ctx, s.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode == nil || *st.ExitCode != 7 {
		t.Fatalf("exit code %s, want 7", deref(st.ExitCode))
	}
}

func TestLaunchCancelAndSecrets(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec(t, "sleep", "30")
	s.Env = []string{"WANDB_API_KEY=sekrit-value"}
	if err := os.MkdirAll(filepath.Dir(s.StatusPath), 0o700); err != nil {
		t.Fatal(err)
	}
	// A status left by an earlier attempt of the same job must not count.
	if err := writeStatus(s.StatusPath, Status{PID: 1, EndedAt: ptr(time.Now())}); err != nil {
		t.Fatal(err)
	}
	supervisor, err := Launch(self, s)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(s.StatusPath)
	if err != nil || st.EndedAt != nil || st.PID == 1 {
		t.Fatalf("status after Launch = %+v, %v; want the new running job", st, err)
	}
	for _, pid := range []int{supervisor, st.PID} {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cmdline), "sekrit") {
			t.Fatalf("secret in argv of pid %d: %q", pid, cmdline)
		}
	}
	// runner cancel: Terminate the job's group; the supervisor records it.
	if err := Terminate(st.PGID, time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	st, err = Wait(ctx, s.StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != "SIGTERM" || st.ExitCode != nil {
		t.Fatalf("status = %+v, want killed by SIGTERM", st)
	}
	b, _ := os.ReadFile(s.StatusPath)
	if strings.Contains(string(b), "sekrit") {
		t.Fatal("secret written to the status file")
	}
}

func TestLaunchReportsStartFailure(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec(t, "/nonexistent/train.py")
	if _, err := Launch(self, s); !errors.Is(err, ErrStartFailed) {
		t.Fatalf("Launch err = %v, want ErrStartFailed", err)
	}
	if !strings.Contains(readLog(t, s), "/nonexistent/train.py") {
		t.Fatalf("log does not name the missing command:\n%s", readLog(t, s))
	}
	if _, err := Launch(self, Spec{ID: 1}); err == nil {
		t.Fatal("Launch accepted a spec with no command")
	}
}

func TestWait(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = os.WriteFile(filepath.Join(dir, "log"), []byte("noise"), 0o600)
		_ = writeStatus(path, Status{PID: 10, PGID: 10, StartedAt: time.Now()})
		time.Sleep(50 * time.Millisecond)
		_ = writeStatus(path, Status{PID: 10, PGID: 10, StartedAt: time.Now(), EndedAt: ptr(time.Now()), ExitCode: ptr(0)})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := Wait(ctx, path)
	if err != nil || st.EndedAt == nil || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("Wait = %+v, %v; want the ended status", st, err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_ = writeStatus(path, Status{PID: 11, StartedAt: time.Now()})
	if _, err := Wait(short, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a running job = %v, want the context's deadline", err)
	}
	if _, err := Wait(context.Background(), filepath.Join(dir, "missing", "status.json")); err == nil {
		t.Fatal("Wait in a directory that does not exist should fail, not block")
	}
}

func TestStatusFileShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	if err := writeStatus(path, Status{PID: 5, PGID: 5, StartTicks: 99, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pid", "pgid", "start_time", "started_at", "ended_at", "exit_code", "signal"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status.json lacks %q: %s", k, b)
		}
	}
	if m["ended_at"] != nil || m["exit_code"] != nil || m["start_time"] != float64(99) || m["started_at"] != "2026-01-02T03:04:05Z" {
		t.Errorf("status.json = %s", b)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".status-*"))
	if len(matches) != 0 {
		t.Errorf("temp files left behind: %v", matches)
	}
}
