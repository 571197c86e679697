package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/wandbfile"
)

func inspectCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "read one offline run dir or .wandb file (no ledger needed)",
		ArgsUsage: "PATH",
		Flags:     []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "PATH (a run dir or .wandb file)"); err != nil {
				return err
			}
			if c.Args().Len() > 1 {
				return usagef("inspect: takes one PATH, got %d", c.Args().Len())
			}
			return Inspect(env.Stdout, c.Args().First(), c.Bool("json"), env.Now())
		},
	}
}

// Inspect reads the run at path and prints what it holds. An incomplete log
// is still a success; a file that is not a .wandb log is an error.
func Inspect(w io.Writer, path string, asJSON bool, now time.Time) error {
	info, err := readRunPath(path)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return fmt.Errorf("inspect %s: %w", path, err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	printInfo(w, info, now)
	return nil
}

// readRunPath reads a run dir (its run-<id>.wandb) or a .wandb file.
func readRunPath(path string) (*wandbfile.Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, unwrapPathError(err))
	}
	file := path
	if !st.IsDir() {
		// A symlink named on the command line is the user's choice: read
		// what it points to, if that is a regular file (runner never opens
		// a FIFO or a device: docs/design.md "Hostile files").
		if file, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("inspect %s: %w", path, unwrapPathError(err))
		}
	}
	if st.IsDir() {
		rd, err := runsync.InspectRunDir(path)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", path, err)
		}
		if rd.LogPath == "" {
			return nil, fmt.Errorf("inspect %s: no run-*.wandb file in this directory", path)
		}
		file = rd.LogPath
	}
	info, err := wandbfile.ReadFile(file, wandbfile.Options{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", file, err)
	}
	return info, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func printInfo(w io.Writer, in *wandbfile.Info, now time.Time) {
	state := "incomplete (no exit record: still running or killed)"
	if in.Finished {
		state = "finished"
		if in.ExitCode != nil {
			state += fmt.Sprintf(", exit code %d", *in.ExitCode)
		}
		if in.RuntimeS != nil {
			state += fmt.Sprintf(", runtime %ds", *in.RuntimeS)
		}
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-14s %s\n", k+":", v)
		}
	}
	row("path", in.Path)
	row("run id", in.RunID)
	row("project", in.Project)
	row("entity", in.Entity)
	row("name", in.Name)
	row("group", in.Group)
	row("job type", in.JobType)
	if len(in.Tags) > 0 {
		row("tags", strings.Join(in.Tags, ", "))
	}
	if !in.StartTime.IsZero() {
		row("started", ago(now, api.Time(in.StartTime))+" ("+in.StartTime.UTC().Format(time.RFC3339)+")")
	}
	row("wandb", in.WandbVersion)
	row("state", state)
	if in.TornTail {
		row("tail", "torn (the writer was killed mid-record; upload uses a repaired copy)")
	}
	if in.Err != nil {
		row("read error", in.Err.Error())
	}
	names := make([]string, 0, len(in.Records))
	for k := range in.Records {
		names = append(names, k)
	}
	sort.Strings(names)
	var rec []string
	for _, k := range names {
		rec = append(rec, fmt.Sprintf("%s=%d", k, in.Records[k]))
	}
	row("records", strings.Join(rec, " "))
	row("history rows", fmt.Sprint(in.HistoryRows))
	if len(in.HistoryKeys) > 0 {
		row("history keys", strings.Join(in.HistoryKeys, ", "))
	}
	printMap(w, "summary", in.Summary)
	printMap(w, "config", in.Config)
}

func printMap(w io.Writer, title string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := wandbfile.MarshalValue(m[k])
		if err != nil {
			b = []byte(fmt.Sprint(m[k]))
		}
		v := string(b)
		if len(v) > 120 {
			v = v[:117] + "..."
		}
		fmt.Fprintf(w, "  %s = %s\n", k, v)
	}
}
