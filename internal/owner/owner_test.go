package owner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for runner's re-exec helper.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		err := Main(os.Args[2:])
		fmt.Fprintln(os.Stderr, err)
		os.Exit(126)
	}
	os.Exit(m.Run())
}

// nobodyish is a uid and gid with no account and no files: what a run dir
// chowned to a bare number has.
var nobodyish = ID{UID: 12345, GID: 12346}

func needRoot(t *testing.T) {
	t.Helper()
	if ok, why := CanSwitch(); !ok {
		t.Skipf("needs CAP_SETUID/CAP_SETGID (%s)", why)
	}
}

func TestDoActsAsTheOwner(t *testing.T) {
	needRoot(t)
	open := t.TempDir() // root's, 0700: the owner cannot even enter it
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, nobodyish.UID, nobodyish.GID); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(theirs), filepath.Dir(filepath.Dir(theirs))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(open, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Do(nobodyish, func() error {
		if _, err := os.ReadFile(secret); !errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("read root's file: %v, want permission denied", err)
		}
		if err := os.WriteFile(filepath.Join(open, "planted"), nil, 0o644); !errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("create in root's dir: %v, want permission denied", err)
		}
		return os.WriteFile(filepath.Join(theirs, "made"), nil, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(theirs, "made"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != nobodyish.UID || int(s.Gid) != nobodyish.GID {
		t.Errorf("file made as %v is owned by %d:%d", nobodyish, s.Uid, s.Gid)
	}
	// The thread was thrown away: this goroutine is still root.
	if err := os.WriteFile(filepath.Join(open, "after"), nil, 0o644); err != nil {
		t.Errorf("after Do: %v", err)
	}
}

func TestHelperDropsForGoodAndHidesTheEnvironment(t *testing.T) {
	needRoot(t)
	// Not through a shell: dash and bash reset a differing effective gid.
	for _, tt := range []struct {
		argv []string
		want string
	}{
		// real, effective, saved, fs: the owner's uid, a decoy real gid.
		{[]string{"/bin/grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"},
			"Uid: 12345 12345 12345 12345 Gid: 65534 12346 12346 12346 Groups: 12346"},
		// Non-dumpable: its /proc files are root's, so the owner cannot
		// read its environment (the API key) or ptrace it.
		{[]string{"/usr/bin/stat", "-c", "%u:%g", "/proc/self/environ"}, "0:0"},
	} {
		argv := Command(os.Args[0], nobodyish, tt.argv[0], tt.argv[1:])
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "WANDB_API_KEY=secret"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != tt.want {
			t.Errorf("%v as the owner: %s, want %s", tt.argv, got, tt.want)
		}
	}
	if argv := Command(os.Args[0], ID{UID: 0}, "/bin/true", nil); exec.Command(argv[0], argv[1:]...).Run() == nil {
		t.Error("the helper ran a command as uid 0")
	}
}

func TestForWithoutSetuid(t *testing.T) {
	if ok, _ := CanSwitch(); ok {
		// As root, another user's dir is theirs to act in.
		id, err := For(nobodyish.UID, nobodyish.GID, false)
		if err != nil || id.UID != nobodyish.UID {
			t.Errorf("For as root: %v, %v; want the owner", id, err)
		}
		return
	}
	if _, err := For(nobodyish.UID, nobodyish.GID, false); !errors.Is(err, ErrForeignOwner) || !strings.Contains(err.Error(), "--allow-foreign-owners") {
		t.Errorf("For without CAP_SETUID: %v, want ErrForeignOwner naming the flag", err)
	}
	if id, err := For(nobodyish.UID, nobodyish.GID, true); err != nil || !id.Self() {
		t.Errorf("For with allowForeign: %v, %v; want runner itself", id, err)
	}
}
