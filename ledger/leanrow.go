package ledger

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/runnerhq/runner/internal/jsonenc"
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
		a = arrayReader{s: row}
	)
	a.open()
	r.Dir = a.text()
	r.GroupKey = a.text()
	r.RunID = a.text()
	r.Entity = a.text()
	r.Project = a.text()
	r.Name = a.text()
	r.Group = a.text()
	r.JobType = a.text()
	r.StartTime = a.msTime()
	r.WandbVersion = a.text()
	r.Finished = a.int() != 0
	if v, ok := a.nullInt(); ok {
		n := int(v)
		r.ExitCode = &n
	}
	r.TornTail = a.int() != 0
	r.ReadError = a.text()
	r.Size = a.int()
	r.State = State(a.text())
	r.Reason = a.text()
	r.Source = a.text()
	r.Attempts = int(a.int())
	r.NextAttemptAt = a.msTime()
	r.LastError = a.text()
	r.URL = a.text()
	r.SyncedAt = a.msTime()
	if v, ok := a.nullInt(); ok {
		r.JobID = &v
	}
	r.FirstSeen = fromMS(a.int())
	if err := a.close(); err != nil {
		return Run{}, err
	}
	return r, nil
}

var errLeanRow = errors.New("malformed lean row")

// arrayReader reads the values of a JSON array as json_array writes it (no
// white space) in order; the first error sticks, and close reports it.
type arrayReader struct {
	s   string
	i   int
	n   int // values read
	err error
}

func (a *arrayReader) fail() {
	if a.err == nil {
		a.err = errLeanRow
	}
}

func (a *arrayReader) open() {
	if a.i < len(a.s) && a.s[a.i] == '[' {
		a.i++
		return
	}
	a.fail()
}

// value starts the next value: past the comma after the one before.
func (a *arrayReader) value() bool {
	if a.err != nil {
		return false
	}
	if a.n > 0 {
		if a.i >= len(a.s) || a.s[a.i] != ',' {
			a.fail()
			return false
		}
		a.i++
	}
	a.n++
	return a.i < len(a.s)
}

func (a *arrayReader) close() error {
	if a.err == nil && (a.i != len(a.s)-1 || a.s[a.i] != ']') {
		a.fail()
	}
	return a.err
}

// text reads a string.
func (a *arrayReader) text() string {
	if !a.value() || a.s[a.i] != '"' {
		a.fail()
		return ""
	}
	start := a.i + 1
	for j := start; j < len(a.s); j++ {
		switch a.s[j] {
		case '"':
			a.i = j + 1
			return a.s[start:j]
		case '\\':
			return a.escaped(start)
		}
	}
	a.fail()
	return ""
}

// escaped reads the rest of a string that holds an escape, from start
// (after its opening quote). Bytes outside escapes are kept as they are,
// invalid UTF-8 included, as a read of the column gives them.
func (a *arrayReader) escaped(start int) string {
	b := make([]byte, 0, len(a.s)-start)
	for j := start; j < len(a.s); {
		c := a.s[j]
		switch {
		case c == '"':
			a.i = j + 1
			return string(b)
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(a.s) {
			break
		}
		if c, ok := jsonenc.Unescape(a.s[j+1]); ok {
			b = append(b, c)
			j += 2
			continue
		}
		if a.s[j+1] != 'u' {
			a.fail()
			return ""
		}
		r, size := a.hex4(j + 2)
		if size == 0 {
			a.fail()
			return ""
		}
		if r >= 0xd800 && r < 0xdc00 { // a UTF-16 surrogate pair
			if lo, n := a.hex4(j + 8); n > 0 && a.s[j+6] == '\\' && a.s[j+7] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				j += 6
			}
		}
		b = utf8.AppendRune(b, r)
		j += 6
	}
	a.fail()
	return ""
}

// hex4 reads the four hex digits at i; size is 0 when they are not there.
func (a *arrayReader) hex4(i int) (rune, int) {
	if i+4 > len(a.s) {
		return 0, 0
	}
	v, err := strconv.ParseUint(a.s[i:i+4], 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 4
}

// nullInt reads an integer or null (ok false).
func (a *arrayReader) nullInt() (int64, bool) {
	if !a.value() {
		a.fail()
		return 0, false
	}
	if a.s[a.i] == 'n' {
		if len(a.s)-a.i >= 4 && a.s[a.i:a.i+4] == "null" {
			a.i += 4
			return 0, false
		}
		a.fail()
		return 0, false
	}
	j := a.i
	if a.s[j] == '-' {
		j++
	}
	for j < len(a.s) && a.s[j] >= '0' && a.s[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(a.s[a.i:j], 10, 64)
	if err != nil {
		a.fail()
		return 0, false
	}
	a.i = j
	return v, true
}

// int reads an integer of a NOT NULL column.
func (a *arrayReader) int() int64 {
	v, ok := a.nullInt()
	if !ok {
		a.fail()
	}
	return v
}

// msTime reads a nullable unix-ms time as fromNullMS gives it.
func (a *arrayReader) msTime() *time.Time {
	v, ok := a.nullInt()
	if !ok {
		return nil
	}
	t := fromMS(v)
	return &t
}
