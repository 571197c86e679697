package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/plot"
	"github.com/runnerhq/runner/wandbfile"
)

// Plot size: 8 x 5 inches, 768 x 480 pixels in PNG.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
)

// PlotReport is `runner plot --json`: what was drawn, point by point.
type PlotReport struct {
	File   string        `json:"file"`
	Format string        `json:"format"`
	Metric string        `json:"metric"`
	LogY   bool          `json:"log_y"`
	Smooth float64       `json:"smooth"` // the EMA weight drawn; series stay raw
	Series []plot.Series `json:"series"` // line plot: one per run (name = run name)
	Bars   []PlotBar     `json:"bars"`   // --leaderboard: one per run, best first
	// LeftOut are the RUN arguments, as given, with no finite point of
	// Metric: not drawn and not in Series, so counts name only runs drawn.
	LeftOut []string `json:"left_out"`
}

// PlotBar is one bar of a leaderboard plot.
type PlotBar struct {
	Label string  `json:"label"`
	RunID string  `json:"run_id"`
	Value float64 `json:"value"`
}

// PlotFile is the file a plot goes to and its format: out, else the metric
// with / as _ (and _leaderboard) in PNG; the format is out's extension,
// png or svg.
func PlotFile(metric, out string, leaderboard bool) (file, format string, err error) {
	if out == "" {
		out = strings.ReplaceAll(metric, "/", "_")
		if leaderboard {
			out += "_leaderboard"
		}
		out += ".png"
	}
	format = strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
	if format != "png" && format != "svg" {
		return "", "", fmt.Errorf("output %s: want a .png or .svg file", out)
	}
	return out, format, nil
}

// PlotRuns re-reads the runs' logs (every stage, in order) and draws metric
// against step, one line per run, to file.
func PlotRuns(ctx context.Context, db *ledger.DB, sels []string, metric, file, format string, o plot.Options) (*PlotReport, error) {
	rep := &PlotReport{File: file, Format: format, Metric: metric, LogY: o.LogY, Smooth: o.Smooth, Series: []plot.Series{}, LeftOut: []string{}}
	names := map[string]int{}
	for _, sel := range sels {
		g, err := resolveGroup(ctx, db, "plot", sel)
		if err != nil {
			return nil, err
		}
		s := plot.Series{Name: g.Name(), Steps: []float64{}, Values: []float64{}}
		if s.Name == "" {
			s.Name = g.ID()
		}
		for _, r := range g.Runs {
			col := kernels.NewSeriesCollector(kernels.DefaultMaxPoints, metric)
			if _, err := wandbfile.ReadFile(r.LogPath, wandbfile.Options{History: col.Add}); err != nil {
				return nil, fmt.Errorf("plot %s: read %s: %w", sel, r.LogPath, err)
			}
			part := col.Series(metric)
			s.Steps = append(s.Steps, part.Steps...)
			s.Values = append(s.Values, part.Values...)
		}
		if !hasFinite(s.Values) {
			rep.LeftOut = append(rep.LeftOut, sel)
			continue
		}
		if names[s.Name]++; names[s.Name] > 1 {
			s.Name += " (" + g.ID() + ")"
		}
		rep.Series = append(rep.Series, s)
	}
	if len(rep.Series) == 0 {
		return nil, fmt.Errorf("plot: none of the runs logged a finite %s to history", metric)
	}
	// Data over more than plot.LogDecades gets a log axis unasked, as in the HTML report.
	o.LogY = o.LogY || plot.WantsLog(rep.Series)
	rep.LogY = o.LogY
	var buf bytes.Buffer
	if err := plot.Lines(&buf, format, metric, rep.Series, plotWidth, plotHeight, o); err != nil {
		if errors.Is(err, plot.ErrNoData) {
			return nil, fmt.Errorf("plot: none of the runs logged a finite %s to history", metric)
		}
		return nil, fmt.Errorf("plot: %w", err)
	}
	if err := WriteFileAtomic(file, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return rep, nil
}

func hasFinite(vs []float64) bool {
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return true
		}
	}
	return false
}

// PlotLeaderboard draws the leaderboard of o.Metric as bars, best first.
func PlotLeaderboard(ctx context.Context, db *ledger.DB, o LeaderboardOptions, file, format string) (*PlotReport, error) {
	lb, err := GetLeaderboard(ctx, db, o)
	if err != nil {
		return nil, err
	}
	if len(lb.Rows) == 0 {
		return nil, fmt.Errorf("plot: no run has a numeric summary value for %s", o.Metric)
	}
	rep := &PlotReport{File: file, Format: format, Metric: o.Metric, Bars: []PlotBar{}}
	labels := make([]string, len(lb.Rows))
	values := make([]float64, len(lb.Rows))
	for i, r := range lb.Rows {
		labels[i] = string(r.Name)
		if labels[i] == "" {
			labels[i] = r.RunID
		}
		values[i] = r.Value
		rep.Bars = append(rep.Bars, PlotBar{Label: labels[i], RunID: r.RunID, Value: r.Value})
	}
	title := fmt.Sprintf("%s (%s is better)", o.Metric, lb.Goal)
	var buf bytes.Buffer
	if err := plot.Bars(&buf, format, title, labels, values, plotWidth, plotHeight); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	if err := WriteFileAtomic(file, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return rep, nil
}

// WriteFileAtomic writes path through a temporary file so a reader never sees half an image.
func WriteFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
