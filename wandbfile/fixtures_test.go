package wandbfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden/inspect")

const (
	fixturesDir = "../testdata/fixtures"
	goldenDir   = "../testdata/golden/inspect"
)

// fixtureFiles returns the real .wandb fixtures keyed by run id (from run-<id>.wandb).
// WalkDir does not follow the latest-run symlinks, so no run is listed twice.
func fixtureFiles(t testing.TB) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(fixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.Type().IsRegular() && strings.HasPrefix(name, "run-") && strings.HasSuffix(name, ".wandb") {
			files[strings.TrimSuffix(strings.TrimPrefix(name, "run-"), ".wandb")] = path
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk fixtures: %v", err)
	}
	if len(files) != 5 {
		t.Fatalf("found %d .wandb fixtures, want 5: %v", len(files), files)
	}
	return files
}

func inspectJSON(t *testing.T, info *Info) []byte {
	t.Helper()
	raw, err := info.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatalf("MarshalJSON wrote invalid JSON: %v\n%s", err, raw)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestFixturesMatchGolden(t *testing.T) {
	for id, path := range fixtureFiles(t) {
		t.Run(id, func(t *testing.T) {
			info, err := ReadFile(path, Options{})
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			got := inspectJSON(t, info)
			golden := filepath.Join(goldenDir, id+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (regenerate with go test ./wandbfile -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("inspect JSON differs from %s (regenerate with -update after checking):\n%s", golden, got)
			}
		})
	}
}
