// Package proc identifies processes on this host: a pid with its start
// time (from /proc/<pid>/stat) names one process even after the pid is
// reused. Job supervision and upload leases both rely on it.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrNotRunning means the process does not exist.
var ErrNotRunning = errors.New("process not running")

// Stat reads the state, process group and start time (clock ticks since
// boot, field 22) of pid from /proc/<pid>/stat.
func Stat(pid int) (state byte, pgrp int, startTicks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, 0, 0, fmt.Errorf("pid %d: %w", pid, ErrNotRunning)
		}
		return 0, 0, 0, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// or ")", so fields are counted from the last ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 5 is pgrp, field 22 starttime.
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	pgrp, err = strconv.Atoi(string(fields[2]))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("parse /proc/%d/stat pgrp: %w", pid, err)
	}
	startTicks, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return fields[0][0], pgrp, startTicks, nil
}

// StartTicks is pid's start time in clock ticks since boot.
func StartTicks(pid int) (uint64, error) {
	_, _, t, err := Stat(pid)
	return t, err
}

// Alive reports whether pid exists, is not a zombie, and started at
// startTicks, so a reused pid does not count. A failed read other than
// "no such process" (too many open files) counts as alive: nothing is
// taken over on a guess.
func Alive(pid int, startTicks uint64) bool {
	if pid <= 0 {
		return false
	}
	state, _, t, err := Stat(pid)
	if err != nil {
		return !errors.Is(err, ErrNotRunning)
	}
	return state != 'Z' && state != 'X' && t == startTicks
}
