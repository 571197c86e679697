package kernels

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot errors callers branch on (the CLI turns them into usage errors).
var (
	ErrPlotFormat = errors.New("unsupported plot format")
	ErrNoData     = errors.New("no data to plot")
)

// Series is one line of a plot: a metric of one run over steps.
type Series struct {
	Name   string    `json:"name"`
	Steps  []float64 `json:"steps"`
	Values []float64 `json:"values"`
}

// PlotSeries draws metric against step, one line per series with a legend,
// and writes it to w as "png" or "svg". Non-finite points are left out.
func PlotSeries(w io.Writer, format, metric string, series []Series, width, height vg.Length) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	p, _, err := buildSeriesPlot(metric, series)
	if err != nil {
		return err
	}
	return render(w, p, format, width, height)
}

// PlotBars draws one bar per label (a leaderboard, a pass/fail gate) and
// writes it to w as "png" or "svg".
func PlotBars(w io.Writer, format, metric string, labels []string, values []float64, width, height vg.Length) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	p, _, err := buildBarsPlot(metric, labels, values, width)
	if err != nil {
		return err
	}
	return render(w, p, format, width, height)
}

func checkFormat(format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot format %q: want png or svg: %w", format, ErrPlotFormat)
	}
	return nil
}

func render(w io.Writer, p *plot.Plot, format string, width, height vg.Length) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("plot size %vx%v: must be positive", width, height)
	}
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return fmt.Errorf("render %s plot: %w", format, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("write %s plot: %w", format, err)
	}
	return nil
}

// buildSeriesPlot builds the line plot without rendering it. It also returns
// the lines it added (plot.Plot does not expose its plotters), so tests can
// check that the plotted points are exactly the inputs.
func buildSeriesPlot(metric string, series []Series) (*plot.Plot, []*plotter.Line, error) {
	p := plot.New()
	p.Title.Text = metric
	p.X.Label.Text = "step"
	p.X.Tick.Marker = stepTicks{}
	p.Y.Label.Text = metric
	p.Legend.Top = true
	var lines []*plotter.Line
	for i, s := range series {
		if len(s.Steps) != len(s.Values) {
			return nil, nil, fmt.Errorf("series %q: %d steps but %d values", s.Name, len(s.Steps), len(s.Values))
		}
		xys := make(plotter.XYs, 0, len(s.Steps))
		for j := range s.Steps {
			x, y := s.Steps[j], s.Values[j]
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		p.Add(l)
		p.Legend.Add(s.Name, l)
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, nil, fmt.Errorf("metric %q: %w", metric, ErrNoData)
	}
	p.Add(plotter.NewGrid())
	return p, lines, nil
}

// buildBarsPlot builds the bar chart without rendering it, returning the
// bars for tests as buildSeriesPlot does.
func buildBarsPlot(metric string, labels []string, values []float64, width vg.Length) (*plot.Plot, *plotter.BarChart, error) {
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
	p := plot.New()
	p.Title.Text = metric
	p.Y.Label.Text = metric
	// Bars share the data area; leave room for gaps and axes.
	barW := width / vg.Length(2*len(values)+2)
	bars, err := plotter.NewBarChart(plotter.Values(values), barW)
	if err != nil {
		return nil, nil, fmt.Errorf("bar plot %q: %w", metric, err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	return p, bars, nil
}

// stepTicks labels the step axis with plain numbers (250, not 250.00).
type stepTicks struct{}

func (stepTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}
