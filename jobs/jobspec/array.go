// Package jobspec reads what `runner submit` expands into many jobs
// (docs/design.md "Queue verbs, arrays and sweeps"): `submit --array 0-99%4`
// is 100 jobs in one transaction, at most 4 running; `submit --sweep FILE` is
// the grid in FILE, one job per point, as an array.
//
// It is apart from jobs so that its fuzz targets link only this: the fuzzing
// engine walks the coverage counters of the whole test binary on every exec,
// and in jobs (SQLite, NVML, gonum) that alone held a fuzzer under 14k execs/s.
package jobspec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// MaxArray bounds one array: a typo like 0-1000000 must not queue a million jobs.
const MaxArray = 100_000

// ErrBadArray: an --array or --sweep value that cannot be used.
var ErrBadArray = errors.New("invalid array")

// ParseArray reads an --array value: indexes as ranges and single numbers
// separated by commas ("0-99", "1,3,8-10"), then an optional "%K" (at most K
// running at once; 0 = no limit). A value of only "%K" gives no indexes.
func ParseArray(s string) (indexes []int64, limit int64, err error) {
	spec, lim, hasLimit := strings.Cut(s, "%")
	if hasLimit {
		limit, err = strconv.ParseInt(lim, 10, 64)
		if err != nil || limit <= 0 {
			return nil, 0, fmt.Errorf("%w: %q: want %%K with K a positive number", ErrBadArray, s)
		}
	}
	if spec == "" {
		if !hasLimit {
			return nil, 0, fmt.Errorf("%w: empty", ErrBadArray)
		}
		return nil, limit, nil
	}
	seen := map[int64]bool{}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, aerr := strconv.ParseInt(lo, 10, 64)
		b := a
		var berr error
		if isRange {
			b, berr = strconv.ParseInt(hi, 10, 64)
		}
		if aerr != nil || berr != nil || a < 0 || b < a {
			return nil, 0, fmt.Errorf("%w: %q: want indexes like 0-99, 1,3,8-10 and an optional %%K", ErrBadArray, s)
		}
		// b-a cannot overflow (both are ≥ 0); b-a+1 could (found by FuzzParseArray).
		if b-a >= MaxArray || int64(len(indexes))+(b-a) >= MaxArray {
			return nil, 0, fmt.Errorf("%w: %q has more than %d jobs", ErrBadArray, s, MaxArray)
		}
		for i := a; ; i++ {
			if !seen[i] {
				seen[i] = true
				indexes = append(indexes, i)
			}
			if i == b { // not i <= b: i++ past MaxInt64 would wrap (found by FuzzParseArray)
				break
			}
		}
	}
	return indexes, limit, nil
}

// Point is one job of a sweep: the arguments appended to the command and
// the variables set for it.
type Point struct {
	Args []string // --key value, in the file's key order
	Env  []string // RUNNER_SWEEP_<KEY>=value
}

// ParseSweep reads a sweep file: a YAML (or JSON) object whose values are
// lists. The points are the Cartesian product in the file's key order, the
// last key varying fastest; values are kept as written (1e-3 stays 1e-3).
func ParseSweep(data []byte) ([]Point, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: sweep: %v", ErrBadArray, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode || len(doc.Content[0].Content) == 0 {
		return nil, fmt.Errorf("%w: sweep: want an object whose values are lists, like {lr: [1e-3, 3e-4], batch: [32, 64]}", ErrBadArray)
	}
	m := doc.Content[0]
	type axis struct {
		key    string
		values []string
	}
	var axes []axis
	total := 1
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("%w: sweep: key at line %d is not a name", ErrBadArray, k.Line)
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return nil, fmt.Errorf("%w: sweep: %s: want a non-empty list of values", ErrBadArray, k.Value)
		}
		a := axis{key: k.Value}
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%w: sweep: %s: line %d: want a plain value", ErrBadArray, k.Value, e.Line)
			}
			a.values = append(a.values, e.Value)
		}
		axes = append(axes, a)
		if total *= len(a.values); total > MaxArray {
			return nil, fmt.Errorf("%w: sweep: more than %d points", ErrBadArray, MaxArray)
		}
	}
	// A point's strings depend only on its axes' values: each flag, value
	// and variable is built once, and every point's Args and Env are windows
	// of two shared arrays (capped, so an append to one cannot reach the
	// next). A 100,000-point grid is then a few allocations, not millions.
	n := len(axes)
	flags := make([]string, n)
	vars := make([][]string, n)
	for a, ax := range axes {
		flags[a] = "--" + ax.key
		name := SweepEnvName(ax.key) + "="
		vars[a] = make([]string, len(ax.values))
		for i, v := range ax.values {
			vars[a][i] = name + v
		}
	}
	args := make([]string, total*2*n)
	env := make([]string, total*n)
	points := make([]Point, total)
	for p := range points {
		pa := args[p*2*n : (p+1)*2*n : (p+1)*2*n]
		pe := env[p*n : (p+1)*n : (p+1)*n]
		// Mixed radix, last axis fastest.
		rest := p
		for a := n - 1; a >= 0; a-- {
			i := rest % len(axes[a].values)
			rest /= len(axes[a].values)
			pa[2*a], pa[2*a+1] = flags[a], axes[a].values[i]
			pe[a] = vars[a][i]
		}
		points[p] = Point{Args: pa, Env: pe}
	}
	return points, nil
}

// SweepEnvName is RUNNER_SWEEP_<KEY>: the key upper-cased, every character
// other than a letter or digit turned into "_".
func SweepEnvName(key string) string {
	var b strings.Builder
	b.WriteString("RUNNER_SWEEP_")
	for _, r := range key {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToUpper(r))
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
