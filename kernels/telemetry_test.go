package kernels

import (
	"testing"
	"time"
)

func TestTelemetryAgg(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(sec int, mem uint64, util *int, power, energy *float64) TelemetrySample {
		return TelemetrySample{At: t0.Add(time.Duration(sec) * time.Second), MemUsed: mem, Util: util, Power: power, Energy: energy}
	}
	tests := []struct {
		name     string
		samples  []TelemetrySample
		peak     uint64
		meanUtil *float64
		energy   *float64
	}{
		{
			name: "energy from the counter: last minus first",
			samples: []TelemetrySample{
				s(0, 10, ptr(50), ptr(100.0), ptr(1000.0)),
				s(10, 30, ptr(100), ptr(300.0), ptr(3000.0)),
				s(20, 20, nil, ptr(300.0), ptr(6500.0)),
			},
			peak: 30, meanUtil: ptr(75.0), energy: ptr(5500.0),
		},
		{
			name: "no counter: trapezoid over power",
			samples: []TelemetrySample{
				s(0, 1, nil, ptr(100.0), nil),
				s(10, 2, nil, ptr(300.0), nil), // 10 s * 200 W
				s(20, 3, nil, nil, nil),        // no power: skipped
				s(30, 2, nil, ptr(100.0), nil), // 20 s * 200 W
			},
			peak: 3, energy: ptr(6000.0),
		},
		{
			name: "counter missing on the last sample: power integral instead",
			samples: []TelemetrySample{
				s(0, 1, nil, ptr(100.0), ptr(5.0)),
				s(2, 1, nil, ptr(100.0), nil),
			},
			peak: 1, energy: ptr(200.0),
		},
		{
			name: "counter went backwards (driver reset): power integral instead",
			samples: []TelemetrySample{
				s(0, 1, nil, ptr(50.0), ptr(900.0)),
				s(4, 1, nil, ptr(150.0), ptr(10.0)),
			},
			peak: 1, energy: ptr(400.0),
		},
		{
			name:    "single sample: no energy",
			samples: []TelemetrySample{s(0, 7, ptr(10), ptr(100.0), ptr(5.0))},
			peak:    7, meanUtil: ptr(10.0),
		},
		{name: "no samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a TelemetryAgg
			for _, smp := range tt.samples {
				a.Add(smp)
			}
			peak, mu, e := a.Result()
			if peak != tt.peak {
				t.Errorf("peak memory = %d, want %d", peak, tt.peak)
			}
			if (mu == nil) != (tt.meanUtil == nil) || (mu != nil && !near(*mu, *tt.meanUtil)) {
				t.Errorf("mean util = %v, want %v", fmtPtr(mu), fmtPtr(tt.meanUtil))
			}
			if (e == nil) != (tt.energy == nil) || (e != nil && !near(*e, *tt.energy)) {
				t.Errorf("energy = %v J, want %v J", fmtPtr(e), fmtPtr(tt.energy))
			}
		})
	}
}
