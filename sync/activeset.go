package sync

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// activeRelist is how often the readiness loop lists the active runs from
// the ledger again, replacing the set it keeps in memory: a safety net for
// runs another process made active (a backfill, a second daemon's tree)
// and for runs another process moved on (a skip). Between lists the set
// follows what this engine records and moves (docs/design.md "Observing
// active runs").
const activeRelist = 30 * time.Second

// activeSet is the readiness loop's set of active runs by dir, kept in
// memory so a pass of the loop (every second) is a stat per run and no
// ledger query. The rows are the last ones recorded, without their JSON
// blobs and summaries (readiness never reads them): a set of thousands of
// active runs stays small.
type activeSet struct {
	runs   map[string]ledger.Run // nil until CheckAllActive listed them
	listed time.Time
}

// lean is r as the set keeps it.
func lean(r ledger.Run) ledger.Run {
	r.RecordsJSON, r.SummaryJSON, r.ConfigJSON, r.Metrics = "", "", "", nil
	return r
}

// ActiveCheck is what one pass of CheckAllActive found.
type ActiveCheck struct {
	Ready  int // runs moved to pending
	Active int // active runs looked at
	// Due is the earliest time a run still active may be ready by the
	// settle or quiet rule if it does not grow again (zero: none): the
	// readiness loop wakes then instead of on its next tick, so a run is
	// moved within milliseconds of its window's end, not up to a tick later.
	Due time.Time
}

// CheckAllActive runs CheckReady over every active run: those of the set
// kept in memory, listed from the ledger again every activeRelist.
func (e *Engine) CheckAllActive(ctx context.Context) (ActiveCheck, error) {
	runs, err := e.activeRuns(ctx)
	if err != nil {
		return ActiveCheck{}, err
	}
	ready, due, err := e.checkReady(ctx, runs)
	e.growing.sweep(e.Now(), 2*e.ActiveEvery)
	return ActiveCheck{Ready: ready, Active: len(runs), Due: due}, err
}

// activeRuns returns the set, in dir order, listing it first when it is
// not loaded or activeRelist has passed. The lock is held over the list:
// a row this engine records meanwhile is put in after the listing
// replaced the set, never before (and so never lost with the old set).
func (e *Engine) activeRuns(ctx context.Context) ([]ledger.Run, error) {
	now := e.Now()
	e.activeMu.Lock()
	defer e.activeMu.Unlock()
	a := &e.active
	if a.runs == nil || now.Sub(a.listed) >= activeRelist || now.Before(a.listed) {
		rows, err := e.Store.ListRuns(ctx, ledger.Filter{State: ledger.StateActive})
		if err != nil {
			return nil, err
		}
		a.runs = make(map[string]ledger.Run, len(rows))
		for _, r := range rows {
			a.runs[r.Dir] = lean(r)
		}
		a.listed = now
	}
	out := make([]ledger.Run, 0, len(a.runs))
	for _, r := range a.runs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y ledger.Run) int { return strings.Compare(x.Dir, y.Dir) })
	return out, nil
}

// trackActive puts the recorded rows that are active into the set and
// takes the others out; before the first CheckAllActive (a backfill, a
// `runner sync`) there is no set to keep.
func (e *Engine) trackActive(rows []ledger.Run) {
	e.activeMu.Lock()
	defer e.activeMu.Unlock()
	if e.active.runs == nil {
		return
	}
	for _, r := range rows {
		if r.State == ledger.StateActive {
			e.active.runs[r.Dir] = lean(r)
		} else {
			delete(e.active.runs, r.Dir)
		}
	}
}

// untrack takes dirs out of the set: moved to pending or missing, or (a
// mark that moved nothing) moved on by another process.
func (e *Engine) untrack(dirs ...string) {
	e.activeMu.Lock()
	defer e.activeMu.Unlock()
	for _, d := range dirs {
		delete(e.active.runs, d)
	}
}

// readyDue is when r, whose log was last changed at mtime, may be ready by
// the settle or quiet rule if it does not change again; zero when those
// rules do not decide it (its job does, or runs on other hosts).
func (e *Engine) readyDue(r ledger.Run, mtime time.Time) time.Time {
	switch {
	case r.Footer:
		return time.Time{}
	case r.Finished:
		return mtime.Add(e.Quiet)
	case e.JobActive != nil && r.RunID != "" && r.JobID != nil, e.OtherHosts:
		return time.Time{}
	}
	return mtime.Add(e.Settle)
}
