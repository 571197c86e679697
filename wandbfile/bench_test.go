package wandbfile

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// largeLog returns a ~64 MiB log shaped like a long training run: rows of 20 float metrics plus
// _step/_runtime/_timestamp, a console line every 10 rows and a summary update every 100.
func largeLog(b *testing.B) []byte {
	b.Helper()
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("train/metric_%02d", i)
	}
	var buf bytes.Buffer
	w := wandbtest.New(&buf, wandbtest.Options{})
	w.Header(0)
	w.Run(wandbtest.Run{ID: "bench123", Project: "bench", CLIVersion: "0.23.0"})
	t0 := time.Unix(1764000000, 0)
	items := make([]wandbtest.Item, 0, 23)
	for step := int64(0); w.Offset() < 64<<20; step++ {
		items = items[:0]
		for i, n := range names {
			items = append(items, wandbtest.Float(n, math.Sin(float64(step+int64(i)))/float64(step+1)))
		}
		items = append(items, wandbtest.Int("_step", step),
			wandbtest.Float("_runtime", float64(step)*0.137),
			wandbtest.Float("_timestamp", float64(t0.UnixNano())/1e9+float64(step)*0.137))
		w.History(step, items...)
		if step%10 == 0 {
			w.OutputRaw(fmt.Sprintf("step %d loss %.6f lr 0.0003 throughput 1234.5 samples/s", step, 1/float64(step+1)))
		}
		if step%100 == 0 {
			w.Summary([]wandbtest.Item{wandbtest.Float("best/loss", 1/float64(step+1)), wandbtest.Int("best/step", step)}, nil)
		}
	}
	w.Exit(0, 3600)
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkReadLarge(b *testing.B) {
	data := largeLog(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		info, err := Read(bytes.NewReader(data), Options{})
		if err != nil || info.Err != nil || !info.Finished || info.HistoryRows == 0 {
			b.Fatalf("read: %v %v finished=%v", err, info.Err, info.Finished)
		}
	}
}

// BenchmarkReadLargeHistory is BenchmarkReadLarge with a History callback, as the ledger's
// metric extraction reads logs.
func BenchmarkReadLargeHistory(b *testing.B) {
	data := largeLog(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var items int
	opts := Options{History: func(int64, string, []byte) { items++ }}
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), opts); err != nil {
			b.Fatal(err)
		}
	}
	if items == 0 {
		b.Fatal("History was never called")
	}
}
