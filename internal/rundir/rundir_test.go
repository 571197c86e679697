package rundir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// other is a uid that is neither root nor this process.
const other = 12345

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files another user owns")
	}
}

func TestMarker(t *testing.T) {
	tests := []struct {
		name    string
		root    bool // needs root to set up
		make    func(t *testing.T, dir, marker string)
		want    bool
		wantErr string // "" for no error
	}{
		{"absent", false, func(*testing.T, string, string) {}, false, ""},
		{"regular", false, func(t *testing.T, _, m string) { write(t, m) }, true, ""},
		{"symlink to a file", false, func(t *testing.T, dir, m string) {
			write(t, filepath.Join(dir, "x"))
			link(t, filepath.Join(dir, "x"), m)
		}, false, "a symlink"},
		{"dangling symlink", false, func(t *testing.T, _, m string) { link(t, "/nonexistent", m) }, false, "a symlink"},
		{"FIFO", false, func(t *testing.T, _, m string) {
			if err := syscall.Mkfifo(m, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, "a FIFO"},
		{"directory", false, func(t *testing.T, _, m string) { mkdir(t, m) }, false, "a directory"},
		{"hard link", false, func(t *testing.T, dir, m string) {
			write(t, filepath.Join(dir, "x"))
			if err := os.Link(filepath.Join(dir, "x"), m); err != nil {
				t.Fatal(err)
			}
		}, false, "hard link"},
		{"owned by another user", true, func(t *testing.T, _, m string) {
			write(t, m)
			if err := os.Lchown(m, other, other); err != nil {
				t.Fatal(err)
			}
		}, false, "owned by uid 12345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			dir := t.TempDir()
			m := filepath.Join(dir, "run-x.wandb.synced")
			tt.make(t, dir, m)
			done := make(chan struct{})
			var ok bool
			var err error
			go func() { ok, err = Marker(m); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Marker hangs") // a FIFO must never be opened
			}
			if ok != tt.want {
				t.Errorf("Marker = %v, want %v", ok, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrNotMarker)):
				t.Errorf("err = %v, want ErrNotMarker saying %q", err, tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), m):
				t.Errorf("err = %v: does not name %s", err, m)
			}
		})
	}
}

func TestOpenLinks(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	mkdir(t, filepath.Join(real, "run"))
	link(t, real, filepath.Join(base, "mine")) // made by this process: trusted
	link(t, "real/run", filepath.Join(base, "rel"))

	for _, p := range []string{filepath.Join(base, "mine", "run"), filepath.Join(base, "rel"), real + "/./run/../run"} {
		d, err := Open(p)
		if err != nil {
			t.Errorf("Open(%s): %v", p, err)
			continue
		}
		st, _ := os.Stat(filepath.Join(real, "run"))
		if d.Ino != st.Sys().(*syscall.Stat_t).Ino {
			t.Errorf("Open(%s) reached inode %d, want the real run dir", p, d.Ino)
		}
		d.Close()
	}
	if _, err := Open("relative/path"); err == nil {
		t.Error("Open of a relative path worked")
	}
	if _, err := Open(filepath.Join(base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing dir: %v, want ErrNotExist", err)
	}

	t.Run("a user's symlink is not followed", func(t *testing.T) {
		needRoot(t)
		planted := filepath.Join(base, "planted")
		link(t, real, planted)
		if err := os.Lchown(planted, other, other); err != nil {
			t.Fatal(err)
		}
		_, err := Open(filepath.Join(planted, "run"))
		if !errors.Is(err, ErrPlantedLink) || !strings.Contains(err.Error(), "uid 12345") {
			t.Errorf("Open through uid %d's link: %v, want ErrPlantedLink naming the owner", other, err)
		}
	})
	t.Run("root's symlink in a dir a user may write is not followed", func(t *testing.T) {
		needRoot(t)
		userDir := filepath.Join(base, "userdir")
		mkdir(t, userDir)
		if err := os.Chown(userDir, other, other); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(userDir, 0o777); err != nil {
			t.Fatal(err)
		}
		link(t, real, filepath.Join(userDir, "l")) // root's link, but the user could swap it
		if _, err := Open(filepath.Join(userDir, "l", "run")); !errors.Is(err, ErrPlantedLink) {
			t.Errorf("Open: %v, want ErrPlantedLink", err)
		}
	})
}

func TestCreateMarkerNeverWritesThroughALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	link(t, target, filepath.Join(dir, "a.synced"))
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.CreateMarker("a.synced"); !errors.Is(err, ErrNotMarker) {
		t.Errorf("CreateMarker over a symlink: %v, want ErrNotMarker", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("%s created through the link", target)
	}
	for range 2 { // a second create finds its own marker: fine
		if err := d.CreateMarker("b.synced"); err != nil {
			t.Fatalf("CreateMarker: %v", err)
		}
	}
	if ok, err := d.Marker("b.synced"); !ok || err != nil {
		t.Errorf("created marker: %v, %v", ok, err)
	}
	if err := d.Remove("a.synced"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a.synced")); err == nil {
		t.Error("Remove left the link")
	}
}

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	write(t, secret)
	mkdir(t, filepath.Join(dir, "files", "media"))
	write(t, filepath.Join(dir, "files", "media", "ok.txt"))
	link(t, secret, filepath.Join(dir, "files", "output.log"))
	link(t, filepath.Dir(secret), filepath.Join(dir, "files", "up"))
	if err := syscall.Mkfifo(filepath.Join(dir, "files", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	open := map[string]func(string) (*os.File, error){
		"openat2": d.OpenRegular,
		"steps": func(rel string) (*os.File, error) {
			fd, err := d.openSteps(rel)
			if err != nil {
				return nil, err
			}
			return os.NewFile(uintptr(fd), rel), nil
		},
	}
	for name, fn := range open {
		t.Run(name, func(t *testing.T) {
			f, err := fn("files/media/ok.txt")
			if err != nil {
				t.Fatalf("regular file: %v", err)
			}
			f.Close()
			for _, rel := range []string{"files/output.log", "files/up/secret"} {
				if f, err := fn(rel); err == nil {
					f.Close()
					t.Errorf("%s opened through a symlink", rel)
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		f, err := d.OpenRegular("files/fifo")
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: %v, want ErrNotRegular", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenRegular of a FIFO hangs")
	}
	if _, err := d.OpenRegular("../x"); err == nil {
		t.Error("a path out of the dir opened")
	}
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}
