package kernels

import "math"

// LTTB downsamples the points (xs[i], ys[i]), xs ascending, to at most n
// with Largest-Triangle-Three-Buckets (Steinarsson 2013): the first and
// last points stay, and each of the n-2 buckets between keeps the point
// making the largest triangle with the point kept before it and the mean
// of the next bucket. Unlike keeping every k-th point it keeps spikes, which
// is what a reader of a loss curve looks for. With n < 3 or len(xs) <= n
// the input is returned as it is (not copied).
func LTTB(xs, ys []float64, n int) (ox, oy []float64) {
	if n < 3 || len(xs) <= n {
		return xs, ys
	}
	ox = make([]float64, 0, n)
	oy = make([]float64, 0, n)
	ox, oy = append(ox, xs[0]), append(oy, ys[0])
	every := float64(len(xs)-2) / float64(n-2)
	a := 0
	for i := 0; i < n-2; i++ {
		// Mean of the next bucket (the last point for the last bucket).
		ns, ne := int(float64(i+1)*every)+1, int(float64(i+2)*every)+1
		if ne > len(xs) {
			ne = len(xs)
		}
		var mx, my float64
		for j := ns; j < ne; j++ {
			mx += xs[j]
			my += ys[j]
		}
		if c := float64(ne - ns); c > 0 {
			mx, my = mx/c, my/c
		} else {
			mx, my = xs[len(xs)-1], ys[len(ys)-1]
		}
		bs, be := int(float64(i)*every)+1, int(float64(i+1)*every)+1
		best, bestArea := bs, -1.0
		for j := bs; j < be; j++ {
			area := math.Abs((xs[a]-mx)*(ys[j]-ys[a]) - (xs[a]-xs[j])*(my-ys[a]))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		ox, oy = append(ox, xs[best]), append(oy, ys[best])
		a = best
	}
	return append(ox, xs[len(xs)-1]), append(oy, ys[len(ys)-1])
}
