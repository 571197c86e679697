// Package plot draws runner's charts as PNG or SVG (gonum/plot): a metric
// against step for runs, and a leaderboard as bars. It reads nothing; the
// reports package hands it the numbers.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/runnerhq/runner/kernels"
)

// Plot errors callers branch on (the CLI turns them into usage errors).
var (
	ErrFormat = errors.New("unsupported plot format")
	ErrNoData = errors.New("no data to plot")
)

// maxLabel is the longest run name a legend or bar label shows; longer ones
// are cut with "…" so no label is ever clipped by the image's edge.
const maxLabel = 32

// Series is one line of a plot: a metric of one run over steps, as the
// kernels collect it from a log.
type Series = kernels.Series

// LogDecades is how many decades of positive values a chart spans before
// it is drawn on a log scale without being asked (PNG, SVG and the HTML
// report alike): a loss from 10 to 0.001 is a flat line at the bottom
// on a linear axis.
const LogDecades = 3

// SpansDecades reports whether values from lo to hi call for a log scale.
func SpansDecades(lo, hi float64) bool {
	return lo > 0 && hi/lo > math.Pow(10, LogDecades)
}

// WantsLog reports whether the finite values of series span more than
// LogDecades (all positive).
func WantsLog(series []Series) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	return SpansDecades(lo, hi)
}

// Options change how a line plot is drawn.
type Options struct {
	LogY   bool    // logarithmic y axis; points ≤ 0 are left out
	Smooth float64 // EMA weight in [0, 1) as W&B's panel smoothing; 0: none (Smooth)

	width vg.Length // of the image, to fit legend names; 0: no fitting
}

// Lines draws metric against step, one line per series, with the
// legend to the right of the data (never on the lines), and writes it to w
// as "png" or "svg". Non-finite points are left out.
func Lines(w io.Writer, format, metric string, series []Series, width, height vg.Length, o Options) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	c, err := newCanvas(format, width, height)
	if err != nil {
		return err
	}
	if err := drawSeries(c, metric, series, o); err != nil {
		return err
	}
	return writeCanvas(w, c, format)
}

// Bars draws one horizontal bar per label, best first from the top (a
// leaderboard), labels on the left where any length fits, and writes it to
// w as "png" or "svg".
func Bars(w io.Writer, format, metric string, labels []string, values []float64, width, height vg.Length) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	p, _, err := buildBarsPlot(metric, labels, values, height)
	if err != nil {
		return err
	}
	c, err := newCanvas(format, width, height)
	if err != nil {
		return err
	}
	drawPlot(c, p)
	return writeCanvas(w, c, format)
}

func checkFormat(format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot format %q: want png or svg: %w", format, ErrFormat)
	}
	return nil
}

func newCanvas(format string, width, height vg.Length) (vg.CanvasSizer, error) {
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("plot size %vx%v: must be positive", width, height)
	}
	if format == "svg" {
		return vgsvg.New(width, height), nil
	}
	return vgimg.New(width, height), nil
}

func writeCanvas(w io.Writer, c vg.CanvasSizer, format string) error {
	var err error
	switch c := c.(type) {
	case *vgsvg.Canvas:
		_, err = c.WriteTo(w)
	case *vgimg.Canvas:
		_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	default:
		err = fmt.Errorf("no writer for %T", c)
	}
	if err != nil {
		return fmt.Errorf("write %s plot: %w", format, err)
	}
	return nil
}

// drawPlot draws p on all of c.
func drawPlot(c vg.CanvasSizer, p *gplot.Plot) { p.Draw(draw.New(c)) }

// drawSeries draws the line plot on c: the data and axes on the left, the
// legend in its own column on the right, as wide as its longest name.
func drawSeries(c vg.CanvasSizer, metric string, series []Series, o Options) error {
	w, _ := c.Size()
	o.width = w
	p, legend, _, err := buildSeriesPlot(metric, series, o)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	lw := legendWidth(legend, series, dc.Max.X-dc.Min.X)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+legendGap, 0, 0, 0))
	return nil
}

// legendGap separates the legend column from the axes.
const legendGap = vg.Length(8)

// legendRoom is the most of the image's width the legend column may take.
const legendRoom = 0.35

// legendWidth is the room the legend needs: its longest name, the line
// sample and padding; names were fitted to legendRoom (fitLegend).
func legendWidth(l gplot.Legend, series []Series, total vg.Length) vg.Length {
	var longest vg.Length
	for _, s := range series {
		longest = max(longest, l.TextStyle.Width(fitLegend(l, s.Name, total)))
	}
	return min(longest+l.ThumbnailWidth+l.Padding+legendGap+vg.Points(4), total*legendRoom)
}

// fitLegend cuts name so the legend entry fits a column of legendRoom of
// width total: long run names end in "…" rather than run over the data.
func fitLegend(l gplot.Legend, name string, total vg.Length) string {
	room := total*legendRoom - l.ThumbnailWidth - l.Padding - legendGap - vg.Points(4)
	name = shorten(name)
	for r := []rune(name); l.TextStyle.Width(name) > room && len(r) > 2; {
		r = append(r[:len(r)-2], '…')
		name = string(r)
	}
	return name
}

// shorten cuts a label to maxLabel runes.
func shorten(s string) string {
	r := []rune(s)
	if len(r) <= maxLabel {
		return s
	}
	return string(r[:maxLabel-1]) + "…"
}

// Smooth is the exponential moving average W&B's panels draw (and
// TensorBoard's): each point is weight × the previous smoothed value +
// (1 - weight) × this value, debiased so the first points are not pulled
// towards zero. weight 0 returns the values as they are.
func Smooth(values []float64, weight float64) []float64 {
	out := make([]float64, len(values))
	last, n := 0.0, 0
	for i, v := range values {
		if weight <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			out[i] = v
			continue
		}
		last = last*weight + (1-weight)*v
		n++
		out[i] = last / (1 - math.Pow(weight, float64(n)))
	}
	return out
}

// buildSeriesPlot builds the line plot and its legend without drawing
// them. It also returns the lines (gplot.Plot does not expose its plotters),
// so tests can check the plotted points.
func buildSeriesPlot(metric string, series []Series, o Options) (*gplot.Plot, gplot.Legend, []*plotter.Line, error) {
	if o.Smooth < 0 || o.Smooth >= 1 {
		return nil, gplot.Legend{}, nil, fmt.Errorf("smoothing %v: want a weight from 0 up to (not including) 1", o.Smooth)
	}
	p := gplot.New()
	p.Title.Text = metric
	p.X.Label.Text = "step"
	p.X.Tick.Marker = niceTicks{integer: true}
	p.Y.Label.Text = metric
	p.Y.Tick.Marker = niceTicks{}
	if o.LogY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Label.Text = metric + " (log scale)"
	}
	if o.Smooth > 0 {
		p.Title.Text = fmt.Sprintf("%s (smoothed, EMA %g)", metric, o.Smooth)
	}
	legend := gplot.NewLegend()
	legend.Top, legend.Left = true, true
	var lines []*plotter.Line
	for i, s := range series {
		if len(s.Steps) != len(s.Values) {
			return nil, legend, nil, fmt.Errorf("series %q: %d steps but %d values", s.Name, len(s.Steps), len(s.Values))
		}
		xys := points(s.Steps, Smooth(s.Values, o.Smooth), o.LogY)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, legend, nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		if o.Smooth > 0 {
			// The raw values stay visible, faint, under the smoothed line
			// (as W&B's panels show them), so smoothing hides no spike.
			raw, err := plotter.NewLine(points(s.Steps, s.Values, o.LogY))
			if err != nil {
				return nil, legend, nil, fmt.Errorf("series %q: %w", s.Name, err)
			}
			r, g, b, _ := l.Color.RGBA()
			raw.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 64}
			raw.Dashes = l.Dashes
			p.Add(raw)
		}
		p.Add(l)
		name := shorten(s.Name)
		if o.width > 0 {
			name = fitLegend(legend, s.Name, o.width)
		}
		legend.Add(name, l)
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		if o.LogY {
			return nil, legend, nil, fmt.Errorf("metric %q: no positive value for a log scale: %w", metric, ErrNoData)
		}
		return nil, legend, nil, fmt.Errorf("metric %q: %w", metric, ErrNoData)
	}
	p.Add(plotter.NewGrid())
	return p, legend, lines, nil
}

// buildBarsPlot builds the horizontal bar chart without drawing it,
// returning the bars for tests. The first label is drawn at the top.
func buildBarsPlot(metric string, labels []string, values []float64, height vg.Length) (*gplot.Plot, *plotter.BarChart, error) {
	if len(labels) != len(values) {
		return nil, nil, fmt.Errorf("bar plot %q: %d labels but %d values", metric, len(labels), len(values))
	}
	if len(values) == 0 {
		return nil, nil, fmt.Errorf("metric %q: %w", metric, ErrNoData)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("bar plot %q: value of %q is %v", metric, labels[i], v)
		}
	}
	n := len(values)
	rev := make(plotter.Values, n)
	names := make([]string, n)
	for i := range values {
		rev[n-1-i] = values[i]
		names[n-1-i] = shorten(labels[i])
	}
	p := gplot.New()
	p.Title.Text = metric // the value axis needs no second label saying the same
	p.X.Tick.Marker = niceTicks{}
	// Bars share the data area; leave room for gaps and axes.
	barW := height / vg.Length(2*n+2)
	bars, err := plotter.NewBarChart(rev, barW)
	if err != nil {
		return nil, nil, fmt.Errorf("bar plot %q: %w", metric, err)
	}
	bars.Horizontal = true
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalY(names...)
	lo, hi := barRange(values)
	// Each bar's value at its end, so close scores need no reading off the axis.
	xys := make(plotter.XYs, n)
	text := make([]string, n)
	for i, v := range rev {
		xys[i] = plotter.XY{X: v, Y: float64(i)}
		text[i] = strconv.FormatFloat(v, 'g', 4, 64)
	}
	vals, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: text})
	if err != nil {
		return nil, nil, fmt.Errorf("bar plot %q: %w", metric, err)
	}
	for i := range vals.TextStyle {
		vals.TextStyle[i].YAlign = draw.YCenter
	}
	vals.Offset = vg.Point{X: vg.Points(3)}
	p.Add(vals)
	p.X.Min, p.X.Max = lo, hi
	return p, bars, nil
}

// barPad is the share of the value range added right of the longest bar,
// room for its printed value before the image's edge.
const barPad = 0.2

// barRange is the value axis of a bar chart. It starts at 0 when the values
// are spread from near 0; when they are clustered (0.093 to 0.100) it starts
// at the round tick just below min - 10% of the span, else every bar would
// look the same length. Bars are drawn from this baseline.
func barRange(values []float64) (lo, hi float64) {
	mn, mx := values[0], values[0]
	for _, v := range values {
		mn, mx = min(mn, v), max(mx, v)
	}
	span := mx - mn
	if span == 0 {
		span = math.Max(math.Abs(mx), 1) * 0.1
	}
	if mn >= 0 && mn < span {
		lo = 0
	} else {
		want := mn - 0.1*span
		step, _ := niceTicks{}.step(want, mx)
		lo = math.Floor(want/step) * step
	}
	return lo, mx + barPad*(mx-lo)
}

// logTicks labels a log axis at 1, 2 and 5 times powers of ten, so even a
// range within one decade gets at least three labels.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	if lo <= 0 || hi <= lo {
		return gplot.LogTicks{}.Ticks(lo, hi)
	}
	var ts []gplot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ts = append(ts, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 4, 64)})
			}
		}
	}
	if len(ts) < 3 {
		ts = []gplot.Tick{}
		for k := range 3 {
			v := lo * math.Pow(hi/lo, float64(k)/2)
			ts = append(ts, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 3, 64)})
		}
	}
	return ts
}

// niceTicks labels a linear axis at round values: a step of 1, 2 or 5 times
// a power of ten, the one giving 5 to 8 ticks in the range (the closest
// count when none does), so labels read 0, 50, 100 rather than 74.75, 149.5.
// integer axes (steps) never step below 1.
type niceTicks struct{ integer bool }

// Tick counts niceTicks aims for.
const minTicks, maxTicks = 5, 8

func (n niceTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []gplot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	step, exp := n.step(lo, hi)
	ts := []gplot.Tick{}
	for k := math.Ceil(lo / step); k*step <= hi*(1+1e-12)+1e-300; k++ {
		ts = append(ts, gplot.Tick{Value: k * step, Label: tickLabel(k*step, exp)})
	}
	return ts
}

// step picks the 1-2-5 step and its power of ten.
func (n niceTicks) step(lo, hi float64) (step float64, exp int) {
	count := func(s float64) int { return int(math.Floor(hi/s+1e-9) - math.Ceil(lo/s-1e-9) + 1) }
	e0 := int(math.Floor(math.Log10((hi - lo) / maxTicks)))
	bestDist := math.MaxInt
	for e := e0 - 1; e <= e0+1; e++ {
		for _, m := range []float64{1, 2, 5} {
			s := m * math.Pow(10, float64(e))
			if n.integer && s < 1 {
				continue
			}
			c := count(s)
			d := 0
			switch {
			case c < minTicks:
				d = minTicks - c
			case c > maxTicks:
				d = c - maxTicks
			}
			// Among equally good steps the first (smallest) wins: more labels.
			if d < bestDist {
				bestDist, step, exp = d, s, e
			}
		}
	}
	if step == 0 { // an integer axis narrower than one step
		step, exp = 1, 0
	}
	return step, exp
}

// tickLabel prints v with as many decimals as its step's power of ten needs,
// so a tick at 3×0.1 reads 0.3, not 0.30000000000000004.
func tickLabel(v float64, exp int) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', max(0, -exp), 64)
}

// TickMarks are the nice-number ticks of [lo, hi] that Lines and Bars draw,
// for charts drawn elsewhere (package report's HTML) to read the same.
func TickMarks(lo, hi float64, integer bool) (values []float64, labels []string) {
	for _, t := range (niceTicks{integer: integer}).Ticks(lo, hi) {
		values = append(values, t.Value)
		labels = append(labels, t.Label)
	}
	return values, labels
}

// ShortName cuts a run name the way the charts' labels do, so a run reads
// the same in a PNG and in the HTML report.
func ShortName(s string) string { return shorten(s) }

// points are the drawable (finite; positive on a log axis) points of a line.
func points(steps, values []float64, logY bool) plotter.XYs {
	xys := make(plotter.XYs, 0, len(steps))
	for j := range steps {
		x, y := steps[j], values[j]
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) || (logY && y <= 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	return xys
}
