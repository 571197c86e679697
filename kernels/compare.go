package kernels

import (
	"math"
	"reflect"
	"sort"
)

// CompareRow is one metric across several runs, in the order the runs were
// given. Diff and Rel are relative to the first run: Diff[i] = v[i]-v[0],
// Rel[i] = Diff[i]/|v[0]|. An entry is nil where a run lacks a finite value
// (or, for Rel, where v[0] is 0).
type CompareRow struct {
	Metric string     `json:"metric"`
	Values []*float64 `json:"values"`
	Diff   []*float64 `json:"diff"`
	Rel    []*float64 `json:"rel"`
}

// CompareSummaries lines up summary metrics of several runs. With no
// metrics given it uses every key that is numeric in at least one run,
// sorted, leaving out W&B's underscore keys.
func CompareSummaries(summaries []map[string]any, metrics []string) []CompareRow {
	if len(metrics) == 0 {
		set := make(map[string]bool)
		for _, s := range summaries {
			for k, v := range s {
				if _, ok := numeric(v); ok && !internalKey(k) {
					set[k] = true
				}
			}
		}
		metrics = make([]string, 0, len(set))
		for k := range set {
			metrics = append(metrics, k)
		}
		sort.Strings(metrics)
	}
	rows := make([]CompareRow, 0, len(metrics))
	for _, m := range metrics {
		r := CompareRow{
			Metric: m,
			Values: make([]*float64, len(summaries)),
			Diff:   make([]*float64, len(summaries)),
			Rel:    make([]*float64, len(summaries)),
		}
		for i, s := range summaries {
			if x, ok := numeric(s[m]); ok {
				r.Values[i] = &x
			}
		}
		if len(summaries) > 0 && r.Values[0] != nil {
			base := *r.Values[0]
			for i, p := range r.Values {
				if p == nil {
					continue
				}
				d := *p - base
				r.Diff[i] = &d
				if base != 0 {
					rel := d / math.Abs(base)
					r.Rel[i] = &rel
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// ConfigDiff returns the configuration keys whose values are not the same
// in every config, with each config's value (nil where absent), in input
// order. Nested maps are flattened to dotted keys ("optimizer.lr"). W&B
// stores each config entry as {"value": X, "desc": ...}; that wrapper is
// removed. Top-level underscore keys (_wandb: versions, start time) are
// left out because they differ for every run and say nothing about it.
// Numbers compare by value, so 3 (YAML int) equals 3.0 (JSON float).
func ConfigDiff(configs []map[string]any) map[string][]any {
	flat := make([]map[string]any, len(configs))
	keys := make(map[string]bool)
	for i, c := range configs {
		flat[i] = make(map[string]any)
		for k, v := range c {
			if internalKey(k) {
				continue
			}
			flatten(flat[i], k, unwrapValue(v))
		}
		for k := range flat[i] {
			keys[k] = true
		}
	}
	out := make(map[string][]any)
	for k := range keys {
		vals := make([]any, len(flat))
		present := make([]bool, len(flat))
		for i, f := range flat {
			vals[i], present[i] = f[k]
		}
		for i := 1; i < len(vals); i++ {
			if present[i] != present[0] || !sameValue(vals[i], vals[0]) {
				out[k] = vals
				break
			}
		}
	}
	return out
}

// unwrapValue removes W&B's {"value": X[, "desc": D]} config wrapper. A map
// with other keys besides value/desc is a real nested config and is kept.
func unwrapValue(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	inner, ok := m["value"]
	if !ok {
		return v
	}
	for k := range m {
		if k != "value" && k != "desc" {
			return v
		}
	}
	return inner
}

func flatten(dst map[string]any, prefix string, v any) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		dst[prefix] = v
		return
	}
	for k, sub := range m {
		flatten(dst, prefix+"."+k, sub)
	}
}

// sameValue is deep equality that treats numbers of any Go type as equal
// when their values are.
func sameValue(a, b any) bool {
	if x, ok := numberOf(a); ok {
		y, ok := numberOf(b)
		return ok && x == y
	}
	if xs, ok := a.([]any); ok {
		ys, ok := b.([]any)
		if !ok || len(xs) != len(ys) {
			return false
		}
		for i := range xs {
			if !sameValue(xs[i], ys[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// numberOf is numeric without the finiteness requirement, for equality.
func numberOf(v any) (float64, bool) {
	if f, ok := v.(float64); ok {
		return f, true
	}
	return numeric(v)
}

// Rank orders run ids best first by value under goal (GoalUnknown ranks as
// lower-better). Ties keep ascending run id order; NaN values come last.
func Rank(values map[string]float64, goal Goal) []string {
	ids := make([]string, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := values[ids[i]], values[ids[j]]
		an, bn := math.IsNaN(a), math.IsNaN(b)
		switch {
		case an != bn:
			return bn
		case an || a == b:
			return ids[i] < ids[j]
		case goal == GoalHigher:
			return a > b
		default:
			return a < b
		}
	})
	return ids
}
