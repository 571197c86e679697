package api

// Version is `runner version --json`: this binary and whether it can run
// GPU jobs (doctor.Version fills it in).
type Version struct {
	Version  string  `json:"version"`
	Commit   *string `json:"commit"` // null when the binary was built without VCS information
	Modified bool    `json:"modified"`
	Go       string  `json:"go"`
	NVML     bool    `json:"nvml"`
	// NVMLReason says why NVML is not available (no driver, a build without cgo).
	NVMLReason *string `json:"nvml_reason"`
}
