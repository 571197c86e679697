package plot

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot/vg"
)

// Golden images, compared by decoded pixels with a tolerance rather than
// by bytes (an encoder or compression change is not a different picture):
// at most 0.5 % of the pixels may differ by more than 48 in a channel.
// go test ./plot -run GoldenImages -update rewrites them.
func TestGoldenImages(t *testing.T) {
	const w, h = 6 * vg.Inch, 4 * vg.Inch
	series := []Series{
		{Name: "baseline", Steps: []float64{0, 100, 200, 300}, Values: []float64{1, 0.5, 0.3, 0.25}},
		{Name: "bad lr", Steps: []float64{0, 100, 200, 300}, Values: []float64{1.2, 0.9, 0.95, 0.8}},
	}
	tests := []struct {
		name string
		draw func(*bytes.Buffer) error
	}{
		{"lines", func(b *bytes.Buffer) error { return Lines(b, "png", "train/loss", series, w, h, Options{}) }},
		{"lines-smooth", func(b *bytes.Buffer) error { return Lines(b, "png", "train/loss", series, w, h, Options{Smooth: 0.6}) }},
		{"bars", func(b *bytes.Buffer) error {
			return Bars(b, "png", "eval/nrmse", []string{"r1", "r2", "r3"}, []float64{0.093, 0.097, 0.1}, w, h)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.draw(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "testdata", "golden", "plot", tt.name+".png")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("%v (go test ./plot -run GoldenImages -update writes it)", err)
			}
			defer f.Close()
			want, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("image is %v, golden %v", got.Bounds(), want.Bounds())
			}
			if n, total := differing(got, want, 48), got.Bounds().Dx()*got.Bounds().Dy(); n*200 > total {
				t.Errorf("%d of %d pixels differ from %s (more than 0.5 %%)", n, total, path)
			}
		})
	}
}

// differing counts the pixels where a and b differ by more than tol in
// any channel (8-bit).
func differing(a, b image.Image, tol int) int {
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			for _, d := range []int{int(ar>>8) - int(br>>8), int(ag>>8) - int(bg>>8), int(ab>>8) - int(bb>>8), int(aa>>8) - int(ba>>8)} {
				if d > tol || -d > tol {
					n++
					break
				}
			}
		}
	}
	return n
}
