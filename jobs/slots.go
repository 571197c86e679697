package jobs

// SlotsOf is the CPU slots a job takes (docs/design.md "CPU slots"): cpus as
// submitted (--cpus), or by default 1 for a CPU job and 0 for a GPU job, whose
// GPU is the resource it waits for.
func SlotsOf(cpus, gpus int) int {
	switch {
	case cpus >= 0:
		return cpus
	case gpus > 0:
		return 0
	}
	return 1
}
