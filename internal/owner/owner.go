// Package owner does what the daemon does inside a user's tree with that
// user's credentials (docs/design.md "Threat model"): file operations in
// process, on a thread whose filesystem uid is the owner's, and the wandb CLI
// through a small re-exec of runner that drops to the owner before exec.
package owner

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrCannotSwitch means this process may not take another user's
// credentials (no CAP_SETUID/CAP_SETGID: not root, or a unit that drops them).
var ErrCannotSwitch = errors.New("cannot switch user (no CAP_SETUID/CAP_SETGID)")

// ID is whom an operation runs as.
type ID struct {
	UID, GID int
	Groups   []int // supplementary groups
	Name     string
}

func (id ID) String() string {
	if id.Name != "" {
		return fmt.Sprintf("%s (uid %d)", id.Name, id.UID)
	}
	return fmt.Sprintf("uid %d", id.UID)
}

// Self reports whether id is this process's own effective user, so that
// nothing needs to switch.
func (id ID) Self() bool { return id.UID == os.Geteuid() }

// Self is this process's own user.
func Self() ID { return ID{UID: os.Geteuid(), GID: os.Getegid()} }

// Lookup reads uid's account as the operation starts (group changes count);
// a uid without an account (a dir chowned to a bare number) gets gid and no
// supplementary groups.
func Lookup(uid, gid int) ID {
	id := ID{UID: uid, GID: gid}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return id
	}
	id.Name = u.Username
	if g, err := strconv.Atoi(u.Gid); err == nil {
		id.GID = g
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if n, err := strconv.Atoi(s); err == nil && n != id.GID {
				id.Groups = append(id.Groups, n)
			}
		}
	}
	return id
}

// CanSwitch reports whether this process may act as another user: both
// CAP_SETUID and CAP_SETGID in its effective set. why says what was found.
func CanSwitch() (ok bool, why string) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false, "cannot read /proc/self/status: " + err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, found := strings.CutPrefix(sc.Text(), "CapEff:")
		if !found {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, "bad CapEff in /proc/self/status"
		}
		const need = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID
		if caps&need != need {
			return false, fmt.Sprintf("uid %d without CAP_SETUID and CAP_SETGID", os.Geteuid())
		}
		return true, ""
	}
	return false, "no CapEff in /proc/self/status"
}

// Do runs fn with id's filesystem credentials: every open, create, unlink
// and permission check fn makes is id's, as if id did it, and what it
// creates belongs to id. For id == Self it just calls fn.
//
// fn runs on its own OS thread, which gets setfsuid/setfsgid/setgroups (per
// thread in the kernel) and is thrown away afterwards: the goroutine ends
// locked, so the runtime kills the thread instead of reusing it, and new
// threads are never cloned from a locked one. fn must not start goroutines
// that touch files: they run on other threads, as root.
func Do(id ID, fn func() error) error {
	if id.Self() {
		return fn()
	}
	if ok, why := CanSwitch(); !ok {
		return fmt.Errorf("act as %s: %w: %s", id, ErrCannotSwitch, why)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := setThreadCreds(id); err != nil {
			done <- fmt.Errorf("act as %s: %w", id, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func setThreadCreds(id ID) error {
	groups := make([]uint32, 0, len(id.Groups)+1)
	groups = append(groups, uint32(id.GID))
	for _, g := range id.Groups {
		groups = append(groups, uint32(g))
	}
	// Raw syscalls: the libc and Go wrappers change every thread.
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	unix.RawSyscall(unix.SYS_SETFSGID, uintptr(id.GID), 0, 0)
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(id.UID), 0, 0)
	// setfsuid reports no error; asking again (with an invalid id, which
	// changes nothing) returns the value in force.
	none := ^uint32(0)
	if r, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, uintptr(none), 0, 0); int(r) != id.UID {
		return fmt.Errorf("setfsuid %d did not take (fsuid %d)", id.UID, r)
	}
	if r, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, uintptr(none), 0, 0); int(r) != id.GID {
		return fmt.Errorf("setfsgid %d did not take (fsgid %d)", id.GID, r)
	}
	return nil
}

// HelperArg is argv[1] of the re-exec that runs a command as another user.
// runner's main (and a test binary's TestMain) hands it to Main.
const HelperArg = "_as-owner"

// Command returns the argv that runs exe with args as id through self (the
// runner binary): `self _as-owner UID GID GROUPS PPID -- exe args...`.
func Command(self string, id ID, exe string, args []string) []string {
	groups := make([]string, 0, len(id.Groups))
	for _, g := range id.Groups {
		groups = append(groups, strconv.Itoa(g))
	}
	argv := []string{self, HelperArg, strconv.Itoa(id.UID), strconv.Itoa(id.GID), strings.Join(groups, ","),
		strconv.Itoa(os.Getpid()), "--", exe}
	return append(argv, args...)
}

// decoyGID is the real gid of the helper's command (exec makes the saved
// gid the effective one): not the owner's, so the kernel marks the process
// non-dumpable at exec and the owner can neither read its
// /proc/PID/environ (the API key) nor ptrace it, and not root's, so it
// cannot get gid 0 back.
func decoyGID(gid int) int {
	if gid == 65534 {
		return 65533
	}
	return 65534
}

// Main is the helper: args are os.Args[2:]. It takes id's credentials for
// good (real, effective and saved uid; groups), keeps a decoy real gid (see
// decoyGID), re-arms the parent-death signal the credential change cleared,
// and execs the command. It returns only on error.
func Main(args []string) error {
	if len(args) < 6 || args[4] != "--" {
		return errors.New("usage: runner _as-owner UID GID GROUPS PPID -- EXE [ARG...]")
	}
	uid, err1 := strconv.Atoi(args[0])
	gid, err2 := strconv.Atoi(args[1])
	ppid, err3 := strconv.Atoi(args[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("_as-owner: %w", err)
	}
	groups := []int{gid}
	if args[2] != "" {
		for _, s := range strings.Split(args[2], ",") {
			g, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("_as-owner: group %q: %w", s, err)
			}
			groups = append(groups, g)
		}
	}
	if uid == 0 {
		return errors.New("_as-owner: refusing uid 0")
	}
	// Go applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("_as-owner: setgroups: %w", err)
	}
	d := decoyGID(gid)
	if err := syscall.Setresgid(d, gid, d); err != nil {
		return fmt.Errorf("_as-owner: setresgid: %w", err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("_as-owner: setresuid: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("_as-owner: pdeathsig: %w", err)
	}
	if os.Getppid() != ppid {
		return errors.New("_as-owner: the daemon is gone")
	}
	exe := args[5]
	return fmt.Errorf("_as-owner: exec %s: %w", exe, syscall.Exec(exe, args[5:], os.Environ()))
}

// ErrForeignOwner means a dir belongs to another user and runner may not
// act as them (see For).
var ErrForeignOwner = errors.New("run dir belongs to another user")

// For is whom runner acts as in a dir owned by uid:gid (docs/design.md
// "Threat model"): the owner, when runner is them or can switch to them;
// runner itself for root's dirs, and for another user's only with allowForeign
// (--allow-foreign-owners); else an ErrForeignOwner error that says why
// and what to do.
func For(uid, gid int, allowForeign bool) (ID, error) {
	if uid == os.Geteuid() {
		return ID{UID: uid, GID: gid}, nil
	}
	if uid == 0 {
		// Root plants nothing: a root-owned dir in the tree of a runner
		// that is not root is used as runner, and the file system decides.
		return Self(), nil
	}
	id := Lookup(uid, gid)
	ok, why := CanSwitch()
	switch {
	case ok:
		return id, nil
	case allowForeign:
		return Self(), nil
	}
	return id, fmt.Errorf("%w (%s) and runner (%s) cannot act as them: run the daemon as root, or pass --allow-foreign-owners to upload such runs as uid %d",
		ErrForeignOwner, id, why, os.Geteuid())
}
