package jobs

// Run-time limits of the queue (docs/design.md "Run-time limits"): `runner
// config set cpu-slots 4` and `runner config set gpus 0,1` are rows of the
// ledger's settings, read by the scheduler at the top of each plan, so the
// next plan uses them, running jobs go on, and a restart keeps them. A
// setting wins over the daemon's flag; `runner config unset` gives the
// flag back.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The limits runner config sets (keys of ledger.JobSettings).
const (
	SettingCPUSlots = "cpu-slots"
	SettingGPUs     = "gpus"
)

// settingFlags names, for each setting, the daemon flag it overrides.
var settingFlags = map[string]string{SettingCPUSlots: "--cpu-slots", SettingGPUs: "--gpus"}

// Limits are the queue's run-time limits; zero values leave the daemon's.
type Limits struct {
	CPUSlots int   // 0: the daemon's --cpu-slots
	GPUs     []int // the GPU indexes jobs may get; nil: all
	NoGPUs   bool  // gpus none: jobs get no GPU
}

// LimitsOf reads the limits from the queue's settings (values as
// ParseSetting stored them; anything else is left out).
func LimitsOf(settings map[string]string) Limits {
	var l Limits
	if n, err := strconv.Atoi(settings[SettingCPUSlots]); err == nil && n > 0 {
		l.CPUSlots = n
	}
	switch v := settings[SettingGPUs]; v {
	case "":
	case "none":
		l.NoGPUs = true
	default:
		for _, f := range strings.Split(v, ",") {
			if i, err := strconv.Atoi(f); err == nil {
				l.GPUs = append(l.GPUs, i)
			}
		}
	}
	return l
}

// Slots is the CPU slots to plan with: the setting, else the daemon's.
func (l Limits) Slots(daemon int) int {
	if l.CPUSlots > 0 {
		return l.CPUSlots
	}
	return daemon
}

// Devices is the GPUs of devs that jobs may get, and the reason when the
// setting leaves none of them.
func (l Limits) Devices(devs []Device) ([]Device, string) {
	if !l.NoGPUs && l.GPUs == nil {
		return devs, ""
	}
	out := slices.DeleteFunc(slices.Clone(devs), func(d Device) bool { return l.NoGPUs || !slices.Contains(l.GPUs, d.Index) })
	if len(out) == 0 && len(devs) > 0 {
		return nil, "no GPU is given to jobs (runner config gpus " + l.gpus() + ")"
	}
	return out, ""
}

func (l Limits) gpus() string {
	if l.NoGPUs {
		return "none"
	}
	parts := make([]string, len(l.GPUs))
	for i, g := range l.GPUs {
		parts[i] = strconv.Itoa(g)
	}
	return strings.Join(parts, ",")
}

// ParseSetting checks a value for key as typed and returns it as stored:
// cpu-slots a positive number; gpus a comma list of GPU indexes (as
// runner gpus numbers them) or none.
func ParseSetting(key, value string) (string, error) {
	switch key {
	case SettingCPUSlots:
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return "", refusef("config: cpu-slots %q: want a positive number", value)
		}
		return strconv.Itoa(n), nil
	case SettingGPUs:
		if value == "none" {
			return value, nil
		}
		var idx []int
		for _, f := range strings.Split(value, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || i < 0 {
				return "", refusef("config: gpus %q: want GPU indexes like 0,1 (runner gpus), or none", value)
			}
			idx = append(idx, i)
		}
		slices.Sort(idx)
		return Limits{GPUs: slices.Compact(idx)}.gpus(), nil
	}
	return "", refusef("config: unknown setting %q: want %s or %s", key, SettingCPUSlots, SettingGPUs)
}

// ConfiguredLimits is the limits runner config set, by key (runner status).
func ConfiguredLimits(ctx context.Context, db ConfigStore) (map[string]string, error) {
	set, err := db.JobSettings(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k := range settingFlags {
		if v := set[k]; v != "" {
			out[k] = v
		}
	}
	return out, nil
}

// ConfigStore keeps the queue's settings (the ledger).
type ConfigStore interface {
	JobSettings(ctx context.Context) (map[string]string, error)
	SetJobSetting(ctx context.Context, key, value string) (changed bool, err error)
}

// Config is `runner config` with args as typed after it: none shows the
// limits, "set KEY VALUE" and "unset KEY" change one. It says what it did
// (or that it already was so) on say; changed tells the caller to wake
// the scheduler. Bad usage is a Refusal.
func Config(ctx context.Context, db ConfigStore, args []string, say func(string)) (changed bool, err error) {
	verb := ""
	if len(args) > 0 {
		verb = args[0]
	}
	switch {
	case verb == "" || verb == "show" && len(args) == 1:
		set, err := db.JobSettings(ctx)
		if err != nil {
			return false, err
		}
		for _, k := range []string{SettingCPUSlots, SettingGPUs} {
			if v := set[k]; v != "" {
				say(fmt.Sprintf("%s: %s (runner config; wins over the daemon's %s)", k, v, settingFlags[k]))
			} else {
				say(fmt.Sprintf("%s: - (the daemon's %s)", k, settingFlags[k]))
			}
		}
		return false, nil
	case verb == "set" && len(args) == 3:
		v, err := ParseSetting(args[1], args[2])
		if err != nil {
			return false, err
		}
		if changed, err = db.SetJobSetting(ctx, args[1], v); err != nil {
			return false, err
		}
		if !changed {
			say(fmt.Sprintf("%s: already %s", args[1], v))
			return false, nil
		}
		say(fmt.Sprintf("%s: %s (the next plan uses it; running jobs go on)", args[1], v))
		return true, nil
	case verb == "unset" && len(args) == 2:
		if _, err := ParseSetting(args[1], "1"); err != nil {
			return false, err
		}
		if changed, err = db.SetJobSetting(ctx, args[1], ""); err != nil {
			return false, err
		}
		if !changed {
			say(fmt.Sprintf("%s: not set (the daemon's %s)", args[1], settingFlags[args[1]]))
			return false, nil
		}
		say(fmt.Sprintf("%s: back to the daemon's %s", args[1], settingFlags[args[1]]))
		return true, nil
	}
	return false, refusef("config: want no argument, set KEY VALUE or unset KEY (keys: %s, %s)", SettingCPUSlots, SettingGPUs)
}
