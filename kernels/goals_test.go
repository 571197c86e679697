package kernels

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDefaultGoalRules(t *testing.T) {
	r := DefaultGoalRules()
	tests := []struct {
		metric string
		want   Goal
	}{
		{"train/loss", GoalLower}, {"operator/loss", GoalLower}, {"diffusion/loss", GoalLower},
		{"eval/nrmse", GoalLower}, {"eval/mse", GoalLower}, {"eval/RMSE", GoalLower}, {"val/MAE", GoalLower},
		{"top1_error", GoalLower}, {"eval/physics/conservation_gap", GoalLower},
		{"eval/accuracy", GoalHigher}, {"val/acc", GoalHigher}, {"f1", GoalHigher}, {"roc_auc", GoalHigher},
		{"precision", GoalHigher}, {"recall@5", GoalHigher}, {"episode/reward", GoalHigher},
		{"val/acc_loss", GoalLower}, // lower rules come first
		{"diffusion/lr", GoalUnknown}, {"epoch", GoalUnknown}, {"eval_samples", GoalUnknown},
	}
	for _, tt := range tests {
		if got := r.Goal(tt.metric); got != tt.want {
			t.Errorf("Goal(%q) = %v, want %v", tt.metric, got, tt.want)
		}
	}
}

func TestGoalRulesFirstMatchWins(t *testing.T) {
	tests := []struct {
		name   string
		rules  GoalRules
		metric string
		want   Goal
	}{
		{"first rule matches", GoalRules{Rules: []GoalRule{{"score", GoalHigher}, {"eval", GoalLower}}}, "eval/score", GoalHigher},
		{"order reversed", GoalRules{Rules: []GoalRule{{"eval", GoalLower}, {"score", GoalHigher}}}, "eval/score", GoalLower},
		{"case-insensitive", GoalRules{Rules: []GoalRule{{"SCORE", GoalHigher}}}, "eval/Score", GoalHigher},
		{"no match", GoalRules{Rules: []GoalRule{{"score", GoalHigher}}}, "eval/loss", GoalUnknown},
		{"user rule prepended overrides default", DefaultGoalRules().Prepend(GoalRule{"physics/gap_closed", GoalHigher}),
			"eval/physics/gap_closed", GoalHigher},
	}
	for _, tt := range tests {
		if got := tt.rules.Goal(tt.metric); got != tt.want {
			t.Errorf("%s: Goal(%q) = %v, want %v", tt.name, tt.metric, got, tt.want)
		}
	}
}

func TestParseGoalRule(t *testing.T) {
	tests := []struct {
		in      string
		want    GoalRule
		wantErr bool
	}{
		{"gap=lower", GoalRule{"gap", GoalLower}, false},
		{"eval/score=HIGHER", GoalRule{"eval/score", GoalHigher}, false},
		{"a=b=lower", GoalRule{"a=b", GoalLower}, false},
		{"gap", GoalRule{}, true},
		{"=lower", GoalRule{}, true},
		{"gap=smaller", GoalRule{}, true},
		{"gap=unknown", GoalRule{}, true},
	}
	for _, tt := range tests {
		got, err := ParseGoalRule(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrBadGoal) {
				t.Errorf("ParseGoalRule(%q) error = %v, want ErrBadGoal", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseGoalRule(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestGoalText(t *testing.T) {
	b, err := json.Marshal([]Goal{GoalUnknown, GoalLower, GoalHigher})
	if err != nil || string(b) != `["unknown","lower","higher"]` {
		t.Fatalf("marshal goals = %s, %v", b, err)
	}
	var back []Goal
	if err := json.Unmarshal(b, &back); err != nil || back[1] != GoalLower || back[2] != GoalHigher {
		t.Fatalf("unmarshal goals = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"sideways"`), new(Goal)); !errors.Is(err, ErrBadGoal) {
		t.Fatalf("unmarshal bad goal error = %v, want ErrBadGoal", err)
	}
}
