package kernels

import "time"

// TelemetrySample is one reading of one GPU (or of a job's GPUs summed).
// Util is percent, Power is watts, Energy is a cumulative energy counter in
// joules (NVML reports millijoules: divide before passing). Nil means the
// reading was not available.
type TelemetrySample struct {
	At      time.Time
	MemUsed uint64 // bytes
	Util    *int
	Power   *float64
	Energy  *float64
}

// TelemetryAgg folds a job's samples into peak memory, mean utilisation and
// energy with constant memory. The zero value is ready to use. Samples must
// be added in time order. It is not safe for concurrent use.
type TelemetryAgg struct {
	n       int
	peakMem uint64

	utilSum float64
	utilN   int

	// energy counter: value on the first sample and on the latest sample
	firstEnergy, lastEnergy *float64

	// trapezoid over power
	prevPowerAt time.Time
	prevPower   float64
	havePower   bool
	powerJ      float64
	powerPairs  int
}

// Add records one sample.
func (a *TelemetryAgg) Add(s TelemetrySample) {
	a.n++
	a.peakMem = max(a.peakMem, s.MemUsed)
	if s.Util != nil {
		a.utilSum += float64(*s.Util)
		a.utilN++
	}
	if a.n == 1 && s.Energy != nil {
		e := *s.Energy
		a.firstEnergy = &e
	}
	a.lastEnergy = nil
	if s.Energy != nil {
		e := *s.Energy
		a.lastEnergy = &e
	}
	if s.Power != nil {
		if a.havePower {
			if dt := s.At.Sub(a.prevPowerAt).Seconds(); dt > 0 {
				a.powerJ += (a.prevPower + *s.Power) / 2 * dt
				a.powerPairs++
			}
		}
		a.prevPowerAt, a.prevPower, a.havePower = s.At, *s.Power, true
	}
}

// Result returns peak memory, mean utilisation (nil without util readings)
// and energy in joules. Energy is the counter difference last-first when the
// first and the latest sample both carry the counter and it did not go
// backwards (a driver reload resets it); otherwise the trapezoid integral of
// power over time; nil when neither is possible.
func (a *TelemetryAgg) Result() (peakMem uint64, meanUtil *float64, energyJ *float64) {
	if a.utilN > 0 {
		m := a.utilSum / float64(a.utilN)
		meanUtil = &m
	}
	if a.firstEnergy != nil && a.lastEnergy != nil && a.n > 1 && *a.lastEnergy >= *a.firstEnergy {
		e := *a.lastEnergy - *a.firstEnergy
		return a.peakMem, meanUtil, &e
	}
	if a.powerPairs > 0 {
		e := a.powerJ
		energyJ = &e
	}
	return a.peakMem, meanUtil, energyJ
}
