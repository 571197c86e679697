package text

import (
	"fmt"
	"io"

	"github.com/runnerhq/runner/api"
)

// Version is `runner version`.
func Version(w io.Writer, v api.Version) {
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
