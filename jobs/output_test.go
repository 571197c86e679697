package jobs

import (
	"strings"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

func TestOutputPatterns(t *testing.T) {
	for _, tc := range []struct {
		output, errPath string
		job             ledger.Job
		wantOut, wantEr string // expanded; "" with bad: refused
		bad             string
	}{
		{"logs/%x-%j.out", "", ledger.Job{ID: 7, Name: "train"}, "/w/logs/train-7.out", "/w/logs/train-7.out", ""},
		{"/abs/%j.out", "%j.err", ledger.Job{ID: 8, Argv: []string{"/usr/bin/python3"}}, "/abs/8.out", "/w/8.err", ""},
		{"%x.log", "", ledger.Job{ID: 9, Name: "a/b"}, "/w/a_b.log", "/w/a_b.log", ""},
		{"100%%-%j", "", ledger.Job{ID: 3}, "/w/100%-3", "/w/100%-3", ""},
		{"x%q", "", ledger.Job{}, "", "", "--output \"x%q\""},
		{"x", "e%", ledger.Job{}, "", "", "--error \"e%\""},
		{"logs/", "", ledger.Job{}, "", "", "names a directory"},
	} {
		out, errPath, err := OutputPatterns(tc.output, tc.errPath, "/w")
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q %q: err %v, want %q", tc.output, tc.errPath, err, tc.bad)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q %q: %v", tc.output, tc.errPath, err)
		}
		j := tc.job
		j.Output, j.Error = out, errPath
		gotOut, gotErr := OutputPaths(j)
		if gotOut != tc.wantOut || gotErr != tc.wantEr {
			t.Errorf("%q %q for job %d: %q %q, want %q %q", tc.output, tc.errPath, j.ID, gotOut, gotErr, tc.wantOut, tc.wantEr)
		}
	}
}
