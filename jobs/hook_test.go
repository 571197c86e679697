package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// syncBuffer is a log sink the hooks' goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A hook that fails or outlives its timeout is logged once, saying why.
func TestEndHookFailuresAreLoggedOnce(t *testing.T) {
	for _, tc := range []struct {
		notify, onEnd string
		want          []string
	}{
		{"exit 0", "", nil},
		{"echo broken >&2; exit 4", "", []string{`hook=--notify`, "exit status 4: broken"}},
		{"", "sleep 10", []string{`hook=--on-job-end`, "killed after 200ms"}},
	} {
		var log syncBuffer
		h := &EndHooks{OnJobEnd: tc.onEnd, Timeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))}
		start := time.Now()
		h.Run(ledger.Job{ID: 3, State: ledger.JobFailed, Notify: tc.notify, Cwd: t.TempDir()})
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%q %q: Run took %s; it must not wait for the hook", tc.notify, tc.onEnd, d)
		}
		h.Wait()
		got := log.String()
		if n := strings.Count(got, "job end hook failed"); n != min(len(tc.want), 1) {
			t.Errorf("%q %q: %d failure lines:\n%s", tc.notify, tc.onEnd, n, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q %q: log lacks %q:\n%s", tc.notify, tc.onEnd, w, got)
			}
		}
	}
}

// The hook's environment: the job's outcome on top of the daemon's, less
// credential-like variables, and the owner's HOME and USER when it has one.
func TestHookEnv(t *testing.T) {
	code := 7
	env := HookEnv([]string{"PATH=/bin", "WANDB_API_KEY=k", "GH_TOKEN=t", "HOME=/root", "RUNNER_JOB_ID=99"},
		ledger.Job{ID: 5, State: ledger.JobFailed, ExitCode: &code, Name: "n", RunID: "r1"}, &User{Name: "alice", Home: "/home/alice"})
	got := strings.Join(env, " ")
	want := "PATH=/bin HOME=/home/alice USER=alice LOGNAME=alice RUNNER_JOB_ID=5 RUNNER_JOB_STATE=failed " +
		"RUNNER_JOB_EXIT_CODE=7 RUNNER_JOB_SIGNAL= RUNNER_JOB_NAME=n RUNNER_RUN_ID=r1"
	if got != want {
		t.Errorf("HookEnv:\n got %s\nwant %s", got, want)
	}
}
