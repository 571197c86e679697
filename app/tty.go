package app

import (
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(w) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// width is TermWidth, 0 where the Env has none (tests, pipes).
func (e Env) width(w io.Writer) int {
	if e.TermWidth == nil {
		return 0
	}
	return e.TermWidth(w)
}

// palette colours one output: on only when it goes to a terminal and
// NO_COLOR is unset or empty (no-color.org). Failures, regressions and
// paused uploads are red, what is well green.
type palette struct{ on bool }

func (e Env) palette(w io.Writer) palette {
	return palette{on: e.IsTerminal != nil && e.IsTerminal(w) && (e.Getenv == nil || e.Getenv("NO_COLOR") == "")}
}

func (p palette) paint(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p palette) red(s string) string   { return p.paint("1;31", s) }
func (p palette) green(s string) string { return p.paint("32", s) }

// rows colours whole lines of an aligned table after tabwriter laid it out
// (escape codes inside cells would break the alignment): line i gets
// paints[i], nil for none.
func (p palette) rows(table string, paints []func(string) string) string {
	if !p.on {
		return table
	}
	lines := strings.SplitAfter(table, "\n")
	for i, line := range lines {
		if i < len(paints) && paints[i] != nil && strings.TrimSpace(line) != "" {
			body, nl := strings.CutSuffix(line, "\n")
			lines[i] = paints[i](body)
			if nl {
				lines[i] += "\n"
			}
		}
	}
	return strings.Join(lines, "")
}
