package app

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/jobs"
)

// Commit is set at build time like Version (just build does), for builds
// without Go's VCS stamp (-buildvcs=false, a source tarball).
var Commit = ""

// VersionInfo is `runner version --json`.
type VersionInfo struct {
	Version  string  `json:"version"`
	Commit   *string `json:"commit"` // null when the binary was built without VCS information
	Modified bool    `json:"modified"`
	Go       string  `json:"go"`
	NVML     bool    `json:"nvml"`
	// NVMLReason says why NVML is not available (no driver, a build without cgo).
	NVMLReason *string `json:"nvml_reason"`
}

// GetVersion describes this binary. Version comes from -ldflags (just build),
// else from the module version `go install ...@vX` records; the commit from
// the VCS stamp `go build` adds in a git checkout. openGPUs is
// jobs.OpenInventory outside tests.
func GetVersion(openGPUs func(spec string, logger *slog.Logger) (jobs.Inventory, error)) VersionInfo {
	v := VersionInfo{Version: Version, Commit: api.Str(Commit), Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == nil {
					v.Commit = api.Str(s.Value)
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	inv, err := openGPUs("auto", slog.New(slog.DiscardHandler))
	if err != nil {
		reason := err.Error()
		v.NVMLReason = &reason
		return v
	}
	defer inv.Close()
	if v.NVML = inv.Name() == "nvml"; !v.NVML {
		reason := jobs.Reason(inv)
		v.NVMLReason = &reason
	}
	return v
}

func (v VersionInfo) print(w io.Writer) {
	commit := "unknown"
	switch {
	case v.Commit == nil:
	case v.Modified:
		commit = *v.Commit + " (modified)"
	default:
		commit = *v.Commit
	}
	nvml := "available"
	if !v.NVML {
		nvml = "not available"
		if v.NVMLReason != nil {
			nvml += ": " + *v.NVMLReason
		}
	}
	fmt.Fprintf(w, "runner %s\ncommit: %s\ngo:     %s\nnvml:   %s\n", v.Version, commit, v.Go, nvml)
}

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
	v := GetVersion(jobs.OpenInventory)
	if asJSON {
		return api.Write(env.Stdout, v)
	}
	v.print(env.Stdout)
	return nil
}

// completionFlag is what the completion scripts append to the words typed so far.
const completionFlag = "--generate-bash-completion"
