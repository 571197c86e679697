package wandbfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime/metrics"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
	"google.golang.org/protobuf/encoding/protowire"
)

// seedRecord bounds the records taken from a fixture into a seed. Every
// mutation runs the parser over the whole input, and the engine minimizes
// each new input it keeps (a pass quadratic in its length), so the whole
// fixtures as seeds (up to 157 KB) held the fuzzer near 0 execs/s for
// seconds at a time.
const seedRecord = 1 << 10

// fixtureSeeds returns one seed per real fixture: its file header and the
// first record of each kind no larger than seedRecord, in file order. That
// keeps real wandb record shapes (run, config, history, summary, telemetry,
// exit, footer) at a fuzzable size; the whole files are read by
// TestFixturesMatchGolden.
func fixtureSeeds(t testing.TB) [][]byte {
	t.Helper()
	var ids []string
	files := fixtureFiles(t)
	for id := range files {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a stable order, so seed#N names the same input every run
	var seeds [][]byte
	for _, id := range ids {
		data, err := os.ReadFile(files[id])
		if err != nil {
			t.Fatal(err)
		}
		info, err := Read(bytes.NewReader(data), Options{})
		if err != nil {
			t.Fatalf("%s: %v", files[id], err)
		}
		var shift int64
		if info.Shifted {
			shift = shiftedOffset
		}
		var buf bytes.Buffer
		w := wandbtest.New(&buf, wandbtest.Options{})
		w.FileHeader(data[6])
		seen := map[int]bool{}
		for _, rec := range logRecords(t, data[:info.GoodOffset], shift) {
			if kind := recordKind(rec); len(rec) <= seedRecord && !seen[kind] {
				seen[kind] = true
				w.Payload(rec)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	return seeds
}

// logRecords returns the records of a clean log (no corruption, no torn
// tail) whose blocks start at shift.
func logRecords(t testing.TB, data []byte, shift int64) [][]byte {
	t.Helper()
	var recs [][]byte
	var rec []byte
	for pos := int64(headerLen); pos < int64(len(data)); {
		left := blockEnd(pos, shift) - pos
		if left < headerLen || allZero(data[pos:pos+headerLen]) {
			pos += left
			continue
		}
		n := int64(binary.LittleEndian.Uint16(data[pos+4:]))
		payload := data[pos+headerLen : pos+headerLen+n]
		switch data[pos+6] {
		case chunkFull:
			recs = append(recs, payload)
		case chunkFirst:
			rec = append([]byte(nil), payload...)
		case chunkMiddle:
			rec = append(rec, payload...)
		case chunkLast:
			recs = append(recs, append(rec, payload...))
		default:
			t.Fatalf("chunk type %d at %d in a clean log", data[pos+6], pos)
		}
		pos += headerLen + n
	}
	return recs
}

// recordKind is a Record's type: the field of its record_type oneof.
func recordKind(rec []byte) int {
	kind := typeUnknown
	_ = fields(rec, func(num protowire.Number, _ protowire.Type, _ []byte, _ uint64) error {
		if k := recordTypeOf(num); k != typeUnknown && kind == typeUnknown {
			kind = k
		}
		return nil
	})
	return kind
}

func FuzzRead(f *testing.F) {
	for _, s := range fixtureSeeds(f) {
		f.Add(s)
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
	// The legacy ending, and a record in FIRST/MIDDLE/LAST chunks that fits in
	// one block (the reader does not care where the block ends).
	f.Add(buildLog(f, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		w.Telemetry("0.15.12")
		w.OutputRaw("step 1")
		w.Exit(0, 1)
		w.Final()
		w.Footer()
		w.Chunk(wandbtest.ChunkFirst, []byte{0x08})
		w.Chunk(wandbtest.ChunkMiddle, []byte{0x01})
		w.Chunk(wandbtest.ChunkLast, []byte{0xa2, 0x01, 0x00})
	}))
	f.Add([]byte(":W&B\xe1\xbe\x01"))
	// One seed past the first block, written in the shifted layout: the
	// layout detection and a record in chunks on both sides of a block end
	// need 32 KiB. Filled with short output lines, which cost the parser little.
	f.Add(buildLog(f, wandbtest.Options{Shifted: true}, func(w *wandbtest.Writer) {
		start(w)
		fillBlock(f, w, shiftedOffset, 100)
		w.Summary([]wandbtest.Item{wandbtest.String("big", strings.Repeat("q", 200))}, nil)
		w.Exit(0, 1)
	}))
	opts := Options{History: func(int64, string, []byte) {}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			// Big inputs stall the fuzzer's mutator; the memory bound of
			// big files has its own tests (TestRecordLargerThanTheLimitIsDropped).
			t.Skip()
		}
		// The in-memory path with the buffer ReadFile gives a file this
		// size (a bytes.Reader, not a temp file per exec). The allocation
		// bound is measured on large inputs only (small ones cannot break
		// it, and reading the counter on every exec costs time).
		measure := len(data) >= 64<<10
		var allocs []metrics.Sample
		var before uint64
		if measure {
			allocs = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
			metrics.Read(allocs) // unlike ReadMemStats, no stop-the-world
			before = allocs[0].Value.Uint64()
		}
		info, err := read(bytes.NewReader(data), opts, bufferFor(int64(len(data))))
		if measure {
			metrics.Read(allocs)
			// Fixed buffers plus a bounded amount per input byte: map
			// entries for distinct keys and parsed values are the worst case.
			if alloc := allocs[0].Value.Uint64() - before; alloc > 2<<20+256*uint64(len(data)) {
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
