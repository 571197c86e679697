package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func TestBuildSeriesPlotUsesInputPoints(t *testing.T) {
	in := []Series{
		{Name: "run-a", Steps: []float64{0, 10, 20}, Values: []float64{1, 0.5, 0.25}},
		{Name: "run-b", Steps: []float64{0, 5, 15, 30}, Values: []float64{2, -1, math.NaN(), 0.5}},
	}
	p, _, lines, err := buildSeriesPlot("train/loss", in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Title.Text != "train/loss" || p.X.Label.Text != "step" || p.Y.Label.Text != "train/loss" {
		t.Errorf("title/labels = %q %q %q", p.Title.Text, p.X.Label.Text, p.Y.Label.Text)
	}
	var got []plotter.XYs
	for _, l := range lines {
		got = append(got, l.XYs)
	}
	want := []plotter.XYs{
		{{X: 0, Y: 1}, {X: 10, Y: 0.5}, {X: 20, Y: 0.25}},
		{{X: 0, Y: 2}, {X: 5, Y: -1}, {X: 30, Y: 0.5}}, // the NaN point is left out
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("line XYs = %v, want %v", got, want)
	}
}

func TestBuildSeriesPlotErrors(t *testing.T) {
	if _, _, _, err := buildSeriesPlot("m", []Series{{Name: "x", Steps: []float64{1, 2}, Values: []float64{1}}}, Options{}); err == nil {
		t.Error("mismatched steps/values accepted")
	}
	if _, _, _, err := buildSeriesPlot("m", []Series{{Name: "x"}}, Options{}); !errors.Is(err, ErrNoData) {
		t.Errorf("empty series error = %v, want ErrNoData", err)
	}
	var buf bytes.Buffer
	err := Lines(&buf, "gif", "m", []Series{{Name: "x", Steps: []float64{1}, Values: []float64{1}}}, 100, 100, Options{})
	if !errors.Is(err, ErrFormat) {
		t.Errorf("gif error = %v, want ErrFormat", err)
	}
	if err := Bars(&buf, "png", "m", []string{"a", "b"}, []float64{1}, 100, 100); err == nil {
		t.Error("mismatched labels/values accepted")
	}
	if err := Bars(&buf, "png", "m", nil, nil, 100, 100); !errors.Is(err, ErrNoData) {
		t.Errorf("empty bars error = %v, want ErrNoData", err)
	}
}

func TestPlotPNGHasRequestedSize(t *testing.T) {
	series := []Series{{Name: "run-a", Steps: []float64{0, 1, 2}, Values: []float64{3, 2, 1}}}
	tests := []struct {
		name string
		draw func(*bytes.Buffer) error
	}{
		{"series", func(b *bytes.Buffer) error {
			return Lines(b, "png", "train/loss", series, 4*vg.Inch, 3*vg.Inch, Options{})
		}},
		{"bars", func(b *bytes.Buffer) error {
			return Bars(b, "png", "eval/nrmse", []string{"r1", "r2"}, []float64{0.1, 0.2}, 4*vg.Inch, 3*vg.Inch)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.draw(&buf); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("output is not a PNG: %v", err)
			}
			// vgimg renders at 96 dpi: 4in x 3in = 384 x 288 px.
			if b := img.Bounds(); b.Dx() != 384 || b.Dy() != 288 {
				t.Errorf("PNG is %dx%d, want 384x288", b.Dx(), b.Dy())
			}
		})
	}
}

func TestPlotSVGParses(t *testing.T) {
	var buf bytes.Buffer
	series := []Series{
		{Name: "run-a", Steps: []float64{0, 1}, Values: []float64{1, 2}},
		{Name: "run-b", Steps: []float64{0, 1}, Values: []float64{2, 1}},
	}
	if err := Lines(&buf, "svg", "eval/mse", series, 5*vg.Inch, 3*vg.Inch, Options{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
		Height  string `xml:"height,attr"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("SVG does not parse as XML: %v", err)
	}
	if doc.XMLName.Local != "svg" || doc.Width != "360pt" || doc.Height != "216pt" {
		t.Errorf("root = <%s width=%q height=%q>, want <svg width=\"360pt\" height=\"216pt\">", doc.XMLName.Local, doc.Width, doc.Height)
	}
	for _, name := range []string{"run-a", "run-b", "eval/mse", "step"} {
		if !bytes.Contains(buf.Bytes(), []byte(name)) {
			t.Errorf("SVG lacks text %q (legend, title or axis label)", name)
		}
	}
}

func TestBuildBarsPlot(t *testing.T) {
	p, bars, err := buildBarsPlot("eval/nrmse", []string{"r1", "r2", "r3"}, []float64{0.3, 0.1, 0.2}, 300)
	if err != nil {
		t.Fatal(err)
	}
	// Horizontal, the first (best) label at the top: drawn last.
	if !reflect.DeepEqual(bars.Values, plotter.Values{0.2, 0.1, 0.3}) || !bars.Horizontal {
		t.Errorf("bar values = %v", bars.Values)
	}
	if p.Title.Text != "eval/nrmse" {
		t.Errorf("title = %q", p.Title.Text)
	}
	if _, _, err := buildBarsPlot("m", []string{"a"}, []float64{math.Inf(1)}, 300); err == nil {
		t.Error("infinite bar accepted")
	}
}

// Smoothing is W&B's (and TensorBoard's) debiased exponential moving average.
func TestSmooth(t *testing.T) {
	for _, tt := range []struct {
		in     []float64
		weight float64
		want   []float64
	}{
		{[]float64{3, 1, 2}, 0, []float64{3, 1, 2}},
		{[]float64{1, 1, 1}, 0.9, []float64{1, 1, 1}}, // debiased: a constant stays itself
		{[]float64{0, 2}, 0.5, []float64{0, 1.0 / 0.75}},
		{[]float64{4, math.NaN(), 4}, 0.5, []float64{4, math.NaN(), 4}},
	} {
		got := Smooth(tt.in, tt.weight)
		for i := range got {
			if !(near(got[i], tt.want[i]) || math.IsNaN(got[i]) && math.IsNaN(tt.want[i])) {
				t.Errorf("Smooth(%v, %v) = %v, want %v", tt.in, tt.weight, got, tt.want)
				break
			}
		}
	}
}

func near(a, b float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestNiceTicks(t *testing.T) {
	for _, tt := range []struct {
		lo, hi  float64
		integer bool
		want    []string
	}{
		{0, 299, true, []string{"0", "50", "100", "150", "200", "250"}},
		{0.093, 0.1, false, []string{"0.093", "0.094", "0.095", "0.096", "0.097", "0.098", "0.099", "0.100"}},
		{1e-4, 1, false, []string{"0.2", "0.4", "0.6", "0.8", "1.0"}},
		{0, 3, true, []string{"0", "1", "2", "3"}}, // an integer axis never steps below 1
	} {
		var got []string
		for _, tk := range (niceTicks{integer: tt.integer}).Ticks(tt.lo, tt.hi) {
			got = append(got, tk.Label)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
}

// Clustered values get a baseline near them; values spread from 0 start at 0;
// the longest bar and its printed value stay inside the axis.
func TestBarRange(t *testing.T) {
	for _, tt := range []struct {
		values   []float64
		zeroBase bool
	}{
		{[]float64{0.093, 0.097, 0.1}, false},
		{[]float64{0.1, 0.5, 0.9}, true},
		{[]float64{-3, -2, -1}, false},
	} {
		p, _, err := buildBarsPlot("m", []string{"a", "b", "c"}, tt.values, 300)
		if err != nil {
			t.Fatal(err)
		}
		mn, mx := slices.Min(tt.values), slices.Max(tt.values)
		if tt.zeroBase && p.X.Min != 0 || !tt.zeroBase && (p.X.Min <= 0 && mn > 0 || p.X.Min >= mn) {
			t.Errorf("%v: baseline %v (zero wanted: %v)", tt.values, p.X.Min, tt.zeroBase)
		}
		if p.X.Max <= mx+0.1*(mx-p.X.Min) {
			t.Errorf("%v: axis max %v leaves no room after the longest bar", tt.values, p.X.Max)
		}
	}
}

// Smoothing keeps the raw values visible, faint, under each smoothed line:
// one more drawn path per series, and a translucent stroke.
func TestSmoothedLinesKeepTheRawLineFaint(t *testing.T) {
	series := []Series{
		{Name: "a", Steps: []float64{0, 1, 2, 3, 4}, Values: []float64{1, 5, 1, 5, 1}},
		{Name: "b", Steps: []float64{0, 1, 2, 3, 4}, Values: []float64{2, 2, 9, 2, 2}},
	}
	draw := func(o Options) string {
		var b bytes.Buffer
		if err := Lines(&b, "svg", "train/loss", series, 768, 480, o); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	plain, smooth := draw(Options{}), draw(Options{Smooth: 0.6})
	if d := strings.Count(smooth, "<path") - strings.Count(plain, "<path"); d != len(series) {
		t.Errorf("smoothing drew %d more paths, want %d (a raw line per series)", d, len(series))
	}
	if strings.Count(smooth, "stroke-opacity") <= strings.Count(plain, "stroke-opacity") {
		t.Errorf("no translucent stroke for the raw lines")
	}
}
