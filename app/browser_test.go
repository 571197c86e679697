package app

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/net/html"

	"github.com/runnerhq/runner/internal/browser"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
	"github.com/runnerhq/runner/report"
)

// seen is what a person's browser shows of a report once its scripts ran.
type seen struct {
	rows, lines, charts int
	rendered            int // ms after navigation start; -1: set-up never ended
	errors              string
}

func look(t *testing.T, dom []byte) seen {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("DOM does not parse: %v", err)
	}
	s := seen{rendered: -1}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch {
			case n.Data == "body":
				if v, ok := attr["data-rendered"]; ok {
					s.rendered, _ = strconv.Atoi(v)
				}
				s.errors = attr["data-errors"]
			case n.Data == "tr" && (attr["class"] == "run" || attr["class"] == "run regressed"):
				s.rows++
			case n.Data == "polyline":
				s.lines++
			case n.Data == "svg" && attr["class"] == "chart":
				s.charts++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return s
}

// The report file and the served page, opened in a real (headless)
// Chromium: the scripts run to the end without an error, every run's row
// and line is in the DOM, and a screenshot of each is kept in the test's
// temp dir. CI installs Debian's chromium for this (best effort); where
// there is none the test says so and skips.
func TestReportInABrowser(t *testing.T) {
	b, err := browser.Find(t.TempDir())
	if err != nil {
		t.Skipf("browser test not run: %v", err)
	}
	c, _ := project(t)
	shots := t.TempDir()
	ctx := context.Background()
	check := func(what, url string) {
		t.Helper()
		dom, err := b.DOM(ctx, url)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		s := look(t, dom)
		if s.errors != "" || s.rendered < 0 {
			t.Errorf("%s: scripts failed (errors %q, rendered %d)", what, s.errors, s.rendered)
		}
		if s.rows != 10 || s.lines != 10 || s.charts != 1 {
			t.Errorf("%s: browser shows %d leaderboard rows, %d lines in %d charts; want 10, 10, 1", what, s.rows, s.lines, s.charts)
		}
		png := filepath.Join(shots, what+".png")
		if err := b.Screenshot(ctx, url, png); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: set up %d ms after navigation start; screenshot %s", what, s.rendered, png)
	}

	out := filepath.Join(t.TempDir(), "report.html")
	if _, stderr, code := c.run("report", "--project", "pde", "--rank", "eval/nrmse", "--metric", "train/loss", "-o", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	check("file", "file://"+out)

	db := ledgertest.Open(t, c.db, ledger.Options{ReadOnly: true})
	srv := httptest.NewServer(report.Handler(db, report.Options{Rank: "eval/nrmse", Metrics: []string{"train/loss"}}, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	check("served", srv.URL+"/")
}
