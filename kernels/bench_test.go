package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSummarize1M feeds rows × 20 metrics of raw JSON values (as the
// .wandb reader hands them over) through Summarizer.Add. It reports ns/row
// and the live heap held by the Summarizer afterwards: the same figure for
// 100k and 1M rows shows memory does not grow with rows.
//
//	go test -run '^$' -bench Summarize1M -benchtime 1x ./kernels/
func BenchmarkSummarize1M(b *testing.B) {
	const metrics = 20
	keys := make([]string, metrics)
	for i := range keys {
		keys[i] = fmt.Sprintf("train/metric_%02d", i)
	}
	keys[0], keys[1], keys[2] = "operator/loss", "diffusion/loss", "diffusion/lr"
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([][]byte, 4096)
	for i := range vals {
		switch {
		case i%1000 == 999:
			vals[i] = []byte("NaN")
		default:
			vals[i] = strconv.AppendFloat(nil, r.NormFloat64()*10, 'g', -1, 64)
		}
	}
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			b.ReportAllocs()
			var heap uint64
			var elapsed time.Duration
			for b.Loop() {
				before := liveHeap()
				start := time.Now()
				s := NewSummarizer(SummaryOptions{})
				v := 0
				for step := range rows {
					for _, k := range keys {
						s.Add(int64(step), k, vals[v&4095])
						v++
					}
				}
				elapsed += time.Since(start)
				heap = liveHeap() - before
				if got := s.Summaries()[0].Count + s.Summaries()[0].NonFinite; got != rows {
					b.Fatalf("first key saw %d values, want %d", got, rows)
				}
				runtime.KeepAlive(s)
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*rows), "ns/row")
			b.ReportMetric(float64(heap), "heap-B")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
