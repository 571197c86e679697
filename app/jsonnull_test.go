package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// emptyStrings lists the paths of "" values in a decoded JSON document: an
// absent value must be null, never an empty string that looks like data.
func emptyStrings(v any, path string, out *[]string) {
	switch v := v.(type) {
	case string:
		if v == "" {
			*out = append(*out, path)
		}
	case []any:
		for i, e := range v {
			emptyStrings(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case map[string]any:
		for k, e := range v {
			emptyStrings(e, path+"."+k, out)
		}
	}
}

// Every --json output says an absent value with null.
func TestJSONAbsentValuesAreNull(t *testing.T) {
	c, dirs := project(t)
	// A run with nothing but a header: no id, no project, no name.
	bare := filepath.Join(t.TempDir(), "offline-run-20250301_000000-bare")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := wandbtest.Create(filepath.Join(bare, "run-bare.wandb"), wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Header(0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"inspect", bare}, {"inspect", dirs["bad"]},
		{"status"}, {"runs"}, {"jobs"}, {"gpus"}, {"metrics", "bad"}, {"compare", "base0", "bad"},
		{"leaderboard", "--metric", "eval/nrmse"}, {"regressions"}, {"check", "bad"}, {"gc", "--dry-run"},
		{"version"}, {"submit", "--hold", "true"}, {"doctor"}, {"backfill", filepath.Dir(dirs["bad"]), "--dry-run"},
		{"runs", "--state", "failed"},
	} {
		out, errOut, code := c.run(append(args, "--json")...)
		if code == 2 {
			t.Errorf("runner %v --json: usage error %s", args, errOut)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("runner %v --json: %v\n%s", args, err, out)
			continue
		}
		var empty []string
		emptyStrings(v, "", &empty)
		if len(empty) > 0 {
			t.Errorf("runner %s --json: \"\" instead of null at %s", strings.Join(args, " "), strings.Join(empty, ", "))
		}
	}
}

// deref is *p, "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
