package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/runnerhq/runner/ledger"
)

// Write prints v as every --json output is printed: indented by two
// spaces, one newline after.
func Write(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Array writes a JSON array element by element, byte for byte what Write
// writes for the whole slice: for an answer too large to hold.
type Array struct {
	w io.Writer
	n int
}

// NewArray starts an array on w.
func NewArray(w io.Writer) *Array { return &Array{w: w} }

// Add writes one element.
func (a *Array) Add(v any) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	return a.add(b)
}

// add writes one element encoded as MarshalIndent(v, "  ", "  ") would.
func (a *Array) add(b []byte) error {
	sep := ",\n  "
	if a.n == 0 {
		sep = "[\n  "
	}
	a.n++
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	_, err := a.w.Write(b)
	return err
}

// Close ends the array.
func (a *Array) Close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(a.w, end)
	return err
}

// StreamRuns writes the runs f selects as Write writes a []Run, encoding
// them while the cursor reads on (another core) a few hundred ahead:
// memory stays flat whatever the number of runs.
func StreamRuns(ctx context.Context, db *ledger.DB, f ledger.Filter, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const chunk = 256
	chunks := make(chan []Run, 4)
	read := make(chan error, 1)
	go func() {
		defer close(chunks)
		buf := make([]Run, 0, chunk)
		err := db.EachRun(ctx, f, func(r ledger.Run) error {
			if buf = append(buf, RunOf(r)); len(buf) == chunk {
				select {
				case chunks <- buf:
				case <-ctx.Done():
					return ctx.Err()
				}
				buf = make([]Run, 0, chunk)
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			select {
			case chunks <- buf:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		read <- err
	}()
	w := bufio.NewWriterSize(out, 64<<10)
	a := NewArray(w)
	var (
		werr error
		buf  []byte
	)
	for rs := range chunks {
		for _, r := range rs {
			if werr == nil {
				buf = r.appendJSON(buf[:0], "  ")
				werr = a.add(buf)
			}
		}
		if werr != nil {
			cancel() // the reader stops; drain what it sent
		}
	}
	if err := <-read; err != nil && werr == nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if err := a.Close(); err != nil {
		return err
	}
	return w.Flush()
}
