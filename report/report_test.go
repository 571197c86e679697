package report

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/runnerhq/runner/internal/null"
	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/reports"
)

// synthPage is a made-up report of runs runs, metrics history metrics of
// steps steps each, one run in ten regressed; run 0 is synced.
func synthPage(runs, metrics, steps int) *Page {
	url := "https://wandb.ai/lab/pde/runs/r0000"
	lb := &reports.Leaderboard{Metric: "eval/nrmse", Goal: kernels.GoalLower, GoalSource: "rule"}
	p := &Page{Title: "synthetic", Leaderboard: lb, Checks: map[string]reports.MetricCheck{}}
	names := make([]string, metrics)
	for m := range names {
		names[m] = fmt.Sprintf("operator/loss%02d", m)
	}
	cs := NewCharts(names, runs)
	s := kernels.Series{Steps: make([]float64, steps), Values: make([]float64, steps)}
	for r := 0; r < runs; r++ {
		id := fmt.Sprintf("r%04d", r)
		row := reports.LeaderboardRow{Rank: r + 1, RunID: id, Name: null.String("run " + id), Value: 0.09 + float64(r)*1e-5,
			State: "finished", SyncState: "pending", Dirs: []string{"/runs/" + id}}
		if r == 0 {
			row.URL, row.SyncState = &url, "synced"
		}
		lb.Rows = append(lb.Rows, row)
		kind := kernels.VerdictOK
		if r%10 == 9 {
			kind = kernels.VerdictRegression
		}
		p.Checks[id] = reports.MetricCheck{Verdict: kernels.Verdict{Metric: lb.Metric, Value: row.Value, Median: 0.09, Z: 4, Kind: kind},
			BaselineRunIDs: []string{"b1", "b2"}}
		for m := range names {
			s.Name = string(row.Name)
			for i := range s.Steps {
				s.Steps[i] = float64(i)
				s.Values[i] = math.Exp(-float64(i)/float64(steps)*4) + 0.01*math.Sin(float64(i*(r+m+1)))
			}
			cs.Add(names[m], s)
		}
	}
	p.Charts = cs.Charts()
	p.Compare = &reports.CompareReport{Summary: []kernels.CompareRow{{Metric: "eval/nrmse"}}}
	for i := range lb.Rows[:min(runs, MaxCompared)] {
		p.Compare.Runs = append(p.Compare.Runs, reports.RunRef{RunID: lb.Rows[i].RunID})
		p.Compare.Summary[0].Values = append(p.Compare.Summary[0].Values, &lb.Rows[i].Value)
	}
	return p
}

// counts are what a reader of the page sees, parsed from its HTML.
type counts struct {
	leaderboardRows, regressions, lines, charts, toggles int
	external                                             []string // http(s) src or href that is not a W&B run link
	wandbLinks                                           int
}

func parse(t *testing.T, b []byte) counts {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	var c counts
	var walk func(n *html.Node, inLeaderboard bool)
	walk = func(n *html.Node, inLeaderboard bool) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			if n.Data == "section" && attr["id"] == "leaderboard" {
				inLeaderboard = true
			}
			switch {
			case n.Data == "tr" && inLeaderboard && strings.Contains(attr["class"], "run"):
				c.leaderboardRows++
			case n.Data == "tr" && attr["class"] == "regression":
				c.regressions++
			case n.Data == "polyline":
				c.lines++
			case n.Data == "svg":
				c.charts++
			case n.Data == "input" && attr["class"] == "toggle":
				c.toggles++
			}
			for _, k := range []string{"src", "href"} {
				v := attr[k]
				switch {
				case strings.HasPrefix(v, "https://wandb.ai/") && strings.Contains(v, "/runs/") && n.Data == "a":
					c.wandbLinks++
				case strings.HasPrefix(v, "http:") || strings.HasPrefix(v, "https:") || strings.HasPrefix(v, "//"):
					c.external = append(c.external, n.Data+" "+k+"="+v)
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, inLeaderboard)
		}
	}
	walk(doc, false)
	return c
}

func TestWriteShowsEveryRunAndNothingExternal(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		runs, metrics, steps int
		wantRegressions      int
		maxBytes             int
	}{
		{"one run", 1, 1, 10, 0, 200 << 10},
		{"a group", 12, 3, 500, 1, 1 << 20},
		{"many long runs", 300, 5, 5000, 30, 20 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, synthPage(tc.runs, tc.metrics, tc.steps)); err != nil {
				t.Fatal(err)
			}
			c := parse(t, buf.Bytes())
			if c.leaderboardRows != tc.runs || c.toggles != tc.runs {
				t.Errorf("leaderboard rows %d, toggles %d; want %d", c.leaderboardRows, c.toggles, tc.runs)
			}
			if c.charts != tc.metrics || c.lines != tc.runs*tc.metrics {
				t.Errorf("%d charts with %d lines; want %d with %d", c.charts, c.lines, tc.metrics, tc.runs*tc.metrics)
			}
			if c.regressions != tc.wantRegressions {
				t.Errorf("%d regressions listed, want %d", c.regressions, tc.wantRegressions)
			}
			if len(c.external) > 0 || c.wandbLinks != 1 {
				t.Errorf("external URLs %v, W&B run links %d (want none and 1)", c.external, c.wandbLinks)
			}
			if buf.Len() > tc.maxBytes {
				t.Errorf("page is %d bytes, want at most %d", buf.Len(), tc.maxBytes)
			}
		})
	}
}

func TestChartsDownsampleAndNameRunsWithoutData(t *testing.T) {
	cs := NewCharts([]string{"loss"}, 2)
	steps := make([]float64, 10000)
	for i := range steps {
		steps[i] = float64(i)
	}
	cs.Add("loss", kernels.Series{Name: "long", Steps: steps, Values: steps})
	cs.Add("loss", kernels.Series{Name: "empty", Steps: []float64{1}, Values: []float64{math.NaN()}})
	got := cs.Charts()[0]
	if len(got.Lines) != 1 || len(got.Lines[0].Steps) != maxPerSeries || got.Lines[0].Steps[maxPerSeries-1] != 9999 {
		t.Errorf("lines %+v: want one of %d points ending at step 9999", len(got.Lines), maxPerSeries)
	}
	if len(got.NoData) != 1 || got.NoData[0] != 1 {
		t.Errorf("runs without data = %v, want [1]", got.NoData)
	}
	if n := PointsPerSeries(1000, 20); n*1000*20 > pageBudget || n < minPerSeries {
		t.Errorf("PointsPerSeries(1000, 20) = %d: over the page budget", n)
	}
}

func TestChartUsesLogScaleAcrossDecades(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []float64
		want   string
	}{
		{"five decades", []float64{10, 1, 0.1, 0.01, 0.0001}, `data-log="true"`},
		{"one decade", []float64{1, 0.5, 0.2, 0.1}, `data-log="false"`},
		{"crosses zero", []float64{1, -1, 1e-6}, `data-log="false"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := make([]float64, len(tc.values))
			for i := range steps {
				steps[i] = float64(i)
			}
			svg := string(svgChart(Chart{Metric: "m", Lines: []Line{{Series: kernels.Series{Name: "a", Steps: steps, Values: tc.values}}}}))
			if !strings.Contains(svg, tc.want) {
				t.Errorf("chart lacks %s", tc.want)
			}
		})
	}
}
