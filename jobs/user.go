package jobs

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// User is whom a job's command runs as: its owner, when the daemon is root
// (docs/design.md "Every user, one daemon").
type User struct {
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Groups []int  `json:"groups"` // supplementary groups
	Name   string `json:"name"`
	Home   string `json:"home"`
}

// LookupUser reads uid's account (name, home, primary and supplementary
// groups) as the job starts, so group changes since the submit count.
func LookupUser(uid int) (*User, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return nil, fmt.Errorf("job owner uid %d: %w", uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("job owner %s: gid %q: %w", u.Username, u.Gid, err)
	}
	out := &User{UID: uid, GID: gid, Name: u.Username, Home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("job owner %s: groups: %w", u.Username, err)
	}
	for _, g := range ids {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			out.Groups = append(out.Groups, n)
		}
	}
	return out, nil
}

// credential is the process credential of u; nil (the supervisor's own) for no user.
func (u *User) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	c := &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}
	for _, g := range u.Groups {
		c.Groups = append(c.Groups, uint32(g))
	}
	return c
}
