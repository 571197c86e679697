package report

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/plot"
	"github.com/runnerhq/runner/reports"
)

// Page is what a report shows, read (Build) or made up (tests, benchmarks).
type Page struct {
	Title       string
	Generated   time.Time // zero: not printed
	Leaderboard *reports.Leaderboard
	Checks      map[string]reports.MetricCheck // run id -> check of Leaderboard.Metric against its baseline
	Compare     *reports.CompareReport         // the first MaxCompared runs
	Charts      []Chart
	// Poll is the URL the page polls for a changed ledger (runner serve); "" for a file.
	Poll string
}

//go:embed page.html.tmpl
var pageSource string

//go:embed page.js
var pageJS string

//go:embed page.css
var pageCSS string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"chart":  svgChart,
	"num":    num,
	"numPtr": numPtr,
	"pct":    pct,
	"colour": colour,
	"short":  plot.ShortName,
	"js":     func() template.JS { return template.JS(pageJS) },    // our own file, embedded
	"css":    func() template.CSS { return template.CSS(pageCSS) }, // our own file, embedded
	"join":   joinIDs,
	"raw":    func(b json.RawMessage) string { return string(b) },
	"regressed": func(c reports.MetricCheck) bool {
		return c.Verdict.Kind == kernels.VerdictRegression
	},
}).Parse(pageSource))

// Write renders p as one HTML file: styles, script and charts inline.
func Write(w io.Writer, p *Page) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := pageTmpl.Execute(bw, view(p)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// pageView is p arranged for the template.
type pageView struct {
	*Page
	Generated   string
	Regressions []regressionView
	Runs        []runView
	ConfigKeys  []string
}

type runView struct {
	Name  string // shortened run name, the run id for a run without one
	Index int
	Row   reports.LeaderboardRow
	Check *reports.MetricCheck
}

type regressionView struct {
	Name  string
	Row   reports.LeaderboardRow
	Check reports.MetricCheck
}

func view(p *Page) pageView {
	v := pageView{Page: p}
	if !p.Generated.IsZero() {
		v.Generated = p.Generated.UTC().Format(time.RFC3339)
	}
	for i, r := range p.Leaderboard.Rows {
		rv := runView{Name: label(r), Index: i, Row: r}
		if c, ok := p.Checks[r.RunID]; ok {
			rv.Check = &c
			if c.Verdict.Kind == kernels.VerdictRegression {
				v.Regressions = append(v.Regressions, regressionView{Name: rv.Name, Row: r, Check: c})
			}
		}
		v.Runs = append(v.Runs, rv)
	}
	if p.Compare != nil {
		for k := range p.Compare.ConfigDiff {
			v.ConfigKeys = append(v.ConfigKeys, k)
		}
		sort.Strings(v.ConfigKeys)
	}
	return v
}

func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func numPtr(f *float64) string {
	if f == nil {
		return "-"
	}
	return num(*f)
}

func pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

// joinIDs names baseline runs in a cell.
func joinIDs(ids []string) string { return strings.Join(ids, ", ") }

func label(r reports.LeaderboardRow) string {
	if r.Name != "" {
		return plot.ShortName(string(r.Name))
	}
	return r.RunID
}
