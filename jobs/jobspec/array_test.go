package jobspec

import (
	"errors"
	"slices"
	"testing"
)

func TestParseArray(t *testing.T) {
	tests := []struct {
		in      string
		indexes []int64
		limit   int64
		bad     bool
	}{
		{in: "0-3", indexes: []int64{0, 1, 2, 3}},
		{in: "0-99%4", indexes: seq(0, 99), limit: 4},
		{in: "1,3,8-10", indexes: []int64{1, 3, 8, 9, 10}},
		{in: "2,2,1-2", indexes: []int64{2, 1}},
		{in: "%8", limit: 8},
		{in: "5", indexes: []int64{5}},
		{in: "", bad: true}, {in: "3-1", bad: true}, {in: "-1", bad: true}, {in: "a-b", bad: true},
		{in: "0-3%0", bad: true}, {in: "0-3%x", bad: true}, {in: "0-100000", bad: true},
	}
	for _, tt := range tests {
		idx, lim, err := ParseArray(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadArray) {
				t.Errorf("ParseArray(%q) = %v, %d, %v; want ErrBadArray", tt.in, idx, lim, err)
			}
			continue
		}
		if err != nil || !slices.Equal(idx, tt.indexes) || lim != tt.limit {
			t.Errorf("ParseArray(%q) = %v, %d, %v; want %v, %d", tt.in, idx, lim, err, tt.indexes, tt.limit)
		}
	}
}

func seq(a, b int64) []int64 {
	var out []int64
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func TestParseSweep(t *testing.T) {
	pts, err := ParseSweep([]byte("lr: [1e-3, 3e-4]\nbatch-size: [32]\nopt.name: [adam, sgd]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"--lr", "1e-3", "--batch-size", "32", "--opt.name", "adam"},
		{"--lr", "1e-3", "--batch-size", "32", "--opt.name", "sgd"},
		{"--lr", "3e-4", "--batch-size", "32", "--opt.name", "adam"},
		{"--lr", "3e-4", "--batch-size", "32", "--opt.name", "sgd"},
	}
	if len(pts) != len(want) {
		t.Fatalf("%d points, want %d", len(pts), len(want))
	}
	for i, p := range pts {
		if !slices.Equal(p.Args, want[i]) {
			t.Errorf("point %d args %q, want %q", i, p.Args, want[i])
		}
	}
	if !slices.Equal(pts[3].Env, []string{"RUNNER_SWEEP_LR=3e-4", "RUNNER_SWEEP_BATCH_SIZE=32", "RUNNER_SWEEP_OPT_NAME=sgd"}) {
		t.Errorf("env %q", pts[3].Env)
	}
	// JSON is YAML; its key order is kept too.
	pts, err = ParseSweep([]byte(`{"b": [1, 2], "a": ["x"]}`))
	if err != nil || len(pts) != 2 || !slices.Equal(pts[1].Args, []string{"--b", "2", "--a", "x"}) {
		t.Errorf("JSON sweep: %v %v", pts, err)
	}
	for _, bad := range []string{"", "[1, 2]", "lr: 1e-3", "lr: []", "lr: [[1]]", "lr: [1\n", "a: {b: [1]}"} {
		if _, err := ParseSweep([]byte(bad)); !errors.Is(err, ErrBadArray) {
			t.Errorf("ParseSweep(%q) = %v, want ErrBadArray", bad, err)
		}
	}
}

func TestSweepEnvName(t *testing.T) {
	for in, want := range map[string]string{"lr": "RUNNER_SWEEP_LR", "batch-size": "RUNNER_SWEEP_BATCH_SIZE",
		"model.n_layers": "RUNNER_SWEEP_MODEL_N_LAYERS", "β": "RUNNER_SWEEP__", "x1": "RUNNER_SWEEP_X1"} {
		if got := SweepEnvName(in); got != want {
			t.Errorf("SweepEnvName(%q) = %q, want %q", in, got, want)
		}
	}
}
