package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportWritesOnePage(t *testing.T) {
	c, _ := project(t)
	out := filepath.Join(t.TempDir(), "r.html")
	stdout, stderr, code := c.run("report", "--project", "pde", "--rank", "eval/nrmse", "--metric", "train/loss", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote "+out+" (10 runs, 1 charts, ") {
		t.Errorf("stdout = %q", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// The bad run's nrmse is far off its baseline; its baseline runs are named.
	for _, want := range []string{`<tr class="regression">`, "bad lr", "base7", `data-name="baseline base0"`, "eval/nrmse"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<polyline"); n != 10 {
		t.Errorf("%d lines drawn, want 10", n)
	}
	// Two RUNs: only they are ranked and charted.
	if _, stderr, code := c.run("report", "bad", "base0", "--rank", "eval/nrmse", "-o", out); code != 0 {
		t.Fatalf("two runs: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), `class="toggle"`) != 2 {
		t.Errorf("two RUNs: want 2 leaderboard rows")
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "nosuchrun", "--rank", "eval/nrmse"}, 1},
		{[]string{"report", "--project", "other", "--rank", "eval/nrmse"}, 1},
		{[]string{"report", "--top", "0"}, 2},
		{[]string{"report", "--rank", "eval/psnr"}, 2}, // goal unknown: say --goal
	} {
		stdout, stderr, code := c.run(append(tc.args, "-o", out)...)
		if code != tc.code || stdout != "" || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line", tc.args, code, stdout, stderr, tc.code)
		}
	}
}
