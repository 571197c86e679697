package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// submit --output/--error as sbatch's: %j and %x expand, stderr goes apart
// with --error and with stdout without it, runner logs reads the output
// file, runner jobs ID names both, and a symlink planted at the path is
// never followed: the job does not start and the link's target is untouched.
func TestJobOutputFiles(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("--gpus", "fake:1", "--sample-interval", "200ms")
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "planted.out")); err != nil {
		t.Fatal(err)
	}
	script := "echo to-out; echo to-err >&2"
	for _, tc := range []struct {
		name    string
		args    []string
		state   ledger.JobState
		files   map[string]string // relative to dir, %j replaced by the id
		logs    string
		errPath string
	}{
		{"apart", []string{"--output", dir + "/%x-%j.out", "--error", dir + "/%j.err"}, ledger.JobSucceeded,
			map[string]string{"apart-%j.out": "to-out\n", "%j.err": "to-err\n"}, "to-out\n", dir + "/%j.err"},
		{"together", []string{"--cwd", dir, "--output", "%x.log"}, ledger.JobSucceeded,
			map[string]string{"together.log": "to-out\nto-err\n"}, "to-out\nto-err\n", dir + "/together.log"},
		{"planted", []string{"--output", dir + "/planted.out"}, ledger.JobFailed,
			map[string]string{"precious": "keep\n"}, "", dir + "/planted.out"},
	} {
		args := append(append([]string{"submit", "--name", tc.name}, tc.args...), "sh", "-c", script)
		id := strings.TrimSpace(h.runOK(args...))
		j := h.waitJob(mustID(t, id), tc.state)
		for rel, want := range tc.files {
			got, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(rel, "%j", id)))
			if err != nil || string(got) != want {
				t.Errorf("%s: %s = %q (%v), want %q", tc.name, rel, got, err, want)
			}
		}
		if tc.state == ledger.JobFailed {
			if !strings.Contains(j.Reason, "--output") || !strings.Contains(j.Reason, "not a regular file") {
				t.Errorf("%s: reason %q does not say the output file was refused", tc.name, j.Reason)
			}
			continue
		}
		if out := h.runOK("logs", id); out != tc.logs {
			t.Errorf("%s: runner logs = %q, want %q", tc.name, out, tc.logs)
		}
		var shown []struct {
			OutputPath string `json:"output_path"`
			ErrorPath  string `json:"error_path"`
		}
		js := h.runOK("jobs", "--json", "--name", tc.name)
		if err := json.Unmarshal([]byte(js), &shown); err != nil || len(shown) != 1 {
			t.Fatalf("%s: jobs --json --name %s: %v\n%s", tc.name, tc.name, err, js)
		}
		wantErr := strings.ReplaceAll(tc.errPath, "%j", id)
		if shown[0].ErrorPath != wantErr || !strings.HasPrefix(shown[0].OutputPath, dir+"/") {
			t.Errorf("%s: jobs --json paths %+v, want error_path %s", tc.name, shown[0], wantErr)
		}
		if out := h.runOK("jobs", id); !strings.Contains(out, "error_path:") || !strings.Contains(out, wantErr) {
			t.Errorf("%s: runner jobs %s does not show the error path:\n%s", tc.name, id, out)
		}
	}
	if _, stderr, code := h.code("submit", "--output", dir+"/%q.out", "true"); code != 2 || !strings.Contains(stderr, "%j (job id)") {
		t.Errorf("submit --output with %%q: exit %d %q, want 2", code, stderr)
	}
}
