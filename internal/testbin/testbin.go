// Package testbin builds the project's executables (runner itself, the fake
// wandb CLI, the fake job) for tests that need real processes: SIGKILL,
// restarts, process groups. Each binary is built once per test binary and
// cached under the temp dir by a hash of the module's sources, so repeated
// test runs reuse it and an edit rebuilds it.
package testbin

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

type result struct {
	path string
	err  error
}

var (
	mu    gosync.Mutex
	built = map[string]*result{}
)

// Build returns the path of an executable called name built from pkg, a
// package path relative to the module root ("." or "./testdata/fakewandb").
func Build(tb testing.TB, pkg, name string) string {
	tb.Helper()
	mu.Lock()
	r, ok := built[pkg+"\x00"+name]
	if !ok {
		r = &result{}
		r.path, r.err = build(pkg, name)
		built[pkg+"\x00"+name] = r
	}
	mu.Unlock()
	if r.err != nil {
		tb.Fatalf("build %s: %v", pkg, r.err)
	}
	return r.path
}

// ModuleRoot is the directory holding go.mod above the working directory.
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

func build(pkg, name string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum, err := sourceHash(root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "runner-testbin", sum[:16]+"-"+strings.Trim(strings.ReplaceAll(pkg, "/", "_"), "._"))
	out := filepath.Join(dir, name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	// Rename is atomic: parallel test binaries never run a half-written file.
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// sourceHash covers every Go file, go.mod and go.sum of the module and the Go version.
func sourceHash(root string) (string, error) {
	h := sha256.New()
	io.WriteString(h, runtime.Version())
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "fixtures" || n == "golden") {
				return filepath.SkipDir
			}
			return nil
		}
		n := d.Name()
		if !strings.HasSuffix(n, ".go") && n != "go.mod" && n != "go.sum" {
			return nil
		}
		if strings.HasSuffix(n, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		io.WriteString(h, rel)
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}
