package app

import (
	"io"
	"os"

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

// width is TermWidth, 0 where the Env has none (tests, pipes).
func (e Env) width(w io.Writer) int {
	if e.TermWidth == nil {
		return 0
	}
	return e.TermWidth(w)
}

// palette colours one output (text.Palette): on only when it goes to a
// terminal and NO_COLOR is unset or empty (no-color.org).
func (e Env) palette(w io.Writer) text.Palette {
	return text.Palette{On: e.IsTerminal != nil && e.IsTerminal(w) && (e.Getenv == nil || e.Getenv("NO_COLOR") == "")}
}
