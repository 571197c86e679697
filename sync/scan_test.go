package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// discFakeLog is enough of a .wandb file for discovery, which never parses it.
var discFakeLog = []byte(":W&B\xe1\xbe\x00fake-records")

// discMakeRun creates parent/name as wandb lays it out: the log (when id is
// not ""), files/, logs/ and tmp/. It returns the run dir.
func discMakeRun(t testing.TB, parent, name, id string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	for _, sub := range []string{"files", "logs", filepath.Join("tmp", "code")} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	discWrite(t, filepath.Join(dir, "files", "requirements.txt"), []byte("torch\n"))
	if id != "" {
		discWrite(t, filepath.Join(dir, "run-"+id+".wandb"), discFakeLog)
	}
	return dir
}

func discWrite(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// discRealDir returns t.TempDir() with symlinks resolved, the form Scan reports.
func discRealDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// discScanAll runs Scan and returns the run dirs by Dir plus the failed paths.
func discScanAll(t *testing.T, root string) (map[string]RunDir, []string) {
	t.Helper()
	runs := map[string]RunDir{}
	var failed []string
	err := Scan(t.Context(), root, func(rd RunDir) error {
		if _, dup := runs[rd.Dir]; dup {
			t.Errorf("run dir %s reported twice", rd.Dir)
		}
		runs[rd.Dir] = rd
		return nil
	}, func(path string, err error) { failed = append(failed, path) })
	if err != nil {
		t.Fatalf("Scan(%s): %v", root, err)
	}
	return runs, failed
}

func discKeys(m map[string]RunDir) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestIsRunDirName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"offline-run-20240131_235959-abc123xy", true},
		{"offline-run-20240131_235959-abc123xy-1", true},
		{"offline-run-20240131_235959-my-run-with-dashes", true},
		{"offline-run-20240131_235959-x", true},
		{"run-20240131_235959-abc123xy", false},    // online run: not ours to upload
		{"offline-run-20240131_235959-", false},    // no id
		{"offline-run-20240131-235959-abc", false}, // wrong separator
		{"offline-run-2024013_2359590-abc", false}, // digits in the wrong places
		{"offline-run-20240131_23595a-abc", false},
		{"offline-run-20240131_235959abc", false},
		{"latest-run", false},
		{"offline-run-", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsRunDirName(tt.name); got != tt.want {
			t.Errorf("IsRunDirName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestScanFindsRunsAtAnyDepthOnce(t *testing.T) {
	root := discRealDir(t)
	outside := discRealDir(t)
	want := []string{
		discMakeRun(t, filepath.Join(root, "proj-a", "wandb"), "offline-run-20240101_120000-aaaa1111", "aaaa1111"),
		discMakeRun(t, filepath.Join(root, "proj-a", "wandb"), "offline-run-20240101_120001-aaaa2222", "aaaa2222"),
		discMakeRun(t, filepath.Join(root, "team", "proj-b", ".wandb"), "offline-run-20240102_120000-bbbb1111", "bbbb1111"),
		discMakeRun(t, filepath.Join(root, "x", "y", "z", "w", "wandb"), "offline-run-20240103_120000-cccc1111", "cccc1111"),
		// Copied in from a rented GPU into a folder not called wandb.
		discMakeRun(t, filepath.Join(root, "incoming"), "offline-run-20240104_120000-dddd1111", "dddd1111"),
	}
	// latest-run points at a run already counted.
	if err := os.Symlink("offline-run-20240101_120001-aaaa2222", filepath.Join(root, "proj-a", "wandb", "latest-run")); err != nil {
		t.Fatal(err)
	}
	// A symlink out of the tree to a wandb dir with a run must not be followed.
	discMakeRun(t, filepath.Join(outside, "wandb"), "offline-run-20240105_120000-eeee1111", "eeee1111")
	if err := os.Symlink(filepath.Join(outside, "wandb"), filepath.Join(root, "proj-a", "linked-wandb")); err != nil {
		t.Fatal(err)
	}
	// A run dir name inside a run's files/ is data, not a run: never entered.
	discMakeRun(t, filepath.Join(want[0], "files"), "offline-run-20240106_120000-ffff1111", "ffff1111")

	runs, failed := discScanAll(t, root)
	slices.Sort(want)
	if got := discKeys(runs); !slices.Equal(got, want) {
		t.Errorf("scan found\n  %v\nwant\n  %v", got, want)
	}
	if len(failed) != 0 {
		t.Errorf("unexpected failures: %v", failed)
	}
	for _, rd := range runs {
		if rd.LogPath == "" || rd.Size != int64(len(discFakeLog)) || rd.MTime.IsZero() || rd.Marker {
			t.Errorf("run %s: got %+v, want its log with size %d and no marker", rd.Dir, rd, len(discFakeLog))
		}
	}
}

func TestScanReportsCanonicalDirsThroughSymlinkedRoot(t *testing.T) {
	real := discRealDir(t)
	run := discMakeRun(t, filepath.Join(real, "wandb"), "offline-run-20240101_120000-aaaa1111", "aaaa1111")
	link := filepath.Join(discRealDir(t), "workspace")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	runs, _ := discScanAll(t, link)
	if got := discKeys(runs); !slices.Equal(got, []string{run}) {
		t.Errorf("scan through root symlink found %v, want %v", got, []string{run})
	}
}

func TestScanRunDirDetails(t *testing.T) {
	tests := []struct {
		name       string
		dirName    string
		logs       map[string]int // file name -> size
		extra      []string       // other files in the run dir
		wantLog    string
		wantMarker bool
	}{
		{
			name:    "id with dashes",
			dirName: "offline-run-20240101_120000-my-long-run",
			logs:    map[string]int{"run-my-long-run.wandb": 10},
			wantLog: "run-my-long-run.wandb",
		},
		{
			name:    "suffix -1 after a clash",
			dirName: "offline-run-20240101_120000-abc-1",
			logs:    map[string]int{"run-abc.wandb": 10},
			wantLog: "run-abc.wandb",
		},
		{
			name:    "id ending in -1 is not taken for a suffix",
			dirName: "offline-run-20240101_120000-abc-1",
			logs:    map[string]int{"run-abc-1.wandb": 5, "run-zzz.wandb": 50},
			wantLog: "run-abc-1.wandb",
		},
		{
			name:    "exact id beats id plus clash suffix",
			dirName: "offline-run-20240101_120000-abc-1",
			logs:    map[string]int{"run-abc.wandb": 50, "run-abc-1.wandb": 5},
			wantLog: "run-abc-1.wandb",
		},
		{
			name:    "several logs: the one named like the dir wins over a larger one",
			dirName: "offline-run-20240101_120000-abcd1234",
			logs:    map[string]int{"run-abcd1234.wandb": 10, "run-other.wandb": 1000},
			wantLog: "run-abcd1234.wandb",
		},
		{
			name:    "several logs none named like the dir: the largest",
			dirName: "offline-run-20240101_120000-renamed",
			logs:    map[string]int{"run-a.wandb": 10, "run-b.wandb": 1000, "run-c.wandb": 100},
			wantLog: "run-b.wandb",
		},
		{
			name:    "no log yet",
			dirName: "offline-run-20240101_120000-fresh",
			extra:   []string{"run-fresh.wandb.syncstate"},
		},
		{
			name:       "synced marker",
			dirName:    "offline-run-20240101_120000-done",
			logs:       map[string]int{"run-done.wandb": 10},
			extra:      []string{"run-done.wandb.synced", "run-done.wandb.syncstate"},
			wantLog:    "run-done.wandb",
			wantMarker: true,
		},
		{
			name:    "marker of another log does not count",
			dirName: "offline-run-20240101_120000-abc",
			logs:    map[string]int{"run-abc.wandb": 10},
			extra:   []string{"run-old.wandb.synced"},
			wantLog: "run-abc.wandb",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := discRealDir(t)
			dir := discMakeRun(t, filepath.Join(root, "wandb"), tt.dirName, "")
			for name, size := range tt.logs {
				discWrite(t, filepath.Join(dir, name), []byte(strings.Repeat("x", size)))
			}
			for _, name := range tt.extra {
				discWrite(t, filepath.Join(dir, name), nil)
			}
			runs, _ := discScanAll(t, root)
			rd, ok := runs[dir]
			if !ok || len(runs) != 1 {
				t.Fatalf("scan found %v, want only %s", discKeys(runs), dir)
			}
			wantPath := ""
			if tt.wantLog != "" {
				wantPath = filepath.Join(dir, tt.wantLog)
			}
			if rd.LogPath != wantPath || rd.Marker != tt.wantMarker || rd.Size != int64(tt.logs[tt.wantLog]) {
				t.Errorf("got log %q size %d marker %v, want %q size %d marker %v",
					rd.LogPath, rd.Size, rd.Marker, wantPath, tt.logs[tt.wantLog], tt.wantMarker)
			}
			direct, err := InspectRunDir(dir)
			if err != nil || direct != rd {
				t.Errorf("InspectRunDir = %+v, %v; want the scan's %+v", direct, err, rd)
			}
		})
	}
}

func TestScanRootThatIsARunDir(t *testing.T) {
	dir := discMakeRun(t, discRealDir(t), "offline-run-20240101_120000-solo", "solo")
	runs, _ := discScanAll(t, dir)
	if got := discKeys(runs); !slices.Equal(got, []string{dir}) {
		t.Errorf("scan of a run dir found %v, want just it", got)
	}
}

func TestScanSkipsUnreadableDirsAndGoesOn(t *testing.T) {
	root := discRealDir(t)
	runA := discMakeRun(t, filepath.Join(root, "a", "wandb"), "offline-run-20240101_120000-aaaa", "aaaa")
	discMakeRun(t, filepath.Join(root, "b", "wandb"), "offline-run-20240101_120000-bbbb", "bbbb")
	runC := discMakeRun(t, filepath.Join(root, "c", "wandb"), "offline-run-20240101_120000-cccc", "cccc")
	bad := filepath.Join(root, "b")

	var found []string
	failed := map[string]error{}
	fn := func(rd RunDir) error { found = append(found, rd.Dir); return nil }
	if os.Geteuid() == 0 {
		// root reads a mode-000 dir anyway: remove b while the walk is
		// in a/ instead (entries are walked in name order).
		fn = func(rd RunDir) error {
			found = append(found, rd.Dir)
			if rd.Dir == runA {
				if err := os.RemoveAll(bad); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}
	} else {
		if err := os.Chmod(bad, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(bad, 0o755) })
	}
	err := Scan(t.Context(), root, fn, func(path string, err error) { failed[path] = err })
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if !slices.Equal(found, []string{runA, runC}) {
		t.Errorf("found %v, want %v", found, []string{runA, runC})
	}
	if err, ok := failed[bad]; !ok || len(failed) != 1 {
		t.Errorf("errFn got %v, want one error for %s", failed, bad)
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		t.Errorf("errFn error for %s = %v, want not-exist or permission", bad, err)
	}
}

func TestScanErrors(t *testing.T) {
	root := discRealDir(t)
	discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120000-aaaa", "aaaa")
	discMakeRun(t, filepath.Join(root, "wandb"), "offline-run-20240101_120001-bbbb", "bbbb")
	file := filepath.Join(root, "notes.txt")
	discWrite(t, file, []byte("hi"))
	stop := errors.New("stop here")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name  string
		ctx   context.Context
		root  string
		fn    func(RunDir) error
		want  error
		calls int
	}{
		{"missing root", t.Context(), filepath.Join(root, "nope"), nil, fs.ErrNotExist, 0},
		{"root is a file", t.Context(), file, nil, errRootNotDir, 0},
		{"callback error stops the scan", t.Context(), root, func(RunDir) error { return stop }, stop, 1},
		{"cancelled context", cancelled, root, nil, context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Scan(tt.ctx, tt.root, func(rd RunDir) error {
				calls++
				if tt.fn != nil {
					return tt.fn(rd)
				}
				return nil
			}, nil)
			if !errors.Is(err, tt.want) {
				t.Errorf("Scan error = %v, want %v", err, tt.want)
			}
			if calls != tt.calls {
				t.Errorf("callback ran %d times, want %d", calls, tt.calls)
			}
			if tt.name == "missing root" && (err == nil || !strings.Contains(err.Error(), "nope")) {
				t.Errorf("error %v does not name the root", err)
			}
		})
	}
}

// Huge trees that never hold runs (.git, node_modules, caches) are not walked.
func TestScanSkipsHugeNonRunTrees(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{".git/wandb", "node_modules/x/wandb", ".cache/huggingface/wandb", "proj/wandb"} {
		dir := filepath.Join(root, p, "offline-run-20250101_000000-abc")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "run-abc.wandb"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var found []string
	if err := Scan(context.Background(), root, func(rd RunDir) error { found = append(found, rd.Dir); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.Contains(found[0], "/proj/wandb/") {
		t.Errorf("found %v, want only the run under proj/wandb", found)
	}
}
