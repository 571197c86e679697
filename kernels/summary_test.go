package kernels

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

type row struct {
	step int64
	key  string
	raw  string
}

func rows(key string, steps []int64, raws ...string) []row {
	out := make([]row, len(raws))
	for i, r := range raws {
		out[i] = row{steps[i], key, r}
	}
	return out
}

func seq(from, n int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = from + int64(i)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func near(a, b float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func summarize(t *testing.T, opts SummaryOptions, in []row) map[string]MetricSummary {
	t.Helper()
	s := NewSummarizer(opts)
	for _, r := range in {
		s.Add(r.step, r.key, []byte(r.raw))
	}
	out := make(map[string]MetricSummary)
	prev := ""
	for _, m := range s.Summaries() {
		if m.Key <= prev {
			t.Fatalf("summaries not sorted by key: %q after %q", m.Key, prev)
		}
		prev = m.Key
		out[m.Key] = m
	}
	return out
}

func TestSummarizerHandComputed(t *testing.T) {
	tests := []struct {
		name string
		opts SummaryOptions
		in   []row
		want MetricSummary
	}{
		{
			name: "loss curve with tied best: first occurrence wins",
			opts: SummaryOptions{EMAAlpha: 0.5},
			in:   rows("train/loss", seq(0, 5), "5", "3", "4", "1", "1"),
			// mean 14/5; squared deviations sum 12.8 -> var 3.2; EMA 5,4,4,2.5,1.75;
			// slope: sxy=-10, sxx=10
			want: MetricSummary{Key: "train/loss", Goal: GoalLower, Count: 5, Last: 1, Min: 1, Max: 5,
				Mean: 2.8, Std: math.Sqrt(3.2), BestStep: ptr[int64](3), EMA: 1.75, Slope: ptr(-1.0),
				FirstStep: 0, LastStep: 4},
		},
		{
			name: "higher-is-better metric picks the max, first of equal maxima",
			opts: SummaryOptions{EMAAlpha: 0.1},
			in:   rows("eval/acc", []int64{10, 20, 30}, "0.5", "0.9", "0.9"),
			// EMA: 0.5 -> 0.54 -> 0.576; squared deviations sum 0.32/3 -> var 0.16/3;
			// slope: sxy = (-10)(-0.8/3) + 10(0.4/3) = 4, sxx = 200
			want: MetricSummary{Key: "eval/acc", Goal: GoalHigher, Count: 3, Last: 0.9, Min: 0.5, Max: 0.9,
				Mean: 2.3 / 3, Std: math.Sqrt(0.16 / 3), BestStep: ptr[int64](20),
				EMA: 0.576, Slope: ptr(0.02), FirstStep: 10, LastStep: 30},
		},
		{
			name: "unknown goal has no best step",
			in:   rows("diffusion/lr", []int64{0, 1}, "0.001", "0.002"),
			want: MetricSummary{Key: "diffusion/lr", Goal: GoalUnknown, Count: 2, Last: 0.002, Min: 0.001, Max: 0.002,
				Mean: 0.0015, Std: math.Sqrt(2 * 0.0005 * 0.0005), EMA: 0.1*0.002 + 0.9*0.001, Slope: ptr(0.001),
				FirstStep: 0, LastStep: 1},
		},
		{
			name: "NaN, infinities and non-numbers are counted, never stored",
			in: rows("val/loss", seq(1, 10), "NaN", "2", `"text"`, "Infinity", "-Infinity", "true",
				"null", `{"_type":"table-file"}`, "4", "1e400"),
			want: MetricSummary{Key: "val/loss", Goal: GoalLower, Count: 2, NonNumeric: 4, NonFinite: 4,
				Last: 4, Min: 2, Max: 4, Mean: 3, Std: math.Sqrt2, BestStep: ptr[int64](2), EMA: 0.1*4 + 0.9*2,
				Slope: ptr(2.0 / 7), FirstStep: 2, LastStep: 9},
		},
		{
			name: "single point: zero std, no slope",
			in:   rows("eval/nrmse", []int64{42}, "0.125"),
			want: MetricSummary{Key: "eval/nrmse", Goal: GoalLower, Count: 1, Last: 0.125, Min: 0.125, Max: 0.125,
				Mean: 0.125, BestStep: ptr[int64](42), EMA: 0.125, FirstStep: 42, LastStep: 42},
		},
		{
			name: "negative values",
			opts: SummaryOptions{EMAAlpha: 1},
			in:   rows("reward", seq(0, 3), "-3", "-1", "-2"),
			want: MetricSummary{Key: "reward", Goal: GoalHigher, Count: 3, Last: -2, Min: -3, Max: -1,
				Mean: -2, Std: 1, BestStep: ptr[int64](1), EMA: -2, Slope: ptr(0.5), FirstStep: 0, LastStep: 2},
		},
		{
			name: "all points at one step: no slope",
			in:   rows("eval/mse", []int64{7, 7}, "1", "3"),
			want: MetricSummary{Key: "eval/mse", Goal: GoalLower, Count: 2, Last: 3, Min: 1, Max: 3, Mean: 2,
				Std: math.Sqrt2, BestStep: ptr[int64](7), EMA: 1.2, FirstStep: 7, LastStep: 7},
		},
		{
			name: "only non-numeric values: key listed with zero statistics",
			in:   rows("eval/comparison", []int64{5, 6}, `{"_type":"table-file","path":"x"}`, `"done"`),
			want: MetricSummary{Key: "eval/comparison", Goal: GoalUnknown, NonNumeric: 2},
		},
		{
			name: "custom goal function overrides the defaults",
			opts: SummaryOptions{Goals: func(string) Goal { return GoalHigher }},
			in:   rows("train/loss", seq(0, 3), "1", "3", "2"),
			want: MetricSummary{Key: "train/loss", Goal: GoalHigher, Count: 3, Last: 2, Min: 1, Max: 3, Mean: 2,
				Std: 1, BestStep: ptr[int64](1), EMA: 0.1*2 + 0.9*(0.1*3+0.9), Slope: ptr(0.5), FirstStep: 0, LastStep: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := summarize(t, tt.opts, tt.in)[tt.want.Key]
			if !ok {
				t.Fatalf("no summary for %q", tt.want.Key)
			}
			checkSummary(t, got, tt.want)
		})
	}
}

func checkSummary(t *testing.T, got, want MetricSummary) {
	t.Helper()
	if got.Key != want.Key || got.Goal != want.Goal || got.Count != want.Count ||
		got.NonNumeric != want.NonNumeric || got.NonFinite != want.NonFinite ||
		got.FirstStep != want.FirstStep || got.LastStep != want.LastStep {
		t.Errorf("counts/steps: got %+v, want %+v", got, want)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"last", got.Last, want.Last}, {"min", got.Min, want.Min}, {"max", got.Max, want.Max},
		{"mean", got.Mean, want.Mean}, {"std", got.Std, want.Std}, {"ema", got.EMA, want.EMA},
	} {
		if !near(f.got, f.want) {
			t.Errorf("%s = %.12g, want %.12g", f.name, f.got, f.want)
		}
	}
	switch {
	case (got.BestStep == nil) != (want.BestStep == nil):
		t.Errorf("best step = %v, want %v", fmtPtr(got.BestStep), fmtPtr(want.BestStep))
	case got.BestStep != nil && *got.BestStep != *want.BestStep:
		t.Errorf("best step = %d, want %d", *got.BestStep, *want.BestStep)
	}
	switch {
	case (got.Slope == nil) != (want.Slope == nil):
		t.Errorf("slope = %v, want %v", fmtPtr(got.Slope), fmtPtr(want.Slope))
	case got.Slope != nil && !near(*got.Slope, *want.Slope):
		t.Errorf("slope = %.12g, want %.12g", *got.Slope, *want.Slope)
	}
}

func fmtPtr[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestSummarizerSlopeUsesOnlyLastKPoints(t *testing.T) {
	// 50 flat points, then 5 on the exact line y = 2.5*step - 7 at large
	// step numbers: with K=5 only the line counts.
	var in []row
	for i := int64(0); i < 50; i++ {
		in = append(in, row{i, "operator/loss", "100"})
	}
	for st := int64(1_000_000); st < 1_000_005; st++ {
		in = append(in, row{st, "operator/loss", strconv.FormatFloat(2.5*float64(st)-7, 'g', -1, 64)})
	}
	got := summarize(t, SummaryOptions{SlopeWindow: 5}, in)["operator/loss"]
	if got.Slope == nil || !near(*got.Slope, 2.5) {
		t.Fatalf("slope over last 5 points = %v, want 2.5", fmtPtr(got.Slope))
	}
	if got.Count != 55 {
		t.Errorf("count = %d, want 55", got.Count)
	}
}

func TestSummarizerSkipsWandbBookkeepingKeys(t *testing.T) {
	got := summarize(t, SummaryOptions{}, []row{
		{0, "_step", "0"}, {0, "_runtime", "1.5"}, {0, "_timestamp", "1700000000.1"},
		{0, "_wandb", `{"runtime":1}`}, {0, "train/loss", "1"},
	})
	if len(got) != 1 {
		t.Fatalf("summaries for %v, want only train/loss", keysOf(got))
	}
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestMetricSummaryJSONShape(t *testing.T) {
	s := NewSummarizer(SummaryOptions{})
	s.Add(3, "eval/nrmse", []byte("0.5"))
	b, err := json.Marshal(s.Summaries())
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"key", "goal", "count", "non_numeric", "non_finite", "last", "min", "max",
		"mean", "std", "best_step", "ema", "slope", "first_step", "last_step"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("summary JSON lacks %q: %s", k, b)
		}
	}
	if got[0]["goal"] != "lower" || got[0]["best_step"] != 3.0 || got[0]["slope"] != nil {
		t.Errorf("summary JSON = %s", b)
	}
}

func TestSummarizerAddDoesNotAllocateOnceKeyKnown(t *testing.T) {
	s := NewSummarizer(SummaryOptions{})
	vals := [][]byte{[]byte("0.123456789012345"), []byte("-1.5e-3"), []byte("NaN"), []byte(`"x"`), []byte("17")}
	for _, v := range vals {
		s.Add(0, "train/loss", v)
	}
	step := int64(1)
	allocs := testing.AllocsPerRun(1000, func() {
		for _, v := range vals {
			s.Add(step, "train/loss", v)
			step++
		}
	})
	if allocs != 0 {
		t.Fatalf("Add allocates %.1f times per %d rows; memory would grow with rows", allocs, len(vals))
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		raw  string
		want valueKind
		v    float64
	}{
		{"1", kindFinite, 1}, {"-2.5e3", kindFinite, -2500}, {" 0.5 ", kindFinite, 0.5}, {"1e-400", kindFinite, 0},
		{"NaN", kindNonFinite, 0}, {"Infinity", kindNonFinite, 0}, {"-Infinity", kindNonFinite, 0}, {"1e400", kindNonFinite, 0},
		{`"1.5"`, kindNonNumeric, 0}, {"true", kindNonNumeric, 0}, {"false", kindNonNumeric, 0}, {"null", kindNonNumeric, 0},
		{"[1,2]", kindNonNumeric, 0}, {`{"a":1}`, kindNonNumeric, 0}, {"", kindNonNumeric, 0}, {"1.2.3", kindNonNumeric, 0},
		{"Nope", kindNonNumeric, 0},
	}
	for _, tt := range tests {
		v, k := parseValue([]byte(tt.raw))
		if k != tt.want || (k == kindFinite && v != tt.v) {
			t.Errorf("parseValue(%q) = %v, %v; want %v, %v", tt.raw, v, k, tt.v, tt.want)
		}
	}
}
