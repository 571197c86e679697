package null

import (
	"encoding/json"
	"testing"
)

func TestString(t *testing.T) {
	b, err := json.Marshal(struct {
		A, B String
	}{"", "x"})
	if err != nil || string(b) != `{"A":null,"B":"x"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var back struct{ A, B String }
	if err := json.Unmarshal(b, &back); err != nil || back.A != "" || back.B != "x" {
		t.Fatalf("unmarshal = %+v, %v", back, err)
	}
}
