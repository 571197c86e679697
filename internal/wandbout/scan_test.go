package wandbout

import (
	"strconv"
	"strings"
	"testing"
)

func TestUploadOutputKeepsTheTail(t *testing.T) {
	s := NewScan([]string{testKey}, nil)
	var b strings.Builder
	for i := range 2000 {
		b.WriteString("wandb: [p/x] uploading history steps " + strconv.Itoa(i) + "\n")
	}
	b.WriteString("wandb: ERROR last words " + testKey) // no trailing newline
	s.Consume(strings.NewReader(b.String()))
	out := s.Output()
	if len(out) > tailBytes {
		t.Errorf("Output is %d bytes, want <= %d", len(out), tailBytes)
	}
	if !strings.HasSuffix(out, "wandb: ERROR last words "+RedactedText+"\n") {
		t.Errorf("Output does not end with the last line, redacted: %q", out[max(0, len(out)-80):])
	}
	if strings.Contains(out, "steps 0\n") {
		t.Error("Output kept the head of a long output")
	}
}
