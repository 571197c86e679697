package sync

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// BenchmarkNewRunToLedger measures what the daemon does for a new run dir:
// the watcher sees it, the log is read and the ledger row is committed. It
// reports p50/p99 from the moment the dir and its log exist.
func BenchmarkNewRunToLedger(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := NewEngine(EngineOptions{Store: db})
	root := discRealDir(b)
	w, err := NewWatcher([]string{root}, WatchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	recorded := make(chan string, 16)
	go w.Run(ctx, func(rd RunDir) {
		if rd.LogPath == "" {
			return
		}
		if _, _, err := e.Observe(ctx, []RunDir{rd}, nil); err == nil {
			recorded <- rd.Dir
		}
	}, nil, nil)
	<-w.Ready()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		parent := filepath.Join(root, fmt.Sprintf("p%d", i%10), "wandb")
		start := time.Now()
		dir := writeLog(b, parent, fmt.Sprintf("lat%05d", i), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true)
		for got := range recorded {
			if got == dir {
				break
			}
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "ms_p50")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "ms_p99")
}
