// Package argv rearranges a command line's words before urfave/cli parses
// them (docs/design.md "Command line"): flags may follow positional
// arguments, global flags may follow the command, and one command (submit)
// keeps the job's command line as typed. It knows flags only by their
// names and whether they take a value.
package argv

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Command lets flags follow positional arguments (args[0] is the program)
// for every command of a but asTyped, whose command line from its first
// word that is not a flag is kept as typed (AsTyped), by moving them in
// front before urfave parses.
func Command(a *cli.App, args []string, asTyped string) []string {
	global := ValueFlags(a.Flags)
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		name := strings.TrimLeft(args[i], "-")
		if global[name] && !strings.Contains(name, "=") {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := a.Command(args[i])
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	lifted, after := liftGlobal(args[i+1:], global, ValueFlags(cmd.Flags), cmd.Name == asTyped)
	var rest []string
	if cmd.Name == asTyped {
		rest = AsTyped(after, cmd.Flags)
	} else {
		rest = FlagsFirst(after, cmd.Flags)
	}
	out := append(append(append([]string{}, args[:i]...), lifted...), args[i])
	return append(out, rest...)
}

// liftGlobal takes runner's global flags (--db, --log-level...) out of
// a command's arguments, so they may follow the command as the README says;
// the caller puts them before it. A flag the command defines itself stays,
// and nothing after "--" (or, for submit, from the job's command on) moves.
func liftGlobal(args []string, global, own map[string]bool, submit bool) (lifted, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || (submit && (len(a) < 2 || a[0] != '-')) {
			return lifted, append(rest, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, isGlobal := global[name]
		_, isOwn := own[name]
		switch {
		case len(a) < 2 || a[0] != '-':
			rest = append(rest, a)
		case isGlobal && !isOwn:
			lifted = append(lifted, a)
			if takesValue && !hasValue && i+1 < len(args) {
				i++
				lifted = append(lifted, args[i])
			}
		default:
			rest = append(rest, a)
			if submit && own[name] && !hasValue && i+1 < len(args) {
				i++ // a value of submit's own flag, whatever it looks like
				rest = append(rest, args[i])
			}
		}
	}
	return lifted, rest
}

// ValueFlags returns the names (and aliases) of the flags that take a value,
// which is what FlagsFirst needs to know to keep a flag and its value together.
func ValueFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			m[n] = !isBool
		}
	}
	return m
}

// AsTyped is submit's rule, as in ts, pueue and sbatch: runner's own
// flags end at the first argument that is not one (or at "--"), and the job's
// command line starts there, untouched: `runner submit python train.py --lr
// 3e-4` passes --lr to train.py. A "--" is put in front of the command so the
// flag parser reads none of it.
func AsTyped(args []string, flags []cli.Flag) []string {
	known := ValueFlags(flags)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if len(a) > 1 && a[0] == '-' {
			if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && known[name] {
				i++ // its value, whatever it looks like
			}
			continue
		}
		out := append([]string{}, args[:i]...)
		return append(append(out, "--"), args[i:]...)
	}
	return args
}

// FlagsFirst moves flags in front of positional arguments so that
// `runner check RUN --metric M` parses: urfave/cli v2 stops at the first
// positional argument. Everything after "--" is left alone (submit's command).
func FlagsFirst(args []string, flags []cli.Flag) []string {
	known := ValueFlags(flags)
	var fl, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			fl = append(fl, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if known[name] && i+1 < len(args) {
				i++
				fl = append(fl, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) > 0 && pos[0] != "--" {
		// A lone "--" tells the flag parser that what follows is positional,
		// so a positional argument that starts with "-" cannot be mistaken.
		return append(append(fl, "--"), pos...)
	}
	return append(fl, pos...)
}

// Completion makes a completion request safe to hand to urfave: a "--"
// being typed (the word just before the flag) asks for flags and becomes
// "-"; an earlier "--" means everything after it is the job's command line,
// which runner does not complete (ok false: answer nothing).
func Completion(args []string) ([]string, bool) {
	out := append([]string{}, args...)
	for i := 1; i < len(out)-1; i++ {
		if out[i] != "--" {
			continue
		}
		if i != len(out)-2 {
			return nil, false
		}
		out[i] = "-"
	}
	return out, true
}
