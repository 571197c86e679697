package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// A job runs with the environment of its `runner submit` call (venv on PATH,
// the submitter's variables), without WANDB_API_KEY unless kept, and the
// captured values stay out of the ledger and of `jobs --json`.
func TestJobRunsInTheSubmittersEnvironment(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1")

	venv := filepath.Join(t.TempDir(), "venv", "bin")
	if err := os.MkdirAll(venv, 0o755); err != nil {
		t.Fatal(err)
	}
	trainer := "#!/bin/sh\necho \"args=$* MY_VAR=$MY_VAR key=$WANDB_API_KEY hf=$HF_TOKEN mode=$WANDB_MODE\"\n"
	if err := os.WriteFile(filepath.Join(venv, "trainer"), []byte(trainer), 0o755); err != nil {
		t.Fatal(err)
	}
	// The daemon was started without these: only the submit call has them.
	daemonEnv := h.env
	h.env = append(slices.Clone(daemonEnv), "MY_VAR=hello-from-submitter", "PATH="+venv+":"+os.Getenv("PATH"),
		"HF_TOKEN=hf-token-kept-by-name", "WANDB_MODE=online")
	id := h.submit("--env-keep", "HF_TOKEN", "trainer", "--lr", "3e-4")
	j := h.waitJob(id, ledger.JobSucceeded)
	out, err := os.ReadFile(j.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "args=--lr 3e-4 MY_VAR=hello-from-submitter key= hf=hf-token-kept-by-name mode=offline\n"
	if string(out) != want {
		t.Errorf("job output %q, want %q", out, want)
	}

	st, err := os.Stat(j.EnvFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("captured environment %s: %v, mode %v; want a 0600 file", j.EnvFile, err, st.Mode())
	}
	if filepath.Dir(j.EnvFile) == filepath.Dir(h.db) || !strings.HasPrefix(j.EnvFile, filepath.Dir(h.db)) {
		t.Errorf("env file %s should sit in the state dir's jobs/ tree", j.EnvFile)
	}
	js, code := h.run("jobs", "--json")
	var list []struct {
		ID       int64    `json:"id"`
		EnvNames []string `json:"env_names"`
	}
	if code != 0 || json.Unmarshal([]byte(js), &list) != nil || len(list) != 1 {
		t.Fatalf("jobs --json: exit %d\n%s", code, js)
	}
	names := list[0].EnvNames
	if !slices.Contains(names, "MY_VAR") || !slices.Contains(names, "HF_TOKEN") || slices.Contains(names, "WANDB_API_KEY") {
		t.Errorf("env_names = %v: want MY_VAR and HF_TOKEN, not WANDB_API_KEY", names)
	}
	for _, p := range []string{js, readAll(t, h.db), readAll(t, h.db+"-wal")} {
		for _, v := range []string{"hello-from-submitter", "hf-token-kept-by-name", apiKey} {
			if strings.Contains(p, v) {
				t.Errorf("a captured value (%s) reached the ledger or jobs --json", v)
			}
		}
	}

	// --env-clear: only --env (and runner's own variables).
	id2 := h.submit("--env-clear", "--env", "ONLY=1", "--", "/usr/bin/env")
	j2 := h.waitJob(id2, ledger.JobSucceeded)
	out2 := readAll(t, j2.LogPath)
	if !strings.Contains(out2, "ONLY=1\n") || !strings.Contains(out2, "RUNNER_JOB_ID=") ||
		strings.Contains(out2, "MY_VAR") || strings.Contains(out2, "PATH=") {
		t.Errorf("--env-clear job environment:\n%s", out2)
	}

	// gc removes the captured environment with the job's log.
	if out, code := h.run("gc", "--older-than", "0s"); code != 0 {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	for _, p := range []string{j.EnvFile, j2.EnvFile, j.LogPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after gc (%v)", p, err)
		}
	}
	// A submit the ledger refuses leaves no environment behind.
	if _, code := h.run("submit", "--after", "9999", "--", "true"); code == 0 {
		t.Fatal("submit --after a missing job succeeded")
	}
	if left, _ := os.ReadDir(filepath.Dir(j.EnvFile)); len(left) != 0 {
		t.Errorf("environment files left behind: %v", left)
	}
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
