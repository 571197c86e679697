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

// WriteArray writes the elements pass reads as Write writes their slice,
// each as it comes: memory stays flat whatever their number.
func WriteArray[T any](w io.Writer, pass func(func(T) error) error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	a := NewArray(bw)
	if err := pass(func(v T) error { return a.Add(v) }); err != nil {
		return err
	}
	if err := a.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// StreamRuns writes the runs f selects as Write writes a []Run, encoding
// them while the cursor reads on (another core) a few hundred ahead:
// memory stays flat whatever the number of runs. The chunks go back to the
// reader once written, so a listing allocates a few of them, not one per
// 256 runs.
func StreamRuns(ctx context.Context, db *ledger.DB, f ledger.Filter, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const chunk, ahead = 256, 4
	chunks := make(chan []ledger.Run, ahead)
	free := make(chan []ledger.Run, ahead+2) // every chunk there can be: the writer never blocks on it
	read := make(chan error, 1)
	go func() {
		defer close(chunks)
		buf := make([]ledger.Run, 0, chunk)
		send := func() error {
			select {
			case chunks <- buf:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case buf = <-free:
				buf = buf[:0]
			default:
				buf = make([]ledger.Run, 0, chunk)
			}
			return nil
		}
		err := db.EachRun(ctx, f, func(r ledger.Run) error {
			if buf = append(buf, r); len(buf) == chunk {
				return send()
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			err = send()
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
		for i := range rs {
			if werr == nil {
				buf = appendRun(buf[:0], &rs[i], "  ")
				werr = a.add(buf)
			}
		}
		if werr != nil {
			cancel() // the reader stops; drain what it sent
		}
		select {
		case free <- rs:
		default:
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
