package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command refuses arguments it does not use, naming the first one.
func TestExtraArgumentsAreUsageErrors(t *testing.T) {
	c := newShell(t)
	for _, tc := range []struct {
		args  []string
		extra string
	}{
		{[]string{"runs", "pde"}, "pde"}, {[]string{"status", "extra"}, "extra"}, {[]string{"logs", "1", "2"}, "2"},
		{[]string{"inspect", "a", "b"}, "b"}, {[]string{"jobs", "x"}, "x"}, {[]string{"gc", "now"}, "now"},
		{[]string{"doctor", "x"}, "x"}, {[]string{"version", "x"}, "x"}, {[]string{"check", "r1", "r2"}, "r2"},
		{[]string{"leaderboard", "x", "--metric", "m"}, "x"},
	} {
		_, stderr, code := c.run(tc.args...)
		if code != 2 || !strings.Contains(stderr, `unexpected argument "`+tc.extra+`"`) {
			t.Errorf("runner %v: exit %d, %q; want 2 naming %q", tc.args, code, stderr, tc.extra)
		}
	}
}

// Global flags work after the command too, as the README says.
func TestGlobalFlagsAfterTheCommand(t *testing.T) {
	c := newShell(t)
	other := filepath.Join(t.TempDir(), "other.db")
	if _, stderr, code := c.run("submit", "--hold", "--db", other, "true"); code != 0 {
		t.Fatalf("submit --db after the command: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("--db after the command was not used: %v", err)
	}
	out, stderr, code := c.run("jobs", "--json", "--db", other, "--log-level", "debug")
	if code != 0 || !strings.Contains(out, `"command": [`) {
		t.Errorf("jobs --db after the command: exit %d, %q %q", code, out, stderr)
	}
	// The job's own flags stay the job's, even a global flag's name.
	if _, stderr, code := c.run("submit", "--hold", "--db", other, "python", "train.py", "--db", "mine"); code != 0 {
		t.Fatalf("submit with --db in the job's command: exit %d, %s", code, stderr)
	}
	out, _, _ = c.run("jobs", "--db", other, "--json")
	if !strings.Contains(out, `"--db",`) || !strings.Contains(out, `"mine"`) {
		t.Errorf("the job's --db was taken by runner:\n%s", out)
	}
}
