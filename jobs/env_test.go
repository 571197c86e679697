package jobs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCapture(t *testing.T) {
	environ := []string{"PATH=/venv/bin:/usr/bin", "WANDB_API_KEY=k-secret", "HF_TOKEN=t", "MY_VAR=hello",
		"AWS_SECRET_ACCESS_KEY=s", "=junk", "noequals", "VIRTUAL_ENV=/venv"}
	tests := []struct {
		name        string
		keep        []string
		wantEnv     []string
		wantDropped []string
	}{
		{"credentials dropped", nil,
			[]string{"PATH=/venv/bin:/usr/bin", "MY_VAR=hello", "VIRTUAL_ENV=/venv"},
			[]string{"WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"}},
		{"--env-keep passes one", []string{"HF_TOKEN"},
			[]string{"PATH=/venv/bin:/usr/bin", "HF_TOKEN=t", "MY_VAR=hello", "VIRTUAL_ENV=/venv"},
			[]string{"WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Capture(environ, tt.keep)
			if !slices.Equal(c.Env, tt.wantEnv) {
				t.Errorf("env = %q, want %q", c.Env, tt.wantEnv)
			}
			if !slices.Equal(c.Dropped, tt.wantDropped) {
				t.Errorf("dropped = %q, want %q", c.Dropped, tt.wantDropped)
			}
		})
	}
	if got := Capture(environ, nil).Names(); !slices.Equal(got, []string{"MY_VAR", "PATH", "VIRTUAL_ENV"}) {
		t.Errorf("names = %q", got)
	}
	if got := Only(environ, []string{"MY_VAR", "NOPE"}); !slices.Equal(got, []string{"MY_VAR=hello"}) {
		t.Errorf("Only = %q", got)
	}
}

func TestEnvFileIsPrivateAndRoundTrips(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs", "env")
	env := []string{"A=1", "MULTI=line1\nline2", "EMPTY="}
	path, err := WriteEnvFile(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	got, err := ReadEnvFile(path)
	if err != nil || !slices.Equal(got, env) {
		t.Fatalf("ReadEnvFile = %q, %v; want %q", got, err, env)
	}
	other, err := WriteEnvFile(dir, nil)
	if err != nil || other == path {
		t.Fatalf("second file %q (%v) must differ from %q", other, err, path)
	}
	if err := RemoveEnvFile(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveEnvFile(path); err != nil {
		t.Errorf("removing a removed file: %v", err)
	}
	if _, err := ReadEnvFile(path); err == nil {
		t.Error("read of a removed file succeeded")
	}
}

// A job with a captured environment runs the submitter's programs (its
// venv on PATH) and sees none of the supervisor's own variables.
func TestSuperviseRunsInTheCapturedEnvironment(t *testing.T) {
	venv := filepath.Join(t.TempDir(), "venv", "bin")
	if err := os.MkdirAll(venv, 0o755); err != nil {
		t.Fatal(err)
	}
	tool := "#!/bin/sh\necho \"tool from venv, MY_VAR=$MY_VAR, DAEMON_ONLY=$DAEMON_ONLY, job=$RUNNER_JOB_ID\"\n"
	if err := os.WriteFile(filepath.Join(venv, "runner-test-tool"), []byte(tool), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DAEMON_ONLY", "daemon")
	s := testSpec(t, "runner-test-tool")
	s.OwnEnv = true
	s.BaseEnv = []string{"PATH=" + venv + ":/usr/bin:/bin", "MY_VAR=hello"}
	if err := Supervise(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if out := readLog(t, s); !strings.Contains(out, "tool from venv, MY_VAR=hello, DAEMON_ONLY=, job=42\n") {
		t.Errorf("job log:\n%s", out)
	}

	// --env-clear: no PATH at all; a bare name is not found, an absolute one runs.
	s = testSpec(t, "sh", "-c", "echo ok")
	s.OwnEnv = true
	if err := Supervise(context.Background(), s); err == nil {
		t.Error("a bare command name ran with no PATH in the job's environment")
	}
	if out := readLog(t, s); !strings.Contains(out, "job's PATH") {
		t.Errorf("start failure does not mention the job's PATH:\n%s", out)
	}
	s = testSpec(t, "/bin/sh", "-c", "env")
	s.OwnEnv, s.Env = true, []string{"ONLY=this"}
	if err := Supervise(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	out := readLog(t, s)
	if !strings.Contains(out, "ONLY=this\n") || strings.Contains(out, "DAEMON_ONLY") || strings.Contains(out, "HOME=") {
		t.Errorf("cleared environment:\n%s", out)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{"bin/exe", 0o755}, {"bin/plain", 0o644}, {"rel/tool", 0o755}} {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + filepath.Join(dir, "bin") + ":rel"}
	for file, want := range map[string]string{
		"exe": filepath.Join(dir, "bin", "exe"), "tool": filepath.Join(dir, "rel", "tool"),
		"./x/y": "./x/y", "plain": "", "missing": "",
	} {
		got, err := lookPath(file, env, dir)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("lookPath(%q) = %q, %v; want %q", file, got, err, want)
		}
	}
}
