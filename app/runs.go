package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/internal/safe"
	"github.com/runnerhq/runner/ledger"
)

func runsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list the runs in the ledger",
		Flags: []cli.Flag{
			stringFlag("state", "only runs in this state (active, pending, uploading, synced, failed, skipped, missing)", ""),
			stringFlag("project", "only runs of this W&B project", ""),
			boolFlag("json", "print a JSON array"),
		},
		Action: func(c *cli.Context) error {
			st := ledger.State(c.String("state"))
			if st != "" && !slices.Contains(ledger.AllStates, st) {
				return usagef("runs: invalid --state %q: want one of %v", st, ledger.AllStates)
			}
			return withLedger(c, env, true, func(db *ledger.DB, logger *slog.Logger) error {
				f := ledger.Filter{State: st, Project: c.String("project"), Lean: true}
				if c.Bool("json") {
					if err := streamRunsJSON(c.Context, db, f, env.Stdout); err != nil {
						return fmt.Errorf("runs: %w", err)
					}
					return nil
				}
				runs, err := db.ListRuns(c.Context, f)
				if err != nil {
					return fmt.Errorf("runs: %w", err)
				}
				printRuns(env.Stdout, runs, env.palette(env.Stdout))
				return nil
			})
		},
	}
}

// streamRunsJSON writes the runs f selects as writeJSON writes a
// []RunJSON, encoding them while the cursor reads on (another core) a
// few hundred ahead: memory stays flat whatever the number of runs.
func streamRunsJSON(ctx context.Context, db *ledger.DB, f ledger.Filter, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const chunk = 256
	chunks := make(chan []RunJSON, 4)
	read := make(chan error, 1)
	go func() {
		defer close(chunks)
		buf := make([]RunJSON, 0, chunk)
		err := db.EachRun(ctx, f, func(r ledger.Run) error {
			if buf = append(buf, api.RunOf(r)); len(buf) == chunk {
				select {
				case chunks <- buf:
				case <-ctx.Done():
					return ctx.Err()
				}
				buf = make([]RunJSON, 0, chunk)
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
	a := newJSONArray(w)
	var werr error
	for rs := range chunks {
		for _, r := range rs {
			if werr == nil {
				werr = a.add(r)
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
	if err := a.close(); err != nil {
		return err
	}
	return w.Flush()
}

// RunJSON and JobJSON are the elements of `runs --json` and `jobs --json`.
type (
	RunJSON = api.Run
	JobJSON = api.Job
)

// show prints v as JSON with --json, else as print writes it: for commands
// whose exit code is decided after the output (status, doctor, check, gc).
func show(c *cli.Context, env Env, v any, print func()) error {
	if c.Bool("json") {
		return writeJSON(env.Stdout, v)
	}
	print()
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// jsonArray writes a JSON array element by element, byte for byte what
// writeJSON writes for the whole slice: for an answer too large to hold.
type jsonArray struct {
	w io.Writer
	n int
}

func newJSONArray(w io.Writer) *jsonArray { return &jsonArray{w: w} }

func (a *jsonArray) add(v any) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if a.n == 0 {
		sep = "[\n  "
	}
	a.n++
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	_, err = a.w.Write(b)
	return err
}

func (a *jsonArray) close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(a.w, end)
	return err
}

func printRuns(w io.Writer, runs []ledger.Run, p palette) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tPROJECT\tNAME\tSTATE\tEXIT\tATTEMPTS\tJOB\tDIR\tNOTE")
	paints := []func(string) string{nil} // the header
	for _, r := range runs {
		exit := "-"
		if r.ExitCode != nil {
			exit = fmt.Sprint(*r.ExitCode)
		} else if !r.Finished {
			exit = "none"
		}
		note := r.URL
		if r.LastError != "" && r.State != ledger.StateSynced {
			note = r.LastError
		}
		if r.Reason != "" && (r.State == ledger.StateSkipped || r.State == ledger.StateMissing) {
			note = r.Reason
		}
		if note = safe.Text(note); len(note) > 80 {
			note = note[:77] + "..."
		}
		job := "-"
		if r.JobID != nil {
			job = fmt.Sprint(*r.JobID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", dash(r.RunID), dash(r.Project), dash(r.Name),
			r.State, exit, r.Attempts, job, safe.Text(filepath.Base(r.Dir)), note)
		var paint func(string) string
		if r.State == ledger.StateFailed {
			paint = p.red
		}
		paints = append(paints, paint)
	}
	tw.Flush()
	io.WriteString(w, p.rows(buf.String(), paints))
}

// dash is a table cell: "-" when empty, control and bidi characters
// escaped (see safe).
// dash is a table cell's spelling of a name (internal/safe).
func dash(s string) string { return safe.Dash(s) }
