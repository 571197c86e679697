package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/report"
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

func TestServeIsReadOnlyAndLoopbackOnly(t *testing.T) {
	c, _ := project(t)
	db := ledgertest.Open(t, c.db, ledger.Options{ReadOnly: true})
	srv := httptest.NewServer(report.Handler(db, report.Options{Rank: "eval/nrmse", Metrics: []string{"train/loss"}}, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, page := get("/")
	if code != 200 || strings.Count(page, `class="toggle"`) != 10 || !strings.Contains(page, `data-poll="/api/version"`) {
		t.Errorf("GET /: %d, %d rows, polls: %v", code, strings.Count(page, `class="toggle"`), strings.Contains(page, "data-poll"))
	}
	code, body := get(report.VersionPath)
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Version == "" {
		t.Errorf("GET %s: %d %q", report.VersionPath, code, body)
	}
	for _, path := range []string{"/jobs", "/logs/1", "/env", "/api/jobs"} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	res, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", res.StatusCode)
	}
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8080", ":8080"} {
		stdout, stderr, code := c.run("serve", "--listen", addr)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--listen-public") {
			t.Errorf("serve --listen %s: exit %d, stderr %q; want exit 2 naming --listen-public", addr, code, stderr)
		}
	}
}
