package wandbfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
	"google.golang.org/protobuf/encoding/protowire"
)

// buildLog returns the bytes of a log written by fn.
func buildLog(t testing.TB, o wandbtest.Options, fn func(w *wandbtest.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := wandbtest.New(&buf, o)
	fn(w)
	if err := w.Close(); err != nil {
		t.Fatalf("write log: %v", err)
	}
	return buf.Bytes()
}

func mustRead(t *testing.T, data []byte, opts Options) *Info {
	t.Helper()
	info, err := Read(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Size = %d, want %d", info.Size, len(data))
	}
	if info.GoodOffset > info.Size {
		t.Errorf("GoodOffset %d > Size %d", info.GoodOffset, info.Size)
	}
	return info
}

// outputRecord returns a serialized Record carrying an output_raw line, padded so that the
// whole chunk (7-byte header + payload) is exactly chunkLen bytes.
func outputRecord(t testing.TB, chunkLen int) []byte {
	t.Helper()
	for n := max(0, chunkLen-20); n <= chunkLen; n++ {
		var body []byte
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendString(body, strings.Repeat("x", n))
		var rec []byte
		rec = protowire.AppendTag(rec, 13, protowire.BytesType)
		rec = protowire.AppendBytes(rec, body)
		if 7+len(rec) == chunkLen {
			return rec
		}
	}
	t.Fatalf("no output record of chunk length %d", chunkLen)
	return nil
}

// fillBlock writes output records until exactly left bytes remain in the current block.
func fillBlock(t testing.TB, w *wandbtest.Writer, shift int64, left int64) {
	t.Helper()
	for {
		rem := shift + ((w.Offset()-shift)/32768+1)*32768 - w.Offset()
		if rem == left {
			return
		}
		n := rem - left
		if n > 4000 {
			n = 2000
		}
		if n < 40 {
			t.Fatalf("cannot leave exactly %d bytes in the block (%d left)", left, rem)
		}
		if err := w.Payload(outputRecord(t, int(n))); err != nil {
			t.Fatal(err)
		}
	}
}

func start(w *wandbtest.Writer) {
	w.Header(0)
	w.Run(wandbtest.Run{ID: "abc123", Project: "proj", Name: "first", CLIVersion: "0.19.1",
		StartTime: time.Date(2025, 3, 1, 12, 0, 0, 500, time.UTC)})
}

func TestHeaderVersions(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr func(error) bool
		version int
	}{
		{"version 0", buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { w.Header(0) }), nil, 0},
		{"version 1", buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { w.Header(1) }), nil, 1},
		{"version 2 refused", buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { w.Header(2) }),
			func(err error) bool {
				var v *UnsupportedVersionError
				return errors.As(err, &v) && v.Version == 2 && err.Error() == "unsupported .wandb version 2"
			}, 0},
		{"empty file", nil, func(err error) bool {
			return errors.Is(err, ErrNotWandb) && strings.Contains(err.Error(), "empty file")
		}, 0},
		{"short file", []byte(":W&B"), func(err error) bool { return errors.Is(err, ErrNotWandb) }, 0},
		{"foreign file", []byte("SQLite format 3\x00"), func(err error) bool { return errors.Is(err, ErrNotWandb) }, 0},
		{"bad magic", []byte(":W&B\xe1\xbf\x00"), func(err error) bool { return errors.Is(err, ErrNotWandb) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Read(bytes.NewReader(tt.data), Options{})
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Read error = %v, not the expected kind", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if info.HeaderVersion != tt.version || !info.Empty() || info.Records["header"] != 1 {
				t.Errorf("HeaderVersion=%d Empty=%v Records=%v", info.HeaderVersion, info.Empty(), info.Records)
			}
		})
	}
}

func TestHeaderOnlyFileIsEmpty(t *testing.T) {
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { w.FileHeader(0) })
	info := mustRead(t, data, Options{})
	if !info.Empty() || len(info.Records) != 0 || info.TornTail || info.Err != nil || info.GoodOffset != 7 {
		t.Errorf("header-only file: Empty=%v Records=%v Torn=%v Err=%v Good=%d",
			info.Empty(), info.Records, info.TornTail, info.Err, info.GoodOffset)
	}
}

func TestEndings(t *testing.T) {
	tests := []struct {
		name                   string
		write                  func(w *wandbtest.Writer)
		finished, footer, torn bool
		exitCode               int
	}{
		{"legacy exit final footer", func(w *wandbtest.Writer) { w.Exit(0, 12); w.Final(); w.Footer() }, true, true, false, 0},
		{"core ends at exit", func(w *wandbtest.Writer) { w.Exit(3, 12) }, true, false, false, 3},
		{"killed: no exit", func(w *wandbtest.Writer) { w.OutputRaw("epoch 1") }, false, false, false, 0},
		{"killed: bare chunk header", func(w *wandbtest.Writer) { w.OutputRaw("epoch 1"); w.Torn(74) }, false, false, true, 0},
		{"killed: partial chunk header", func(w *wandbtest.Writer) { w.OutputRaw("epoch 1"); w.RawChunk(0x11223344, 9, 1, nil) }, false, false, true, 0},
		{"negative exit code", func(w *wandbtest.Writer) { w.Exit(-9, 1) }, true, false, false, -9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { start(w); tt.write(w) })
			if tt.name == "killed: partial chunk header" {
				data = data[:len(data)-4] // 3 bytes of a chunk header
			}
			info := mustRead(t, data, Options{})
			if info.Finished != tt.finished || info.Footer != tt.footer || info.TornTail != tt.torn || info.Err != nil {
				t.Fatalf("Finished=%v Footer=%v Torn=%v Err=%v", info.Finished, info.Footer, info.TornTail, info.Err)
			}
			if tt.finished && (info.ExitCode == nil || *info.ExitCode != tt.exitCode || info.RuntimeS == nil) {
				t.Errorf("ExitCode=%v RuntimeS=%v, want code %d", info.ExitCode, info.RuntimeS, tt.exitCode)
			}
			if !tt.finished && (info.ExitCode != nil || info.RuntimeS != nil) {
				t.Errorf("unfinished run has ExitCode=%v RuntimeS=%v", info.ExitCode, info.RuntimeS)
			}
			if tt.torn && info.GoodOffset >= info.Size {
				t.Errorf("torn log: GoodOffset %d should cut before the tail (size %d)", info.GoodOffset, info.Size)
			}
			if !tt.torn && info.GoodOffset != info.Size {
				t.Errorf("complete log: GoodOffset %d, want size %d", info.GoodOffset, info.Size)
			}
		})
	}
}

func TestRunIdentity(t *testing.T) {
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		w.Telemetry("0.20.0") // the run record's telemetry came first
		w.Run(wandbtest.Run{ID: "abc123", Name: "renamed", Tags: []string{"a", "b"}, Group: "g", JobType: "train"})
		w.Run(wandbtest.Run{Tags: []string{"c"}}) // an update with only tags
		w.Metric("val/loss", wandbtest.GoalMinimize)
		w.Metric("val/acc", wandbtest.GoalMaximize)
		w.Metric("epoch", wandbtest.GoalUnset)
	})
	info := mustRead(t, data, Options{})
	want := Info{RunID: "abc123", Project: "proj", Name: "renamed", Group: "g", JobType: "train",
		Tags: []string{"c"}, WandbVersion: "0.19.1",
		StartTime: time.Date(2025, 3, 1, 12, 0, 0, 500, time.UTC)}
	got := Info{RunID: info.RunID, Project: info.Project, Name: info.Name, Group: info.Group,
		JobType: info.JobType, Tags: info.Tags, WandbVersion: info.WandbVersion, StartTime: info.StartTime}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity = %+v\nwant %+v", got, want)
	}
	wantMetrics := map[string]Goal{"val/loss": GoalMinimize, "val/acc": GoalMaximize}
	if !reflect.DeepEqual(info.Metrics, wantMetrics) {
		t.Errorf("Metrics = %v, want %v", info.Metrics, wantMetrics)
	}
	if info.Records["run"] != 3 || info.Records["metric"] != 3 || info.Records["telemetry"] != 1 {
		t.Errorf("Records = %v", info.Records)
	}
}

func TestChunkLayouts(t *testing.T) {
	big := strings.Repeat("y", 70_000) // > 2 blocks: FIRST, MIDDLE, LAST
	tests := []struct {
		name  string
		write func(t *testing.T, w *wandbtest.Writer)
		check func(t *testing.T, data []byte, info *Info)
	}{
		{
			name: "empty FIRST chunk when 7 bytes are left in a block",
			write: func(t *testing.T, w *wandbtest.Writer) {
				fillBlock(t, w, 0, 7)
				w.Summary([]wandbtest.Item{wandbtest.String("note", "after the empty chunk")}, nil)
			},
			check: func(t *testing.T, data []byte, info *Info) {
				hdr := data[32768-7 : 32768]
				if hdr[6] != wandbtest.ChunkFirst || binary.LittleEndian.Uint16(hdr[4:6]) != 0 {
					t.Fatalf("writer did not leave an empty FIRST chunk: % x", hdr)
				}
				if info.Summary["note"] != "after the empty chunk" {
					t.Errorf("record with an empty FIRST chunk lost: summary %v", info.Summary)
				}
			},
		},
		{
			name: "zero padding when fewer than 7 bytes are left",
			write: func(t *testing.T, w *wandbtest.Writer) {
				fillBlock(t, w, 0, 3)
				w.Summary([]wandbtest.Item{wandbtest.Int("after_padding", 1)}, nil)
			},
			check: func(t *testing.T, _ []byte, info *Info) {
				if info.Summary["after_padding"] != 1.0 {
					t.Errorf("record after padding lost: summary %v", info.Summary)
				}
			},
		},
		{
			name: "record spanning three blocks",
			write: func(t *testing.T, w *wandbtest.Writer) {
				w.Summary([]wandbtest.Item{wandbtest.String("big", big)}, nil)
				w.Exit(0, 5)
			},
			check: func(t *testing.T, data []byte, info *Info) {
				if data[32768+6] != wandbtest.ChunkMiddle || data[2*32768+6] != wandbtest.ChunkLast {
					t.Fatalf("writer did not split the record FIRST/MIDDLE/LAST across blocks")
				}
				if info.Summary["big"] != big || !info.Finished {
					t.Errorf("multi-block record lost (finished=%v)", info.Finished)
				}
			},
		},
		{
			name: "zeroed chunk header skips to the next block",
			write: func(t *testing.T, w *wandbtest.Writer) {
				w.OutputRaw("before")
				w.PadBlock()
				w.Exit(0, 5)
			},
			check: func(t *testing.T, _ []byte, info *Info) {
				if !info.Finished || info.Records["output_raw"] != 1 {
					t.Errorf("record after a zeroed block lost: %v", info.Records)
				}
			},
		},
		{
			name: "unknown record type and fields",
			write: func(t *testing.T, w *wandbtest.Writer) {
				w.Record(99, []byte("future"))
				var item []byte
				item = protowire.AppendTag(item, 1, protowire.BytesType)
				item = protowire.AppendString(item, "loss")
				item = protowire.AppendTag(item, 7, protowire.Fixed64Type) // unknown field
				item = protowire.AppendFixed64(item, 1)
				item = protowire.AppendTag(item, 16, protowire.BytesType)
				item = protowire.AppendString(item, "0.5")
				var hist []byte
				hist = protowire.AppendTag(hist, 1, protowire.BytesType)
				hist = protowire.AppendBytes(hist, item)
				w.Record(2, hist)
			},
			check: func(t *testing.T, _ []byte, info *Info) {
				if info.Records["unknown"] != 1 || info.Summary["loss"] != 0.5 || info.Err != nil {
					t.Errorf("Records=%v Summary=%v Err=%v", info.Records, info.Summary, info.Err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { start(w); tt.write(t, w) })
			info := mustRead(t, data, Options{})
			if info.Err != nil || info.TornTail {
				t.Fatalf("clean log read with Err=%v TornTail=%v", info.Err, info.TornTail)
			}
			tt.check(t, data, info)
		})
	}
}

func TestTornTails(t *testing.T) {
	multiBlock := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		w.Summary([]wandbtest.Item{wandbtest.String("big", strings.Repeat("z", 50_000))}, nil)
	})
	base := buildLog(t, wandbtest.Options{}, start)
	withExit := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) { start(w); w.Exit(0, 1) })
	tests := []struct {
		name string
		data []byte
		good int64
	}{
		{"payload cut short", withExit[:len(withExit)-2], int64(len(base))},
		{"FIRST chunk without its LAST", multiBlock[:40000], int64(firstChunkAt(t, multiBlock))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := mustRead(t, tt.data, Options{})
			if !info.TornTail || info.Err != nil {
				t.Fatalf("TornTail=%v Err=%v, want a torn tail and no error", info.TornTail, info.Err)
			}
			if info.GoodOffset != tt.good {
				t.Errorf("GoodOffset = %d, want %d", info.GoodOffset, tt.good)
			}
		})
	}
}

// firstChunkAt returns the offset of the first FIRST chunk in a normal-layout log.
func firstChunkAt(t *testing.T, data []byte) int {
	t.Helper()
	pos := 7
	for pos+7 <= len(data) {
		if left := 32768 - pos%32768; left < 7 {
			pos += left
			continue
		}
		if data[pos+6] == wandbtest.ChunkFirst {
			return pos
		}
		pos += 7 + int(binary.LittleEndian.Uint16(data[pos+4:pos+6]))
	}
	t.Fatal("no FIRST chunk")
	return 0
}

func TestCorruptionRecovers(t *testing.T) {
	// Two blocks of records, then a marker record in the third block.
	var victim int64
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		for i := 0; i < 10; i++ {
			w.OutputRaw(strings.Repeat("a", 1000))
		}
		victim = w.Offset()
		for w.Offset() < 2*32768+100 {
			w.OutputRaw(strings.Repeat("b", 1000))
		}
		w.Exit(0, 9)
	})
	tests := []struct {
		name   string
		mutate func(b []byte)
		reason string
	}{
		{"checksum mismatch", func(b []byte) { b[victim+20] ^= 0xff }, "checksum mismatch"},
		{"bad chunk type", func(b []byte) { b[victim+6] = 9 }, "bad chunk type 9"},
		{"length past the block end", func(b []byte) { binary.LittleEndian.PutUint16(b[victim+4:], 40000) }, "runs past the block end"},
		{"MIDDLE without FIRST", func(b []byte) {
			b[victim+6] = wandbtest.ChunkMiddle
			n := binary.LittleEndian.Uint16(b[victim+4:])
			binary.LittleEndian.PutUint32(b[victim:], wandbtest.Checksum(wandbtest.ChunkMiddle, b[victim+7:victim+7+int64(n)]))
		}, "MIDDLE chunk without a FIRST chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := bytes.Clone(data)
			tt.mutate(bad)
			info := mustRead(t, bad, Options{})
			if info.Err == nil || info.Err.Offset != victim || !strings.Contains(info.Err.Reason, tt.reason) {
				t.Fatalf("Err = %v, want offset %d: %s", info.Err, victim, tt.reason)
			}
			if !info.Finished || info.TornTail {
				t.Errorf("reading did not resume after the bad chunk: Finished=%v Torn=%v", info.Finished, info.TornTail)
			}
			if n := info.Records["output_raw"]; n < 10 || n >= countRecords(t, data, "output_raw") {
				t.Errorf("output_raw = %d: want the records before the error and after the next block", n)
			}
		})
	}
}

func countRecords(t *testing.T, data []byte, typ string) int {
	t.Helper()
	info := mustRead(t, data, Options{})
	return info.Records[typ]
}

func TestMalformedProtobufContinues(t *testing.T) {
	var bad int64
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		bad = w.Offset()
		w.Payload([]byte{0x12, 0xff, 0xff, 0xff}) // history field with a length past the end
		w.Exit(0, 2)
	})
	info := mustRead(t, data, Options{})
	if info.Err == nil || info.Err.Offset != bad || !strings.Contains(info.Err.Reason, "malformed") {
		t.Fatalf("Err = %v, want malformed record at %d", info.Err, bad)
	}
	if !info.Finished {
		t.Error("record after the malformed one was not read")
	}
}

func TestShiftedLayout(t *testing.T) {
	write := func(t *testing.T, w *wandbtest.Writer) {
		start(w)
		for i := int64(0); w.Offset() < 120_000; i++ {
			w.Row(i, float64(i), time.Unix(1700000000+i, 0), map[string]float64{"loss": 1 / float64(i+1)})
			w.OutputRaw(strings.Repeat("l", int(i%300)))
		}
		w.Exit(0, 100)
	}
	for _, shifted := range []bool{false, true} {
		data := buildLog(t, wandbtest.Options{Shifted: shifted}, func(w *wandbtest.Writer) { write(t, w) })
		info := mustRead(t, data, Options{})
		if info.Shifted != shifted || info.Err != nil || info.TornTail || !info.Finished {
			t.Errorf("shifted=%v: got Shifted=%v Err=%v Torn=%v Finished=%v", shifted, info.Shifted, info.Err, info.TornTail, info.Finished)
		}
		if info.HistoryRows < 300 || info.HistoryRows != info.Records["output_raw"] {
			t.Errorf("shifted=%v: %d history rows, %d output lines", shifted, info.HistoryRows, info.Records["output_raw"])
		}
	}
	// Below one block both layouts are the same bytes: reported as normal.
	small := buildLog(t, wandbtest.Options{Shifted: true}, func(w *wandbtest.Writer) { start(w); w.Exit(0, 1) })
	if info := mustRead(t, small, Options{}); info.Shifted || !info.Finished {
		t.Errorf("small shifted-writer log: Shifted=%v Finished=%v", info.Shifted, info.Finished)
	}
}

func TestSummaryAndConfig(t *testing.T) {
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		w.Header(0)
		w.Run(wandbtest.Run{ID: "r", Config: []wandbtest.Item{
			wandbtest.JSON("lr", `{"desc": null, "value": 0.1}`), wandbtest.JSON("drop", `{"value": 1}`)}})
		w.Config([]wandbtest.Item{wandbtest.JSON("lr", `{"desc": null, "value": 0.01}`)}, []wandbtest.Item{{Key: "drop"}})
		w.Row(0, 1.5, time.Unix(1700000000, 0), map[string]float64{"loss": 2, "acc": math.NaN()})
		w.Row(1, 2.5, time.Unix(1700000001, 0), map[string]float64{"loss": 1, "acc": math.Inf(1), "gone": 3})
		w.History(2, wandbtest.Nested([]string{"eval", "f1"}, "0.75"))
		w.Summary([]wandbtest.Item{
			wandbtest.Nested([]string{"best"}, "-Infinity"),
			wandbtest.Nested([]string{"nest", "a"}, "1"),
			wandbtest.Nested([]string{"nest", "b"}, "[NaN, 2]"),
		}, []wandbtest.Item{{Key: "gone"}})
		w.Summary(nil, []wandbtest.Item{{Nested: []string{"nest", "a"}}})
		w.Exit(0, 3)
	})
	info := mustRead(t, data, Options{})
	wantKeys := []string{"_runtime", "_step", "_timestamp", "acc", "eval.f1", "gone", "loss"}
	if !reflect.DeepEqual(info.HistoryKeys, wantKeys) || info.HistoryRows != 3 {
		t.Errorf("HistoryKeys = %v (%d rows), want %v", info.HistoryKeys, info.HistoryRows, wantKeys)
	}
	sum, err := MarshalValue(info.Summary)
	if err != nil {
		t.Fatal(err)
	}
	wantSum := `{"_runtime":2.5,"_step":1,"_timestamp":1700000001,"acc":"Infinity","best":"-Infinity",` +
		`"eval.f1":0.75,"loss":1,"nest":{"b":["NaN",2]}}`
	if string(sum) != wantSum {
		t.Errorf("summary\n got %s\nwant %s", sum, wantSum)
	}
	cfg, _ := MarshalValue(info.Config)
	if want := `{"lr":{"desc":null,"value":0.01}}`; string(cfg) != want {
		t.Errorf("config = %s, want %s", cfg, want)
	}
}

func TestOddKeysDoNotCrash(t *testing.T) {
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		// A flat key holding NUL, then a nested key under the same first element.
		w.Summary([]wandbtest.Item{wandbtest.JSON("a\x00b", "2"), wandbtest.Nested([]string{"a", "c"}, "1")}, nil)
		w.Summary([]wandbtest.Item{wandbtest.JSON("a", "3"), wandbtest.JSON("", "not json")}, nil)
	})
	info := mustRead(t, data, Options{})
	got, err := MarshalValue(info.Summary)
	if want := `{"":"not json","a":3,"a\u0000b":2}`; err != nil || string(got) != want {
		t.Errorf("summary = %s, %v; want %s", got, err, want)
	}
}

func TestHistoryCallbackSteps(t *testing.T) {
	data := buildLog(t, wandbtest.Options{}, func(w *wandbtest.Writer) {
		start(w)
		w.History(0, wandbtest.Float("loss", 3))                              // step field present, zero
		w.History(7, wandbtest.Float("loss", 2), wandbtest.Int("_step", 99))  // step field wins
		w.History(-1, wandbtest.Int("_step", 42), wandbtest.Float("loss", 1)) // _step item
		w.History(-1, wandbtest.Float("loss", math.NaN()))                    // v1 auto-step: row index
	})
	type call struct {
		step       int64
		key, value string
	}
	var got []call
	mustRead(t, data, Options{History: func(step int64, key string, value []byte) {
		got = append(got, call{step, key, string(value)})
	}})
	want := []call{{0, "loss", "3"}, {7, "loss", "2"}, {7, "_step", "99"}, {42, "_step", "42"}, {42, "loss", "1"}, {3, "loss", "NaN"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("History calls = %v\nwant %v", got, want)
	}
}

func TestReadFileReportsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run-x.wandb")
	if err := os.WriteFile(path, buildLog(t, wandbtest.Options{}, start), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := ReadFile(path, Options{})
	if err != nil || info.Path != path || info.RunID != "abc123" {
		t.Fatalf("ReadFile = %+v, %v", info, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.wandb"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v, want ErrNotExist", err)
	}
	empty := filepath.Join(dir, "run-e.wandb")
	os.WriteFile(empty, nil, 0o644)
	if _, err := ReadFile(empty, Options{}); !errors.Is(err, ErrNotWandb) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty file error = %v, want ErrNotWandb naming the file", err)
	}
}

func TestFixtureFacts(t *testing.T) {
	files := fixtureFiles(t)
	tests := []struct {
		id         string
		records    int
		version    string
		finished   bool
		exitCode   int
		runtime    int
		footer     bool
		torn       bool
		historyRow int
		kind       map[string]int
	}{
		{id: "g9dvvkua", records: 10, version: "0.10.20.dev1", finished: true, footer: true,
			kind: map[string]int{"exit": 1, "final": 1, "footer": 1, "artifact": 1}},
		{id: "2aftyuo2", records: 3, version: "0.12.7", kind: map[string]int{"header": 1, "run": 1, "files": 1}},
		{id: "l69sfsyk", records: 651, version: "0.17.5", torn: true, historyRow: 1,
			kind: map[string]int{"output_raw": 633, "stats": 10, "run": 2}},
		{id: "rv0d9uzo", records: 29, version: "0.17.5", torn: true, kind: map[string]int{"output_raw": 22}},
		{id: "rn7ku8ba", records: 1116, version: "0.23.0", finished: true, exitCode: 1, runtime: 608, historyRow: 300,
			kind: map[string]int{"summary": 601, "environment": 2, "stats": 80}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			info, err := ReadFile(files[tt.id], Options{})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range info.Records {
				total += n
			}
			if total != tt.records || info.RunID != tt.id || info.WandbVersion != tt.version {
				t.Errorf("records=%d run_id=%q version=%q", total, info.RunID, info.WandbVersion)
			}
			for k, n := range tt.kind {
				if info.Records[k] != n {
					t.Errorf("Records[%s] = %d, want %d", k, info.Records[k], n)
				}
			}
			if info.Finished != tt.finished || info.Footer != tt.footer || info.TornTail != tt.torn ||
				info.Err != nil || info.Shifted || info.HistoryRows != tt.historyRow {
				t.Errorf("Finished=%v Footer=%v Torn=%v Err=%v Shifted=%v HistoryRows=%d", info.Finished,
					info.Footer, info.TornTail, info.Err, info.Shifted, info.HistoryRows)
			}
			if tt.finished && (*info.ExitCode != tt.exitCode || *info.RuntimeS != tt.runtime) {
				t.Errorf("exit %d runtime %d, want %d %d", *info.ExitCode, *info.RuntimeS, tt.exitCode, tt.runtime)
			}
			if tt.torn && info.GoodOffset != info.Size-7 {
				t.Errorf("GoodOffset = %d, want the bare 7-byte header cut (size %d)", info.GoodOffset, info.Size)
			}
		})
	}
}

// A record past the size limit (one that never ends, or one absurdly large)
// is dropped as corrupt: the reader's memory stays bounded, and the records
// after it are still read.
func TestRecordLargerThanTheLimitIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run-big.wandb")
	w, err := wandbtest.Create(path, wandbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Header(0)
	_ = w.Run(wandbtest.Run{ID: "big", Project: "p", StartTime: time.Unix(1700000000, 0)})
	if err := w.Record(99, bytes.Repeat([]byte{0x7a}, 1<<20)); err != nil { // 1 MiB: FIRST, MIDDLE..., LAST
		t.Fatal(err)
	}
	_ = w.Exit(0, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := ReadFile(path, Options{MaxRecord: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if info.Err == nil || !strings.Contains(info.Err.Reason, "record larger than") {
		t.Errorf("Err = %v, want the oversized record reported", info.Err)
	}
	if !info.Finished || info.RunID != "big" {
		t.Errorf("finished %v, run id %q: the records around the big one were lost", info.Finished, info.RunID)
	}
	// Within the default limit the same record is read.
	if info, err := ReadFile(path, Options{}); err != nil || info.Err != nil {
		t.Errorf("default limit: %v, %v", err, info.Err)
	}
}
