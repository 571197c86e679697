package kernels

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func vals(ps []*float64) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

func TestCompareSummaries(t *testing.T) {
	runs := []map[string]any{
		{"eval/nrmse": 0.2, "eval/mse": 0.04, "_runtime": 10.0, "gpu_name": "H100", "epoch": 3},
		{"eval/nrmse": 0.1, "eval/mse": 0.0, "_runtime": 12.0, "flag": true},
		{"eval/nrmse": 0.3, "eval/mse": math.NaN(), "extra": json.Number("5")},
	}
	tests := []struct {
		name    string
		metrics []string
		want    map[string][3][]any // values, diff, rel
		order   []string
	}{
		{
			name:    "chosen metric: diff and rel against the first run",
			metrics: []string{"eval/nrmse"},
			want: map[string][3][]any{"eval/nrmse": {
				{0.2, 0.1, 0.3}, {0.0, 0.1 - 0.2, 0.3 - 0.2}, {0.0, (0.1 - 0.2) / 0.2, (0.3 - 0.2) / 0.2}}},
			order: []string{"eval/nrmse"},
		},
		{
			name:    "missing and non-finite values are nil",
			metrics: []string{"eval/mse", "extra"},
			want: map[string][3][]any{
				"eval/mse": {{0.04, 0.0, nil}, {0.0, -0.04, nil}, {0.0, -1.0, nil}},
				"extra":    {{nil, nil, 5.0}, {nil, nil, nil}, {nil, nil, nil}},
			},
			order: []string{"eval/mse", "extra"},
		},
		{
			name:  "no metrics: union of numeric keys, sorted, without W&B underscore keys",
			order: []string{"epoch", "eval/mse", "eval/nrmse", "extra"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := CompareSummaries(runs, tt.metrics)
			var order []string
			for _, r := range rows {
				order = append(order, r.Metric)
				if len(r.Values) != 3 || len(r.Diff) != 3 || len(r.Rel) != 3 {
					t.Fatalf("row %s has %d/%d/%d entries, want 3 each", r.Metric, len(r.Values), len(r.Diff), len(r.Rel))
				}
				w, ok := tt.want[r.Metric]
				if !ok {
					continue
				}
				for i, got := range [][]any{vals(r.Values), vals(r.Diff), vals(r.Rel)} {
					for j := range got {
						g, gok := got[j].(float64)
						x, xok := w[i][j].(float64)
						if gok != xok || (gok && !near(g, x)) {
							t.Errorf("%s column %d run %d = %v, want %v", r.Metric, i, j, got[j], w[i][j])
						}
					}
				}
			}
			if !reflect.DeepEqual(order, tt.order) {
				t.Errorf("metrics = %v, want %v", order, tt.order)
			}
		})
	}
}

func TestConfigDiff(t *testing.T) {
	tests := []struct {
		name    string
		configs []map[string]any
		want    map[string][]any
	}{
		{
			name: "W&B value wrappers unwrapped, nested keys flattened, equal keys dropped",
			configs: []map[string]any{
				{"lr": map[string]any{"value": 0.001, "desc": nil}, "model": map[string]any{"value": map[string]any{"width": 64.0, "depth": 4.0}},
					"eval_samples": map[string]any{"value": 100.0}, "_wandb": map[string]any{"value": map[string]any{"t": 1.0}}},
				{"lr": map[string]any{"value": 0.002, "desc": nil}, "model": map[string]any{"value": map[string]any{"width": 64.0, "depth": 8.0}},
					"eval_samples": map[string]any{"value": 100.0}, "_wandb": map[string]any{"value": map[string]any{"t": 2.0}}},
			},
			want: map[string][]any{"lr": {0.001, 0.002}, "model.depth": {4.0, 8.0}},
		},
		{
			name: "a key missing in one run differs",
			configs: []map[string]any{
				{"gpu_name": "H100", "seed": 1.0},
				{"seed": 1.0},
			},
			want: map[string][]any{"gpu_name": {"H100", nil}},
		},
		{
			name: "numbers compare by value, lists deeply",
			configs: []map[string]any{
				{"epochs": 3, "layers": []any{1.0, 2.0}, "tags": []any{"a"}},
				{"epochs": 3.0, "layers": []any{1, 2}, "tags": []any{"b"}},
			},
			want: map[string][]any{"tags": {[]any{"a"}, []any{"b"}}},
		},
		{
			name: "a map with other keys than value/desc is a real nested config",
			configs: []map[string]any{
				{"opt": map[string]any{"value": 1.0, "beta": 0.9}},
				{"opt": map[string]any{"value": 1.0, "beta": 0.99}},
			},
			want: map[string][]any{"opt.beta": {0.9, 0.99}},
		},
		{
			name:    "identical configs: nothing differs",
			configs: []map[string]any{{"a": "x"}, {"a": "x"}},
			want:    map[string][]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConfigDiff(tt.configs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ConfigDiff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRank(t *testing.T) {
	values := map[string]float64{"r3": 0.2, "r1": 0.1, "r2": 0.2, "r0": math.NaN(), "r4": 0.05}
	tests := []struct {
		goal Goal
		want []string
	}{
		{GoalLower, []string{"r4", "r1", "r2", "r3", "r0"}},
		{GoalHigher, []string{"r2", "r3", "r1", "r4", "r0"}},
		{GoalUnknown, []string{"r4", "r1", "r2", "r3", "r0"}},
	}
	for _, tt := range tests {
		if got := Rank(values, tt.goal); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Rank(%v) = %v, want %v", tt.goal, got, tt.want)
		}
	}
}
