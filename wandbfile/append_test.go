package wandbfile

import (
	"bytes"
	"testing"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

// An exit record appended to a killed run's log reads back as a finished run
// with exit code 1, whatever block position the log ended at and in both
// block layouts.
func TestAppendExitRecord(t *testing.T) {
	for _, shifted := range []bool{false, true} {
		for _, rows := range []int{1, 40, 700, 1500} { // ends inside block 0, near a block end, later blocks
			var buf bytes.Buffer
			w := wandbtest.New(&buf, wandbtest.Options{Shifted: shifted})
			w.Header(0)
			w.Run(wandbtest.Run{ID: "killed", Project: "p"})
			for i := range rows {
				w.History(int64(i), wandbtest.Float("loss", float64(i)), wandbtest.String("note", "xxxxxxxxxxxxxxxxxxxx"))
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			before, err := Read(bytes.NewReader(buf.Bytes()), Options{})
			if err != nil || before.Finished {
				t.Fatalf("setup: %v finished=%v", err, before.Finished)
			}
			if err := AppendRecord(&buf, int64(buf.Len()), shifted, ExitRecord(1)); err != nil {
				t.Fatal(err)
			}
			after, err := Read(bytes.NewReader(buf.Bytes()), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !after.Finished || after.ExitCode == nil || *after.ExitCode != 1 || after.Err != nil || after.TornTail {
				t.Errorf("shifted=%v rows=%d: finished %v exit %v err %v torn %v; want finished, exit 1, clean",
					shifted, rows, after.Finished, after.ExitCode, after.Err, after.TornTail)
			}
			if after.HistoryRows != before.HistoryRows || after.Shifted != before.Shifted {
				t.Errorf("shifted=%v rows=%d: history %d (was %d), shifted %v (was %v)", shifted, rows,
					after.HistoryRows, before.HistoryRows, after.Shifted, before.Shifted)
			}
		}
	}
}

// A record bigger than a block is split into FIRST, MIDDLE and LAST chunks.
func TestAppendMultiChunkRecord(t *testing.T) {
	var buf bytes.Buffer
	w := wandbtest.New(&buf, wandbtest.Options{})
	w.Header(0)
	w.Run(wandbtest.Run{ID: "big", Project: "p"})
	w.Flush()
	line := bytes.Repeat([]byte("y"), 69000)
	var inner, big []byte
	inner = append(inner, 0x1a) // OutputRawRecord.line = 3
	inner = appendVarint(inner, uint64(len(line)))
	inner = append(inner, line...)
	big = append(big, 0x6a) // Record.output_raw = 13
	big = appendVarint(big, uint64(len(inner)))
	big = append(big, inner...)
	if err := AppendRecord(&buf, int64(buf.Len()), false, big); err != nil {
		t.Fatal(err)
	}
	if err := AppendRecord(&buf, int64(buf.Len()), false, ExitRecord(0)); err != nil {
		t.Fatal(err)
	}
	info, err := Read(bytes.NewReader(buf.Bytes()), Options{})
	if err != nil || info.Err != nil || info.Records["output_raw"] != 1 || !info.Finished || *info.ExitCode != 0 {
		t.Fatalf("read back: %v, err %v, records %v, finished %v", err, info.Err, info.Records, info.Finished)
	}
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
