package app

import (
	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/doctor"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/text"
)

// Commit is set at build time like Version (just build does), for builds
// without Go's VCS stamp (-buildvcs=false, a source tarball).
var Commit = ""

// versionFlag replaces urfave's own --version, whose printer is a package
// variable: `runner --version` prints what `runner version` prints. It has
// no environment variable: RUNNER_VERSION must not turn every command into
// a version query.
func versionFlag() cli.Flag {
	return &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print version, commit, Go version and NVML availability"}
}

func versionCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit, Go version and whether NVML (GPU jobs) is available",
		Flags: []cli.Flag{boolFlag("json", "print one JSON object")},
		Action: func(c *cli.Context) error {
			return printVersion(env, c.Bool("json"))
		},
	}
}

func printVersion(env Env, asJSON bool) error {
	v := doctor.Version(Version, Commit, jobs.OpenInventory)
	if asJSON {
		return api.Write(env.Stdout, v)
	}
	text.Version(env.Stdout, v)
	return nil
}

// completionFlag is what the completion scripts append to the words typed so far.
const completionFlag = "--generate-bash-completion"
