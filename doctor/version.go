package doctor

import (
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/jobs"
)

// Version describes this binary. version comes from -ldflags (just build),
// else from the module version `go install ...@vX` records; the commit
// (commit, else the VCS stamp `go build` adds in a git checkout). openGPUs
// is jobs.OpenInventory outside tests.
func Version(version, commit string, openGPUs func(spec string, logger *slog.Logger) (jobs.Inventory, error)) api.Version {
	v := api.Version{Version: version, Commit: api.Str(commit), Go: runtime.Version()}
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
