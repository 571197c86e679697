package wandbfile

import (
	"bytes"
	"os"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func FuzzRead(f *testing.F) {
	for _, path := range fixtureFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(buildLog(f, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		w.Row(0, 1, time.Unix(1700000000, 0), map[string]float64{"loss": 1})
		w.Summary([]wandbtest.Item{wandbtest.Nested([]string{"a", "b"}, "[NaN, {\"x\": Infinity}]")},
			[]wandbtest.Item{{Key: "loss"}})
		w.Config([]wandbtest.Item{wandbtest.JSON("lr", `{"value": 0.1}`)}, nil)
		w.Metric("loss", wandbtest.GoalMinimize)
		w.Exit(1, 2)
		w.Torn(10)
	}))
	f.Add(buildLog(f, wandbtest.Options{Shifted: true}, func(w *wandbtest.Writer) {
		start(w)
		w.Summary([]wandbtest.Item{wandbtest.String("big", strings.Repeat("q", 40000))}, nil)
		w.Exit(0, 1)
	}))
	f.Add([]byte(":W&B\xe1\xbe\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			// Big inputs stall the fuzzer's mutator; the memory bound of
			// big files has its own tests (TestRecordLargerThanTheLimitIsDropped).
			t.Skip()
		}
		// The in-memory path with a buffer the input's size, as ReadFile
		// reads a small file: fast enough for 10k+ execs/s. The allocation
		// bound is measured on large inputs only (ReadMemStats stops the
		// world, and small ones cannot break it).
		measure := len(data) >= 64<<10
		allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
		if measure {
			metrics.Read(allocs) // unlike ReadMemStats, no stop-the-world
		}
		before := allocs[0].Value
		info, err := read(bytes.NewReader(data), Options{History: func(int64, string, []byte) {}}, max(len(data)+headerLen, 512))
		if measure {
			metrics.Read(allocs)
			// Fixed buffers plus a bounded amount per input byte: map
			// entries for distinct keys and parsed values are the worst case.
			if alloc := allocs[0].Value.Uint64() - before.Uint64(); alloc > 2<<20+256*uint64(len(data)) {
				t.Errorf("reading %d bytes allocated %d bytes", len(data), alloc)
			}
		}
		if err != nil {
			if info != nil {
				t.Errorf("error %v returned with an Info for in-memory input", err)
			}
			return
		}
		if info.GoodOffset > info.Size || info.Size != int64(len(data)) || info.GoodOffset < 7 {
			t.Errorf("GoodOffset=%d Size=%d len=%d", info.GoodOffset, info.Size, len(data))
		}
		if info.Err != nil && (info.Err.Offset < 7 || info.Err.Offset >= info.Size) {
			t.Errorf("error offset %d outside the file (size %d)", info.Err.Offset, info.Size)
		}
		if _, err := info.MarshalJSON(); err != nil {
			t.Errorf("MarshalJSON: %v", err)
		}
	})
}
