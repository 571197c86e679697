// Package units reads the sizes and durations people give runner
// (--gpu-mem 20GiB, --older-than 30d) and prints them the same way, so that
// whatever runner prints, it reads back.
//
// It is a package of its own so that its fuzz targets link only this: the
// fuzzing engine walks the coverage counters of the whole test binary on
// every exec, and in app or jobs (SQLite, NVML, the CLI) that alone held a
// fuzzer at 8k to 14k execs/s.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// ErrBadSize means a size such as --gpu-mem is malformed.
var ErrBadSize = errors.New("invalid size")

// ParseSize reads a byte size: "512MiB", "20GiB", "1.5GiB", "80GB", "4096"
// (plain bytes). Binary units (KiB..PiB) are powers of 1024, decimal units
// (KB..PB) powers of 1000; units are case-insensitive. It is go-humanize's
// parser, the same one every size runner prints comes from (FormatSize), so
// whatever runner prints, it reads (a fuzz test keeps it so).
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%w %q: want a number with an optional unit like 512MiB or 20GiB", ErrBadSize, s)
	}
	// A bare "20G" could mean GB or GiB (humanize reads GB): say which.
	if last := t[len(t)-1]; strings.ContainsRune("kKmMgGtTpP", rune(last)) {
		return 0, fmt.Errorf("%w %q: say %sB (powers of 1000) or %siB (powers of 1024)", ErrBadSize, s, t, t)
	}
	n, err := humanize.ParseBytes(t)
	if err != nil {
		return 0, fmt.Errorf("%w %q: want a number with an optional unit like 512MiB or 20GiB", ErrBadSize, s)
	}
	return n, nil
}

// FormatSize prints a byte size as every runner output does ("80 GiB",
// "1.5 GiB", "512 B"): go-humanize's binary units.
func FormatSize(b uint64) string { return humanize.IBytes(b) }

// ParseDuration parses "90s", "10m", "1h30m" or "7d".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("invalid duration %q: want a Go duration (90s, 10m) or whole days (7d)", s)
		}
		// A time.Duration holds about 292 years; more days would wrap to a
		// negative duration (found by FuzzParseDuration: "107000d").
		if days > int(math.MaxInt64/int64(24*time.Hour)) {
			return 0, fmt.Errorf("invalid duration %q: at most %dd", s, math.MaxInt64/int64(24*time.Hour))
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration (90s, 10m) or whole days (7d)", s)
	}
	return d, nil
}

// FormatDuration prints whole days as "Nd" and everything else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// Count is n and noun, the noun plural unless n is 1 ("1 GPU", "2 GPUs",
// "0 GPUs"): the one place messages say how many of something.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
