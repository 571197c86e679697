package units

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"512MiB", 512 << 20, false},
		{"20GiB", 20 << 30, false},
		{"80GB", 80e9, false},
		{"80gb", 80e9, false},
		{"4096", 4096, false},
		{"100B", 100, false},
		{"1.5GiB", 3 << 29, false},
		{" 2 TiB ", 2 << 40, false},
		{"1KB", 1000, false},
		{"0", 0, false},
		{"", 0, true},
		{"GiB", 0, true},
		{"-1GiB", 0, true},
		{"12XB", 0, true},
		{"1e30TiB", 0, true},
		{"99999999999TiB", 0, true},
		{"20G", 0, true}, // ambiguous unit: say GiB or GB
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSize) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
					t.Fatalf("ParseSize(%q) = %d, %v; want an ErrBadSize naming the value", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
