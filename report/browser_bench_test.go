package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/browser"
)

// BenchmarkBrowserRender1000Runs opens the large page (1,000 runs x
// 20 metrics x 10,000 steps, downsampled) in headless Chromium. It reports
// setup-ms, when the page's script ended (ms after navigation start: the
// HTML parsed, the DOM built and the handlers attached; target < 2,000),
// and chromium-s, the whole browser run against an empty page's baseline.
func BenchmarkBrowserRender1000Runs(b *testing.B) {
	br, err := browser.Find(b.TempDir())
	if err != nil {
		b.Skipf("no browser: %v", err)
	}
	var page bytes.Buffer
	if err := Write(&page, synthPage(1000, 20, 10000)); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	big, empty := filepath.Join(dir, "big.html"), filepath.Join(dir, "empty.html")
	if err := os.WriteFile(big, page.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("<!DOCTYPE html><title>empty</title>"), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rendered := regexp.MustCompile(`data-rendered="(\d+)"`)
	var setup, wall, floor time.Duration
	for range b.N {
		t0 := time.Now()
		if _, err := br.DOM(ctx, "file://"+empty); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		dom, err := br.DOM(ctx, "file://"+big)
		if err != nil {
			b.Fatal(err)
		}
		floor, wall = floor+t1.Sub(t0), wall+time.Since(t1)
		m := rendered.FindSubmatch(dom)
		if m == nil {
			b.Fatal("the page's script never finished")
		}
		ms, _ := strconv.Atoi(string(m[1]))
		setup += time.Duration(ms) * time.Millisecond
	}
	n := float64(b.N)
	b.ReportMetric(float64(setup.Milliseconds())/n, "setup-ms")
	b.ReportMetric((wall-floor).Seconds()/n, "chromium-s")
	b.ReportMetric(float64(page.Len())/1e6, "MB")
}
