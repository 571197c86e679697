package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// submit --notify and daemon --on-job-end run after each job's end with its
// outcome in RUNNER_JOB_*, never with WANDB_API_KEY, and a slow hook holds
// up no job.
func TestJobEndHooks(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "all")
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1", "--sample-interval", "200ms",
		"--on-job-end", `echo "$RUNNER_JOB_ID $RUNNER_JOB_STATE exit=$RUNNER_JOB_EXIT_CODE" >> `+all)
	id := func(out string) string { return strings.TrimSpace(out) }

	envFile := filepath.Join(dir, "env")
	ok := id(h.runOK("submit", "--name", "tell-me", "--notify", "env > "+envFile, "true"))
	bad := id(h.runOK("submit", "sh", "-c", "exit 3"))
	skipped := id(h.runOK("submit", "--after", bad, "true"))
	okJob := h.waitJob(mustID(t, ok), ledger.JobSucceeded)
	h.waitJob(mustID(t, skipped), ledger.JobSkipped)

	h.eventually(10*time.Second, "the --notify hook's environment", func() bool {
		b, _ := os.ReadFile(envFile)
		return strings.Contains(string(b), "RUNNER_RUN_ID=")
	})
	env, _ := os.ReadFile(envFile)
	for _, want := range []string{"RUNNER_JOB_ID=" + ok + "\n", "RUNNER_JOB_STATE=succeeded\n", "RUNNER_JOB_EXIT_CODE=0\n",
		"RUNNER_JOB_NAME=tell-me\n", "RUNNER_RUN_ID=" + okJob.RunID + "\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("--notify hook's environment lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(string(env), "WANDB_API_KEY=") {
		t.Errorf("--notify hook got WANDB_API_KEY:\n%s", env)
	}
	h.eventually(10*time.Second, "--on-job-end for every job", func() bool {
		b, _ := os.ReadFile(all)
		return strings.Count(string(b), "\n") >= 3
	})
	lines, _ := os.ReadFile(all)
	for _, want := range []string{ok + " succeeded exit=0\n", bad + " failed exit=3\n", skipped + " skipped exit=\n"} {
		if !strings.Contains(string(lines), want) {
			t.Errorf("--on-job-end lines lack %q:\n%s", want, lines)
		}
	}

	// A hook that takes long runs beside the queue, not in front of it.
	slow := id(h.runOK("submit", "--notify", "sleep 30", "true"))
	h.waitJob(mustID(t, slow), ledger.JobSucceeded)
	start := time.Now()
	next := id(h.runOK("submit", "true"))
	h.waitJob(mustID(t, next), ledger.JobSucceeded)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a job after a slow hook took %s to run", d)
	}
}
