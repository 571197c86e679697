package report

import (
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/plot"
)

// Point budgets. A page's size is about its points (~13 bytes each in an
// SVG polyline, "123.4,234.5 "), and so is the browser's time to build it,
// so the budget is for the whole page: 300,000 points keep the 1,000-run
// page near 6 MB and its set-up in a browser under 2 s
// (BenchmarkBrowserRender1000Runs; 1,000,000 made it 14.5 MB and 4.5 s). A
// line keeps at most maxPerSeries, more than a chart's pixels can show, and
// at least minPerSeries, which only a page of thousands of overlaid lines
// (a hairball whatever the resolution) comes down to.
const (
	pageBudget   = 300_000
	maxPerSeries = 1000
	minPerSeries = 15
)

// PointsPerSeries is how many points each line keeps (LTTB) on a page of
// runs x metrics lines.
func PointsPerSeries(runs, metrics int) int {
	n := max(runs*metrics, 1)
	return min(maxPerSeries, max(minPerSeries, pageBudget/n))
}

// Line is one run's downsampled series on a chart; Run is the run's row in
// the leaderboard, which gives it one colour and one toggle on every chart.
type Line struct {
	Run int
	kernels.Series
}

// Chart is one history metric of the report's runs.
type Chart struct {
	Metric string
	Lines  []Line
	// NoData are the runs (leaderboard rows) that logged no point of Metric.
	NoData []int
}

// Charts collects downsampled lines, one chart per metric.
type Charts struct {
	per    int
	order  []string
	by     map[string]*Chart
	nextID map[string]int
}

// NewCharts is ready for runs lines on each of metrics.
func NewCharts(metrics []string, runs int) *Charts {
	c := &Charts{per: PointsPerSeries(runs, len(metrics)), by: map[string]*Chart{}, nextID: map[string]int{}}
	for _, m := range metrics {
		if c.by[m] == nil {
			c.order = append(c.order, m)
			c.by[m] = &Chart{Metric: m}
		}
	}
	return c
}

// Add downsamples s, the next run's series of metric, onto its chart; the
// caller's slices are not kept, so it may reuse them.
func (c *Charts) Add(metric string, s kernels.Series) {
	ch := c.by[metric]
	if ch == nil {
		return
	}
	run := c.nextID[metric]
	c.nextID[metric]++
	xs, ys := finitePoints(s.Steps, s.Values)
	if len(xs) == 0 {
		ch.NoData = append(ch.NoData, run)
		return
	}
	xs, ys = kernels.LTTB(xs, ys, c.per)
	ch.Lines = append(ch.Lines, Line{Run: run, Series: kernels.Series{Name: s.Name,
		Steps: append([]float64(nil), xs...), Values: append([]float64(nil), ys...)}})
}

// Charts returns the charts in the order of the metrics asked for.
func (c *Charts) Charts() []Chart {
	out := make([]Chart, 0, len(c.order))
	for _, m := range c.order {
		out = append(out, *c.by[m])
	}
	return out
}

func finitePoints(xs, ys []float64) ([]float64, []float64) {
	ok := true
	for i := range ys {
		ok = ok && finite(ys[i]) && finite(xs[i])
	}
	if ok {
		return xs, ys
	}
	var ox, oy []float64
	for i := range ys {
		if finite(ys[i]) && finite(xs[i]) {
			ox, oy = append(ox, xs[i]), append(oy, ys[i])
		}
	}
	return ox, oy
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Chart geometry in SVG user units; the SVG scales to the page width.
const (
	chartW, chartH                     = 720.0, 280.0
	padL, padR, padT, padB             = 64.0, 12.0, 10.0, 28.0
	plotW, plotH                       = chartW - padL - padR, chartH - padT - padB
	tickLen                            = 4.0
	fontSize                           = 11
	colourCount                        = 10
	strokeW                            = 1.4
	gridColour, axisColour, textColour = "#e3e3e3", "#888", "#333"
)

// palette is Tableau 10: distinct for the first ten runs, then repeating.
var palette = [colourCount]string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

func colour(run int) string { return palette[run%colourCount] }

// scale maps data to chart units, linear or log10.
type scale struct {
	lo, hi   float64
	p0, p1   float64
	log      bool
	integral bool
}

func (s scale) at(v float64) float64 {
	a, b, x := s.lo, s.hi, v
	if s.log {
		a, b, x = math.Log10(a), math.Log10(b), math.Log10(v)
	}
	if b == a {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (x-a)/(b-a)*(s.p1-s.p0)
}

func (s scale) ticks() ([]float64, []string) {
	if !s.log {
		return plot.TickMarks(s.lo, s.hi, s.integral)
	}
	var vs []float64
	var ls []string
	for e := math.Ceil(math.Log10(s.lo)); e <= math.Floor(math.Log10(s.hi)); e++ {
		vs = append(vs, math.Pow(10, e))
		ls = append(ls, "1e"+strconv.Itoa(int(e)))
	}
	return vs, ls
}

// svgChart draws ch as inline SVG. Every line is a polyline carrying its
// run (data-run) for the page's toggles and hover; the axes' ranges are on
// the svg element (data-*) so the hover can turn positions back into steps
// and values.
func svgChart(ch Chart) template.HTML {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, l := range ch.Lines {
		for i := range l.Steps {
			xlo, xhi = min(xlo, l.Steps[i]), max(xhi, l.Steps[i])
			ylo, yhi = min(ylo, l.Values[i]), max(yhi, l.Values[i])
		}
	}
	var b strings.Builder
	if len(ch.Lines) == 0 {
		return ""
	}
	if yhi == ylo {
		ylo, yhi = ylo-0.5, yhi+0.5
	}
	if xhi == xlo {
		xhi = xlo + 1
	}
	logY := plot.SpansDecades(ylo, yhi)
	if !logY {
		pad := (yhi - ylo) * 0.04
		ylo, yhi = ylo-pad, yhi+pad
	}
	xs := scale{lo: xlo, hi: xhi, p0: padL, p1: padL + plotW, integral: true}
	ys := scale{lo: ylo, hi: yhi, p0: padT + plotH, p1: padT, log: logY}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	b.WriteString(`<svg class="chart" viewBox="0 0 ` + f(chartW) + " " + f(chartH) + `" role="img" data-x0="` + g(xlo) +
		`" data-x1="` + g(xhi) + `" data-y0="` + g(ylo) + `" data-y1="` + g(yhi) + `" data-log="` + strconv.FormatBool(logY) +
		`" data-l="` + f(padL) + `" data-w="` + f(plotW) + `" data-t="` + f(padT) + `" data-h="` + f(plotH) + `">`)
	b.WriteString(`<rect x="0" y="0" width="` + f(chartW) + `" height="` + f(chartH) + `" fill="#fff"/>`)
	tv, tl := ys.ticks()
	for i, v := range tv {
		y := f(ys.at(v))
		b.WriteString(`<line x1="` + f(padL) + `" x2="` + f(padL+plotW) + `" y1="` + y + `" y2="` + y + `" stroke="` + gridColour + `"/>`)
		b.WriteString(`<text x="` + f(padL-tickLen-2) + `" y="` + y + `" text-anchor="end" dominant-baseline="middle" font-size="` +
			strconv.Itoa(fontSize) + `" fill="` + textColour + `">` + template.HTMLEscapeString(tl[i]) + `</text>`)
	}
	tv, tl = xs.ticks()
	for i, v := range tv {
		x := f(xs.at(v))
		b.WriteString(`<line x1="` + x + `" x2="` + x + `" y1="` + f(padT+plotH) + `" y2="` + f(padT+plotH+tickLen) + `" stroke="` + axisColour + `"/>`)
		b.WriteString(`<text x="` + x + `" y="` + f(padT+plotH+tickLen+fontSize+1) + `" text-anchor="middle" font-size="` +
			strconv.Itoa(fontSize) + `" fill="` + textColour + `">` + template.HTMLEscapeString(tl[i]) + `</text>`)
	}
	b.WriteString(`<rect x="` + f(padL) + `" y="` + f(padT) + `" width="` + f(plotW) + `" height="` + f(plotH) +
		`" fill="none" stroke="` + axisColour + `"/>`)
	pts := make([]byte, 0, 4096)
	for _, l := range ch.Lines {
		pts = pts[:0]
		for i := range l.Steps {
			if logY && l.Values[i] <= 0 {
				continue // no place on a log axis
			}
			if len(pts) > 0 {
				pts = append(pts, ' ')
			}
			pts = strconv.AppendFloat(pts, xs.at(l.Steps[i]), 'f', 1, 64)
			pts = append(pts, ',')
			pts = strconv.AppendFloat(pts, ys.at(l.Values[i]), 'f', 1, 64)
		}
		b.WriteString(`<polyline class="line" data-run="` + strconv.Itoa(l.Run) + `" data-name="` +
			template.HTMLEscapeString(plot.ShortName(l.Name)) + `" fill="none" stroke="` + colour(l.Run) + `" stroke-width="` +
			strconv.FormatFloat(strokeW, 'f', 1, 64) + `" points="`)
		b.Write(pts)
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every name in it went through HTMLEscapeString
}
