package jobs

import (
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestUnitArgs(t *testing.T) {
	u := Units{SystemdRun: "/usr/bin/systemd-run"}
	s := Spec{ID: 7, Grace: 10 * time.Second}
	tests := []struct {
		name string
		o    UnitOptions
		want []string
	}{
		{"first attempt", UnitOptions{Attempt: 1},
			[]string{"/usr/bin/systemd-run", "--unit=runner-job-7.service", "--slice=runner-jobs.slice",
				"--description=runner job 7", "--collect", "--quiet", "--property=KillMode=mixed",
				"--property=TimeoutStopSec=20s", "--", "/usr/local/bin/runner", "_supervise", "--job", "7",
				"--spec-file", "/var/lib/runner/jobs/7/spec.json"}},
		{"a retry with a name, --mem and --cpus", UnitOptions{Attempt: 2, Name: "train", MemMax: 64 << 30, CPUs: 4},
			[]string{"/usr/bin/systemd-run", "--unit=runner-job-7-2.service", "--slice=runner-jobs.slice",
				"--description=runner job 7 (train)", "--collect", "--quiet", "--property=KillMode=mixed",
				"--property=TimeoutStopSec=20s", "--property=MemoryMax=68719476736", "--property=CPUQuota=400%", "--", "/usr/local/bin/runner",
				"_supervise", "--job", "7", "--spec-file", "/var/lib/runner/jobs/7/spec.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := u.Args("/usr/local/bin/runner", s, tt.o, "/var/lib/runner/jobs/7/spec.json")
			if !slices.Equal(got, tt.want) {
				t.Errorf("args\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestUnitsFor(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/systemd-run", nil }
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	service := map[string]string{"INVOCATION_ID": "abc", "NOTIFY_SOCKET": "/run/systemd/notify"}
	terminal := map[string]string{"INVOCATION_ID": "abc"} // a shell inside a user session's service
	tests := []struct {
		name      string
		mode      string
		env       map[string]string
		uid       int
		look      func(string) (string, error)
		wantUnits bool
		wantErr   error
	}{
		{"auto as a root service", UnitsAuto, service, 0, found, true, nil},
		{"auto as a user service", UnitsAuto, service, 1000, found, false, nil},
		{"auto in a terminal", UnitsAuto, terminal, 0, found, false, nil},
		{"auto without systemd-run", UnitsAuto, service, 0, missing, false, nil},
		{"systemd forced", UnitsSystemd, nil, 1000, found, true, nil},
		{"systemd forced without systemd-run", UnitsSystemd, nil, 0, missing, false, exec.ErrNotFound},
		{"off", UnitsOff, service, 0, found, false, nil},
		{"bad mode", "yes", nil, 0, found, false, ErrBadUnitsMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := UnitsFor(tt.mode, func(k string) string { return tt.env[k] }, tt.uid, tt.look)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if (u != nil) != tt.wantUnits {
				t.Errorf("units = %+v, want units %v", u, tt.wantUnits)
			}
		})
	}
}
