package wandbfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// grownLog writes a complete log (history, summaries, config, a record
// larger than a block, an exit record) and returns its bytes.
func grownLog(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "full.wandb")
	w, err := wandbtest.Create(path, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(w.Header(0))
	check(w.Run(wandbtest.Run{ID: "grow1", Project: "p", Name: "growing", StartTime: start, CLIVersion: "0.23.0"}))
	for i := range 400 {
		check(w.Row(int64(i), float64(i), start, map[string]float64{"loss": 1 / float64(i+1), "acc": float64(i) / 400}))
		if i%50 == 0 {
			check(w.Summary([]wandbtest.Item{wandbtest.Float("best", float64(i))}, nil))
		}
	}
	check(w.OutputRaw(strings.Repeat("a long line of output ", 3000))) // spans blocks
	check(w.Config([]wandbtest.Item{wandbtest.Float("lr", 3e-4)}, nil))
	check(w.Exit(0, 60))
	check(w.Close())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asJSON(t *testing.T, in *Info) string {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A log read as it grows, cut at every kind of place (inside a chunk
// header, a payload, a fragmented record, at block ends), gives the same
// Info as reading it whole each time, and feeds each record to the
// callbacks once.
func TestCursorReadsAGrowingLogIncrementally(t *testing.T) {
	full := grownLog(t)
	path := filepath.Join(t.TempDir(), "run-grow1.wandb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls := 0
	c := NewCursor(path, Options{History: func(int64, string, []byte) { calls++ }})
	written := 0
	cuts := []int{0, 3, 7, 100}
	for n := 101; n < len(full); n += 997 + n%4093 {
		cuts = append(cuts, n)
	}
	cuts = append(cuts, 32*1024-3, 32*1024, 32*1024+5, len(full))
	for _, cut := range cuts {
		if cut <= written || cut > len(full) {
			continue
		}
		if _, err := f.Write(full[written:cut]); err != nil {
			t.Fatal(err)
		}
		written = cut
		got, gerr := c.Read()
		want, werr := ReadFile(path, Options{})
		if fmt.Sprint(gerr != nil) != fmt.Sprint(werr != nil) {
			t.Fatalf("at %d bytes: cursor err %v, whole read err %v", cut, gerr, werr)
		}
		if werr != nil {
			continue // too short for a header yet
		}
		if g, w := asJSON(t, got), asJSON(t, want); g != w {
			t.Fatalf("at %d of %d bytes the cursor disagrees with a whole read:\ngot  %s\nwant %s", cut, len(full), g, w)
		}
	}
	once := 0
	final, _ := ReadFile(path, Options{History: func(int64, string, []byte) { once++ }})
	if calls != once || final.HistoryRows != 400 {
		t.Errorf("history callback called %d times over all reads, a whole read calls it %d times: each value once", calls, once)
	}
	if !final.Finished || final.TornTail {
		t.Errorf("final log: finished %v torn %v", final.Finished, final.TornTail)
	}

	// Replaced by another file (a new inode): read from the start.
	other := filepath.Join(t.TempDir(), "other.wandb")
	if err := os.WriteFile(other, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if c.Fresh() {
		t.Fatal("cursor fresh before the replacement was seen")
	}
	got, err := c.Read()
	want, _ := ReadFile(path, Options{})
	if err != nil || asJSON(t, got) != asJSON(t, want) {
		t.Errorf("after replacement: %v\ngot  %s\nwant %s", err, asJSON(t, got), asJSON(t, want))
	}
}

// The cursor keeps the log's dir open between reads, but only while the
// dir's path still leads to that dir: a run dir moved away and replaced by
// another at the same path is read from the new one (and from its start),
// never from the dir it kept.
func TestCursorFollowsADirReplacedAtItsPath(t *testing.T) {
	full := grownLog(t)
	root := t.TempDir()
	dir := filepath.Join(root, "offline-run-x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run-x.wandb")
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewCursor(path, Options{})
	defer c.Close()
	if _, err := c.Read(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, full[:len(full)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := c.Read()
	want, _ := ReadFile(path, Options{})
	if err != nil || asJSON(t, got) != asJSON(t, want) {
		t.Errorf("after the dir was replaced: %v\ngot  %s\nwant %s", err, asJSON(t, got), asJSON(t, want))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dir gone: %v, want not found", err)
	}
}
