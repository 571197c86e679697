// Package guard keeps a loop that calls something failing (the ledger on a
// full disk, a corrupt page) from spinning or flooding the log: each failure
// in a row waits twice as long before the next try, up to a ceiling, and the
// failure is logged once per interval with the count of repeats in between
// (docs/design.md "Idle and failing loops").
package guard

import (
	"log/slog"
	gosync "sync"
	"time"
)

// Defaults of the zero Options fields.
const (
	DefaultBase  = time.Second
	DefaultMax   = time.Minute
	DefaultEvery = time.Minute
)

// Options tune a Guard; zero fields take the defaults above.
type Options struct {
	Base  time.Duration // wait after the first failure
	Max   time.Duration // longest wait
	Every time.Duration // at most one log line per this interval while failing
	Now   func() time.Time
}

// Guard tracks one loop's failures in a row. It is safe for concurrent use
// (the upload workers share one).
type Guard struct {
	what string
	log  *slog.Logger
	opts Options

	mu         gosync.Mutex
	fails      int       // failures in a row
	logged     time.Time // when a failure was last logged
	suppressed int       // failures not logged since then
}

// New returns a Guard that logs through log as `what` ("upload worker").
func New(log *slog.Logger, what string, opts Options) *Guard {
	if opts.Base <= 0 {
		opts.Base = DefaultBase
	}
	if opts.Max <= 0 {
		opts.Max = DefaultMax
	}
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{what: what, log: log, opts: opts}
}

// Fail records a failure and returns how long the loop should wait before
// trying again. The first failure of a streak is logged at once; later ones
// at most once per Every, with how many were not logged.
func (g *Guard) Fail(err error) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails++
	now := g.opts.Now()
	if g.fails == 1 || now.Sub(g.logged) >= g.opts.Every {
		attrs := []any{"err", err, "failures_in_a_row", g.fails}
		if g.suppressed > 0 {
			attrs = append(attrs, "not_logged", g.suppressed)
		}
		g.log.Error(g.what+" failed; backing off", attrs...)
		g.logged, g.suppressed = now, 0
	} else {
		g.suppressed++
	}
	d := g.opts.Base
	for i := 1; i < g.fails && d < g.opts.Max; i++ {
		d *= 2
	}
	return min(d, g.opts.Max)
}

// OK ends a streak of failures (and says so, when there was one).
func (g *Guard) OK() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails > 0 {
		g.log.Info(g.what+" recovered", "failures_in_a_row", g.fails)
	}
	g.fails, g.suppressed = 0, 0
}

// Failing reports whether the last call failed.
func (g *Guard) Failing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fails > 0
}
