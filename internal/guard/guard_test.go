package guard

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestGuardBacksOffAndLogsOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := New(slog.New(slog.NewTextHandler(&buf, nil)), "upload worker", Options{Now: func() time.Time { return now }})
	err := errors.New("database disk image is malformed")
	var waits []time.Duration
	for range 9 {
		waits = append(waits, g.Fail(err))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if waits[i] != w*time.Second {
			t.Errorf("wait after failure %d = %s, want %s", i+1, waits[i], w*time.Second)
		}
	}
	if n := strings.Count(buf.String(), "malformed"); n != 1 {
		t.Fatalf("9 failures within a minute logged %d times, want once:\n%s", n, buf.String())
	}
	now = now.Add(time.Minute)
	g.Fail(err)
	if !strings.Contains(buf.String(), "not_logged=8") || strings.Count(buf.String(), "malformed") != 2 {
		t.Errorf("a failure a minute later should be logged with the 8 not logged:\n%s", buf.String())
	}
	if !g.Failing() {
		t.Error("Failing() = false during a streak")
	}
	g.OK()
	if !strings.Contains(buf.String(), "upload worker recovered") || g.Failing() {
		t.Errorf("recovery not logged or not reset:\n%s", buf.String())
	}
	if w := g.Fail(err); w != time.Second {
		t.Errorf("first wait of a new streak = %s, want 1s", w)
	}
}
