package wandbout

import (
	"strings"
	"testing"
)

func TestRedactHidesKeys(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef01234567"
	const other = "local-ffffffffffffffffffffffffffffffffffffffffff"
	tests := []struct {
		name    string
		text    string
		secrets []string
		want    string
	}{
		{"literal key anywhere", "using " + key + " now", []string{key}, "using [REDACTED] now"},
		{"every occurrence", key + "," + key, []string{key}, "[REDACTED],[REDACTED]"},
		{"env assignment of an unknown key", "WANDB_API_KEY=" + other, nil, "WANDB_API_KEY=[REDACTED]"},
		{"python dict", "{'api_key': '" + other + "'}", nil, "{'api_key': '[REDACTED]'}"},
		{"json", `{"api_key":"` + other + `"}`, nil, `{"api_key":"[REDACTED]"}`},
		{"case-insensitive name", "wandb_api_key=" + other, nil, "wandb_api_key=[REDACTED]"},
		{"short token after api_key is left alone", "api_key: none", nil, "api_key: none"},
		{"short secrets are not replaced", "a cat sat", []string{"a"}, "a cat sat"},
		{"empty secret ignored", "text", []string{""}, "text"},
		{"no secret, no change", "wandb: ERROR user is not logged in", []string{key}, "wandb: ERROR user is not logged in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.text, tt.secrets...)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.text, got, tt.want)
			}
			for _, s := range tt.secrets {
				if len(s) >= minRedactLen && strings.Contains(got, s) {
					t.Errorf("secret still visible in %q", got)
				}
			}
		})
	}
}

// A key in a line longer than the scanner's piece is redacted wherever the
// piece boundary falls: fed across every offset, literal and labelled.
func TestRedactAcrossPieceBoundaries(t *testing.T) {
	const other = "local-ffffffffffffffffffffffffffffffffffffffffff"
	for _, filler := range []string{"x", "."} {
		for _, text := range []string{testKey, "WANDB_API_KEY=" + other} {
			for off := 0; off <= len(text)+1; off++ {
				// No newline: the line is cut into pieces at maxLine.
				line := strings.Repeat(filler, maxLine-off) + text + " and more" + strings.Repeat(filler, 2*redactMargin)
				s := NewScan([]string{testKey}, nil)
				s.Consume(strings.NewReader(line))
				out := s.Output()
				// Not the key, nor any sizable piece of it.
				if strings.Contains(out, testKey[:12]) || strings.Contains(out, testKey[28:]) || strings.Contains(out, "ffffffffffff") {
					t.Fatalf("filler %q, key at piece offset %d: the key survived in the stored output", filler, off)
				}
			}
		}
	}
}
