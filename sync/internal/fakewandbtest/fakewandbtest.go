// Package fakewandbtest builds the fake `wandb` CLI (testdata/fakewandb) for tests.
//
// The binary is built once per test binary and cached across test runs under
// os.TempDir()/runner-fakewandb-<hash>, where the hash covers the fake's sources, the .wandb
// reader it links, go.mod/go.sum and the Go version, so an edit to any of them rebuilds it.
package fakewandbtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	gosync "sync"
	"testing"
)

// The build result is shared by every test of one test binary; building is the slow part.
var (
	buildOnce gosync.Once
	buildPath string
	buildErr  error
)

// Build returns the path of an executable named `wandb` built from testdata/fakewandb. It fails
// the test if the fake cannot be built.
func Build(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		tb.Fatalf("build fake wandb: %v", buildErr)
	}
	return buildPath
}

// ModuleRoot returns the directory holding go.mod, found by walking up from the cwd.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func build() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum, err := sourceHash(root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "runner-fakewandb-"+sum[:16])
	exe := filepath.Join(dir, "wandb")
	if st, err := os.Stat(exe); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o100 != 0 {
		return exe, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Build to a private name and rename: test binaries of several packages may race here.
	tmp, err := os.CreateTemp(dir, "wandb-build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./testdata/fakewandb")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./testdata/fakewandb: %w\n%s", err, out)
	}
	if err := os.Rename(tmp.Name(), exe); err != nil {
		return "", err
	}
	return exe, nil
}

// sourceHash covers everything the fake's binary depends on inside this module.
func sourceHash(root string) (string, error) {
	h := sha256.New()
	io.WriteString(h, runtime.Version())
	add := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(h, "\x00%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := add(filepath.Join(root, f)); err != nil {
			return "", err
		}
	}
	for _, d := range []string{"testdata/fakewandb", "wandbfile"} {
		err := filepath.WalkDir(filepath.Join(root, d), func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if e.Name() == "testdata" && path != filepath.Join(root, "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				return add(path)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
