package units

import (
	"math"
	"testing"
	"time"
)

// ParseSize never panics, and what it accepts prints back (FormatSize) as
// a size it reads to the same bytes or a rounding of them.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"20GiB", "80G", "512MiB", "1.5GiB", "0", "1e3", "-1G", "", "GiB", "18446744073709551615", "99999999999999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil && n > math.MaxUint64/100*95 {
			return // rounded up past the largest size: "too large" is right
		}
		if err != nil {
			t.Errorf("ParseSize(%q) = %d, printed %q, not readable back: %v", s, n, FormatSize(n), err)
		}
		// FormatSize rounds to 0.1 of its unit: within 5 %.
		if d := float64(back) - float64(n); d > 0.05*float64(n)+1 || -d > 0.05*float64(n)+1 {
			t.Errorf("ParseSize(%q) = %d, printed %q, read back %d", s, n, FormatSize(n), back)
		}
	})
}

// ParseDuration never panics, and what it accepts prints back as a value
// it reads the same way (README: 30d, 12h, 90m...).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "12h", "90m", "1h30m", "0", "-5s", "7d12h", "1e9d", "", "d", "999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, printed %q, read back %v, %v", s, d, FormatDuration(d), back, err)
		}
		if d < 0 && d != -d && d > -time.Duration(1<<62) {
			_ = d // negative durations are the flag's to refuse; parsing them is fine
		}
	})
}
