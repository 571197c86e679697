package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// report --sweep ID shows the runs of that sweep's (array's) jobs, and only
// those; a sweep none of whose jobs has a run yet is one line, exit 1.
func TestReportOfASweep(t *testing.T) {
	root := t.TempDir()
	c := runnerCLI{t: t, db: filepath.Join(t.TempDir(), "ledger.db")}
	db := ledgertest.Open(t, c.db, ledger.Options{})
	ctx := context.Background()
	spec := ledger.JobSpec{Argv: []string{"true"}, Cwd: root}
	arr, err := db.SubmitJobs(ctx, []ledger.JobSpec{spec, spec}, true)
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := db.SubmitJobs(ctx, []ledger.JobSpec{spec}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range append(arr, other) {
		writeRun(t, root, runSpec{id: j.RunID, name: "run " + j.RunID, project: "pde", start: base0.Add(time.Duration(i) * time.Hour),
			lr: 1e-3, losses: history(3, 0.2), summary: map[string]float64{"eval/nrmse": 0.1 + float64(i)/100}})
	}
	if _, errOut, code := c.run("backfill", root); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, errOut)
	}
	out := filepath.Join(t.TempDir(), "sweep.html")
	if _, stderr, code := c.run("report", "--sweep", strconv.FormatInt(arr[0].ArrayID, 10), "--rank", "eval/nrmse", "-o", out); code != 0 {
		t.Fatalf("report --sweep: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	page := string(b)
	if n := strings.Count(page, `class="toggle"`); n != 2 || !strings.Contains(page, arr[1].RunID) || strings.Contains(page, other.RunID) {
		t.Errorf("report --sweep: %d rows; want the sweep's 2 runs and not job %d's", n, other.ID)
	}
	_, stderr, code := c.run("report", "--sweep", strconv.FormatInt(empty[0].ArrayID, 10), "--rank", "eval/nrmse", "-o", out)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "has a recorded run yet") {
		t.Errorf("report --sweep of jobs without runs: exit %d, %q", code, stderr)
	}
}
