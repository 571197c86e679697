package app

import (
	"io"
	"os"
	"strconv"

	"github.com/mattn/go-isatty"
	"github.com/runnerhq/runner/text"
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

// width is TermWidth, 0 where the Env has none (tests, pipes). A terminal
// that reports no size (a pty opened by script(1), expect or a CI runner)
// takes COLUMNS, as ls does; a pipe is never cut, whatever COLUMNS says.
func (e Env) width(w io.Writer) int {
	if e.TermWidth != nil {
		if n := e.TermWidth(w); n > 0 {
			return n
		}
	}
	if e.IsTerminal == nil || !e.IsTerminal(w) || e.Getenv == nil {
		return 0
	}
	if n, err := strconv.Atoi(e.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// palette colours one output (text.Palette): on only when it goes to a
// terminal and NO_COLOR is unset or empty (no-color.org).
func (e Env) palette(w io.Writer) text.Palette {
	return text.Palette{On: e.IsTerminal != nil && e.IsTerminal(w) && (e.Getenv == nil || e.Getenv("NO_COLOR") == "")}
}
