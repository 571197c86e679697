package ledger

import (
	"fmt"
	"time"

	"github.com/runnerhq/runner/internal/jsonarray"
)

// A lean listing reads each row as one column, json_array(runLeanCols),
// and splits it here (docs/design.md "Listing a large ledger"): the
// driver's cost is per column (a type probe, a copy, two of SQLite's
// mutexes each), and for 25 columns it was most of runner runs --json's
// CPU, where SQLite builds the one text for less. The columns' types are
// fixed (the table is STRICT): TEXT comes back as a JSON string, INTEGER
// as digits, NULL as null.

// leanSelect is the select list of a lean listing.
const leanSelect = `json_array(` + runLeanCols + `)`

// scanLeanRun reads one row of leanSelect.
func scanLeanRun(s scanner) (Run, error) {
	var row string
	if err := s.Scan(&row); err != nil {
		return Run{}, err
	}
	return decodeLeanRow(row)
}

// decodeLeanRow is the Run of one json_array of runLeanCols, in its order.
// The strings are parts of row (one allocation for the row, not one per
// column) unless they held an escape.
func decodeLeanRow(row string) (Run, error) {
	var (
		r Run
		a = jsonarray.NewReader(row)
	)
	r.Dir = a.Text()
	r.GroupKey = a.Text()
	r.RunID = a.Text()
	r.Entity = a.Text()
	r.Project = a.Text()
	r.Name = a.Text()
	r.Group = a.Text()
	r.JobType = a.Text()
	r.StartTime = msTime(&a)
	r.WandbVersion = a.Text()
	r.Finished = a.Int() != 0
	if v, ok := a.NullInt(); ok {
		n := int(v)
		r.ExitCode = &n
	}
	r.TornTail = a.Int() != 0
	r.ReadError = a.Text()
	r.Size = a.Int()
	r.State = State(a.Text())
	r.Reason = a.Text()
	r.Source = a.Text()
	r.Attempts = int(a.Int())
	r.NextAttemptAt = msTime(&a)
	r.LastError = a.Text()
	r.URL = a.Text()
	r.SyncedAt = msTime(&a)
	if v, ok := a.NullInt(); ok {
		r.JobID = &v
	}
	r.FirstSeen = fromMS(a.Int())
	if err := a.Close(); err != nil {
		return Run{}, fmt.Errorf("lean row: %w", err)
	}
	return r, nil
}

// msTime reads a nullable unix-ms time as fromNullMS gives it.
func msTime(a *jsonarray.Reader) *time.Time {
	v, ok := a.NullInt()
	if !ok {
		return nil
	}
	t := fromMS(v)
	return &t
}
