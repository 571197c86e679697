// Package text is what runner prints for people: the tables and reports of
// the command line, laid out, shortened and coloured, from the values the
// packages that own them hand it. It reads nothing and decides nothing; a
// second front end that serves text calls the same functions.
package text

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/dustin/go-humanize"

	"github.com/runnerhq/runner/internal/safe"
)

// Palette colours one output: Red for failures, regressions and paused
// uploads, Green for what is well; all plain when On is false (the caller
// decides: a terminal, NO_COLOR unset).
type Palette struct{ On bool }

func (p Palette) paint(code, s string) string {
	if !p.On || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p Palette) Red(s string) string   { return p.paint("1;31", s) }
func (p Palette) Green(s string) string { return p.paint("32", s) }

// Rows colours whole lines of an aligned table after tabwriter laid it out
// (escape codes inside cells would break the alignment): line i gets
// paints[i], nil for none.
func (p Palette) Rows(table string, paints []func(string) string) string {
	if !p.On {
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

// Cut shortens each line of table to width runes, the last one an
// ellipsis, so a terminal does not wrap it; width 0 cuts nothing.
func Cut(table string, width int) string {
	var cut strings.Builder
	for _, line := range strings.SplitAfter(table, "\n") {
		if r := []rune(strings.TrimSuffix(line, "\n")); width > 0 && len(r) > width {
			line = string(r[:width-1]) + "…\n"
		}
		cut.WriteString(line)
	}
	return cut.String()
}

// dash is a table cell's spelling of a name (internal/safe).
func dash(s string) string { return safe.Dash(s) }

// Ago is a time for people, relative to now ("3 minutes ago"): the style of
// every time in human output; JSON has RFC 3339.
func Ago(now time.Time, rfc string) string {
	t, err := time.Parse(time.RFC3339, rfc)
	if err != nil {
		return rfc
	}
	return humanize.RelTime(t, now, "ago", "from now")
}

// Rough rounds a duration to what a person reads: 45s, 7m, 3h, 2d.
func Rough(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// minFree is the narrowest Fit makes a free-text column.
const minFree = 10

// columns lays out an aligned table as tabwriter (padding gap, no flags)
// lays out rows of one length: every column but the last as wide as its
// widest cell in runes, then gap spaces; the last cell as it is. The
// widths come from a first pass over the rows (measure), so that a second
// pass can print each row as it comes (line): a table of a million runs is
// never held whole (docs/design.md "Listing a large ledger"). Cells must
// not hold tabs or newlines (internal/safe escapes them).
type columns struct {
	widths []int
	gap    int
	free   []int // the free-text columns that fit may shorten
	cut    bool  // fit shortened something: line cuts the free cells
}

// measure widens the columns to row's cells.
func (c *columns) measure(row []string) {
	if c.widths == nil {
		c.widths = make([]int, len(row))
	}
	for i, cell := range row {
		c.widths[i] = max(c.widths[i], utf8.RuneCountInString(cell))
	}
}

// fit shrinks the free columns, widest first, until the table fits width;
// width 0 (not a terminal) changes nothing: a pipe gets every character.
// No free column is made narrower than minFree, so a very narrow terminal
// may still wrap.
func (c *columns) fit(width int) {
	if width <= 0 || len(c.widths) == 0 {
		return
	}
	total := c.gap * (len(c.widths) - 1)
	for _, w := range c.widths {
		total += w
	}
	for total > width {
		best := -1
		for _, i := range c.free {
			if c.widths[i] > minFree && (best < 0 || c.widths[i] > c.widths[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		c.widths[best]--
		total--
		c.cut = true
	}
}

// shorten cuts row's free cells to their fitted widths, the last rune "…".
func (c *columns) shorten(row []string) {
	if !c.cut {
		return
	}
	for _, i := range c.free {
		if utf8.RuneCountInString(row[i]) > c.widths[i] {
			r := []rune(row[i])
			row[i] = string(r[:c.widths[i]-1]) + "…"
		}
	}
}

// line appends row laid out (shortened first), without a newline.
func (c *columns) line(b []byte, row []string) []byte {
	c.shorten(row)
	for i, cell := range row {
		b = append(b, cell...)
		if i < len(row)-1 {
			for n := c.widths[i] + c.gap - utf8.RuneCountInString(cell); n > 0; n-- {
				b = append(b, ' ')
			}
		}
	}
	return b
}

// Fit shrinks the free-text columns free (indexes into each row) of rows,
// widest first, until the table laid out with gap spaces between columns
// fits width; a shortened cell ends in "…". Width 0 (not a terminal)
// changes nothing: a pipe gets every character. No free column is made
// narrower than minFree, so a very narrow terminal may still wrap.
func Fit(rows [][]string, width, gap int, free []int) {
	c := columns{gap: gap, free: free}
	for _, r := range rows {
		c.measure(r)
	}
	c.fit(width)
	for _, r := range rows {
		c.shorten(r)
	}
}

// table lays rows out in aligned columns two spaces apart, the free
// columns fitted to width first (Fit).
func table(rows [][]string, width int, free []int) string {
	c := columns{gap: 2, free: free}
	for _, r := range rows {
		c.measure(r)
	}
	c.fit(width)
	var b []byte
	for _, r := range rows {
		b = append(c.line(b, r), '\n')
	}
	return string(b)
}

// tabs is a tabwriter on a buffer over w: tabwriter writes each cell on
// its own, one write(2) per cell to a terminal or pipe (half the time of
// runner regressions of 4,000 rows). Flush writes the table, then the
// buffer.
type tabs struct {
	*tabwriter.Writer
	buf *bufio.Writer
}

// newTabs lays out columns padding spaces apart.
func newTabs(w io.Writer, padding int) tabs {
	buf := bufio.NewWriterSize(w, 32<<10)
	return tabs{Writer: tabwriter.NewWriter(buf, 0, 4, padding, ' ', 0), buf: buf}
}

func (t tabs) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.buf.Flush()
}
