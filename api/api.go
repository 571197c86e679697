// Package api holds the JSON shapes runner prints with --json and that a
// front end serves (docs/json.md): one place that turns ledger rows into
// what users and scripts read, so every front end says the same thing.
package api

import "time"

// Str is s, or null when empty.
func Str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Time is t as every JSON field writes a time: RFC 3339 in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TimePtr is Time, or null for a time never set.
func TimePtr(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := Time(*t)
	return &s
}
