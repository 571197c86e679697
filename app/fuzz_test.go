package app

import (
	"testing"
	"time"
)

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
