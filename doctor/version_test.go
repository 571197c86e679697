package doctor_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/runnerhq/runner/doctor"
	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/text"
)

// nvmlNamed stands in for a working NVML inventory.
type nvmlNamed struct{ jobs.Inventory }

func (nvmlNamed) Name() string { return "nvml" }

func TestVersionReportsNVML(t *testing.T) {
	tests := []struct {
		name   string
		open   func(string, *slog.Logger) (jobs.Inventory, error)
		nvml   bool
		reason string
	}{
		{"driver loads", func(string, *slog.Logger) (jobs.Inventory, error) { return nvmlNamed{jobs.NewNoGPUs("")}, nil }, true, ""},
		{"no driver", func(string, *slog.Logger) (jobs.Inventory, error) {
			return jobs.NewNoGPUs("no NVIDIA driver: libnvidia-ml.so.1 not found"), nil
		}, false, "no NVIDIA driver: libnvidia-ml.so.1 not found"},
		{"inventory fails", func(string, *slog.Logger) (jobs.Inventory, error) { return nil, errors.New("boom") }, false, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := doctor.Version("dev", "", tc.open)
			if v.NVML != tc.nvml {
				t.Errorf("nvml = %v, want %v", v.NVML, tc.nvml)
			}
			if got := v.NVMLReason; (got == nil) != (tc.reason == "") || (got != nil && *got != tc.reason) {
				t.Errorf("nvml reason %v, want %q", got, tc.reason)
			}
			var b bytes.Buffer
			text.Version(&b, v)
			if want := "nvml:   available\n"; tc.nvml && !strings.Contains(b.String(), want) {
				t.Errorf("printed %q, want %q", b.String(), want)
			}
			if !tc.nvml && !strings.Contains(b.String(), "nvml:   not available: "+tc.reason) {
				t.Errorf("printed %q, want the reason %q", b.String(), tc.reason)
			}
		})
	}
}
