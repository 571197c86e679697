package wandbfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runnerhq/runner/internal/rundir"
)

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	mustWrite(t, secret)
	mustWrite(t, filepath.Join(dir, "run-a.wandb"))
	if err := os.Symlink(secret, filepath.Join(dir, "run-b.wandb")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "run-c.wandb"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
		says       string
	}{
		{"regular", filepath.Join(dir, "run-a.wandb"), nil, ""},
		{"symlink", filepath.Join(dir, "run-b.wandb"), ErrNotRegular, "(a symlink)"},
		{"FIFO, without blocking", filepath.Join(dir, "run-c.wandb"), ErrNotRegular, "(a FIFO)"},
		{"missing", filepath.Join(dir, "run-d.wandb"), fs.ErrNotExist, "run-d.wandb"},
	}
	if os.Geteuid() == 0 {
		// A dir on the way that a user swapped for a link to root's files.
		planted := filepath.Join(dir, "files")
		if err := os.Symlink(filepath.Dir(secret), planted); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(planted, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name, path string
			want       error
			says       string
		}{"through a user's dir link", filepath.Join(planted, "secret"), rundir.ErrPlantedLink, "uid 12345"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, err := OpenRegular(tt.path)
			if f != nil {
				f.Close()
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("OpenRegular: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("OpenRegular: %v, want %v saying %q", err, tt.want, tt.says)
			}
		})
	}
}

func mustWrite(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
