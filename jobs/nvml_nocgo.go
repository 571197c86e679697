//go:build !cgo

package jobs

import "log/slog"

// openNVML stands in for the NVML inventory in binaries built with
// CGO_ENABLED=0: go-nvml needs cgo, so such a binary runs CPU jobs only.
func openNVML(*slog.Logger) (Inventory, error) {
	return nil, ErrNoNVMLSupport
}
