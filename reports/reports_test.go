package reports

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"eval/*", "eval/nrmse", true},
		{"eval/*", "eval/physics/conservation_gap", true},
		{"eval/*", "train/loss", false},
		{"eval/*", "eval", false},
		{"*loss", "train/loss", true},
		{"eval/?se", "eval/mse", true},
		{"eval/?se", "eval/rmse", false},
		{"eval/nrmse", "eval/nrmse", true},
		{"*/*/*", "a/b", false},
		{"*", "", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
