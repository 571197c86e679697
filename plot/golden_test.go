package plot

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/recorder"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/plot")

// sized is a recording canvas with a size, as the image canvases have.
type sized struct {
	*recorder.Canvas
	w, h vg.Length
}

func (s sized) Size() (vg.Length, vg.Length) { return s.w, s.h }

// text is one string a plot drew, where and how wide.
type text struct {
	S       string  `json:"s"`
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	W       float64 `json:"-"`
	Rotated bool    `json:"rotated,omitempty"`
}

// texts replays what was drawn and lists the strings in drawing order.
func texts(c *recorder.Canvas) []text {
	var out []text
	depth, rotatedAt := 0, -1
	for _, a := range c.Actions {
		switch a := a.(type) {
		case *recorder.Push:
			depth++
		case *recorder.Pop:
			if depth--; depth < rotatedAt {
				rotatedAt = -1
			}
		case *recorder.Rotate:
			if rotatedAt < 0 {
				rotatedAt = depth
			}
		case *recorder.FillString:
			face := font.DefaultCache.Lookup(a.Font, a.Size)
			w := face.Width(a.String)
			out = append(out, text{S: a.String, X: round(a.Point.X.Points()), Y: round(a.Point.Y.Points()),
				W: w.Points(), Rotated: rotatedAt >= 0})
		}
	}
	return out
}

func round(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return v
}

// The structure of the drawn plots, not their bytes: every label inside the
// image, the legend in its own column right of the axes, at least three
// labelled ticks on each axis. The drawn texts and their places are kept in
// golden files (go test ./plot -run PlotStructure -update rewrites them).
func TestPlotStructure(t *testing.T) {
	const w, h = 6 * vg.Inch, 4 * vg.Inch
	long := "a run whose name is far longer than any legend should ever need"
	series := []Series{
		{Name: "baseline", Steps: []float64{0, 100, 200, 300}, Values: []float64{1, 0.5, 0.3, 0.25}},
		{Name: long, Steps: []float64{0, 100, 200, 300}, Values: []float64{1.2, 0.7, 0.2, 0.1}},
	}
	tests := []struct {
		name    string
		draw    func(c sized) error
		legend  []string // texts that belong to the legend
		numbers int      // tick labels that are numbers: 3 per numeric axis at least
	}{
		{"lines", func(c sized) error { return drawSeries(c, "train/loss", series, Options{}) }, []string{"baseline", "a run whose name is f…"}, 6},
		{"lines-log-smooth", func(c sized) error {
			return drawSeries(c, "train/loss", series, Options{LogY: true, Smooth: 0.6})
		}, []string{"baseline", "a run whose name is f…"}, 6},
		{"bars", func(c sized) error {
			p, _, err := buildBarsPlot("eval/acc (higher is better)", []string{long, "b", "c"}, []float64{0.91, 0.9, 0.7}, h)
			if err != nil {
				return err
			}
			drawPlot(c, p)
			return nil
		}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sized{Canvas: &recorder.Canvas{}, w: w, h: h}
			if err := tt.draw(c); err != nil {
				t.Fatal(err)
			}
			got := texts(c.Canvas)
			numbers, right := 0, 0.0
			for _, x := range got {
				if !x.Rotated && (x.X < 0 || x.X+x.W > w.Points()+0.5 || x.Y < 0 || x.Y > h.Points()) {
					t.Errorf("label %q at (%v, %v), %v wide, is clipped by the %vx%v image", x.S, x.X, x.Y, x.W, w.Points(), h.Points())
				}
				if _, err := strconv.ParseFloat(x.S, 64); err == nil {
					numbers++
					right = max(right, x.X+x.W)
				}
			}
			if numbers < tt.numbers {
				t.Errorf("%d numeric tick labels, want at least %d (3 on each numeric axis): %v", numbers, tt.numbers, got)
			}
			for _, name := range tt.legend {
				found := false
				for _, x := range got {
					if x.S == name {
						found = true
						if x.X <= right {
							t.Errorf("legend entry %q at x=%v is not right of the axes (tick labels end at %v)", name, x.X, right)
						}
					}
				}
				if !found {
					t.Errorf("legend entry %q not drawn", name)
				}
			}
			golden := filepath.Join("..", "testdata", "golden", "plot", tt.name+".json")
			b, _ := json.MarshalIndent(got, "", " ")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != string(b)+"\n" {
				t.Errorf("drawn texts differ from %s:\n%s", golden, fmt.Sprint(string(b)))
			}
		})
	}
}
