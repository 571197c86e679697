package wandbout

import (
	"strings"
	"testing"
)

// testKey is a key-shaped secret the scan is given to hide.
const testKey = "0123456789abcdef0123456789abcdef01234567"

// The CLI output scanner and classifier never panic, always give a known
// outcome with a one-line cause, and never keep the key in what is stored.
func FuzzClassifyUploadOutput(f *testing.F) {
	for _, s := range uploadOutputs {
		f.Add(s, 0)
	}
	// One read buffer for every exec: a fresh 32 KiB one per output was
	// half the time of a short output, most of it in the GC.
	buf := make([]byte, 32<<10)
	f.Fuzz(func(t *testing.T, out string, exit int) {
		s, outcome, cause := scanUploadOutput(buf, out, exit)
		switch outcome {
		case OutcomeAuth, OutcomeTransient, OutcomeOther:
		default:
			t.Errorf("outcome %d", outcome)
		}
		if cause == nil || strings.Contains(cause.Error(), "\n") {
			t.Errorf("cause %q: want one line", cause)
		}
		if strings.Contains(s.Output(), testKey) || strings.Contains(cause.Error(), testKey) {
			t.Errorf("the key is in what is stored")
		}
		_ = s.Run("x")
	})
}

// uploadOutputs are the fuzzer's seeds: one of each kind of line.
var uploadOutputs = []string{
	"wandb: ERROR user is not logged in",
	"wandb: [p/x] View run n at https://wandb.ai/e/p/runs/x\nwandb: [p/x] Finished syncing d",
	"PermissionError: [Errno 13] Permission denied: '/d/forbidden/run-x.wandb.synced'",
	"Syncing: https://wandb.ai/e/p/runs/x ... done.",
	"WANDB_API_KEY=" + testKey,
	"wandb: ERROR [p/x] Fatal error while uploading data",
}

// scanUploadOutput is the fuzzer's work on one output.
func scanUploadOutput(buf []byte, out string, exit int) (*Scan, Outcome, error) {
	s := NewScan([]string{testKey}, buf)
	s.Consume(strings.NewReader(out))
	code := exit % 256
	outcome, _, cause := Classify(Exit{Code: &code}, s, []string{"/runs/x/run-x.wandb"})
	return s, outcome, cause
}

// The fuzzer's work per input, without the fuzzing engine (docs/benchmarks.md).
func BenchmarkClassifyUploadOutput(b *testing.B) {
	buf := make([]byte, 32<<10)
	for i := 0; b.Loop(); i++ {
		s, _, _ := scanUploadOutput(buf, uploadOutputs[i%len(uploadOutputs)], 1)
		_ = s.Run("x")
	}
}
