package app

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	runsync "github.com/runnerhq/runner/sync"
	"github.com/runnerhq/runner/text"
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
			return Inspect(env.Stdout, c.Args().First(), c.Bool("json"), env.Now())
		},
	}
}

// Inspect reads the run at path and prints what it holds. An incomplete log
// is still a success; a file that is not a .wandb log is an error.
func Inspect(w io.Writer, path string, asJSON bool, now time.Time) error {
	info, err := runsync.ReadRunPath(path)
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
	text.Info(w, info, now)
	return nil
}
