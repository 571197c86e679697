// Package wandbtest writes synthetic W&B `.wandb` transaction logs for tests: well-formed logs
// the way wandb writes them (LevelDB log blocks, CRC-32/IEEE chunks, protobuf records), the
// legacy 7-byte-shifted block layout, and raw chunks, torn tails and padding for corruption
// cases that real fixtures do not cover.
package wandbtest

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

const (
	blockSize = 32768
	headerLen = 7
)

// Chunk types of the LevelDB log format.
const (
	ChunkFull   byte = 1
	ChunkFirst  byte = 2
	ChunkMiddle byte = 3
	ChunkLast   byte = 4
)

// Goals for Metric, as in MetricRecord.goal.
const (
	GoalUnset    = 0
	GoalMinimize = 1
	GoalMaximize = 2
)

// Options shape the log layout.
type Options struct {
	// Shifted writes blocks at file offsets 7+k*32768, as wandb-core <= 0.17.5 did, instead of
	// counting the file header as part of block 0.
	Shifted bool
}

// Writer writes a .wandb log. Methods return the first write error; after an error they do
// nothing.
type Writer struct {
	w     *bufio.Writer
	c     io.Closer
	shift int64
	pos   int64
	num   int64
	err   error
}

// New returns a Writer writing to w. Nothing is written until the first call.
func New(w io.Writer, o Options) *Writer {
	wr := &Writer{w: bufio.NewWriterSize(w, 1<<20)}
	if o.Shifted {
		wr.shift = headerLen
	}
	return wr
}

// Create creates the file at path and returns a Writer for it; Close closes the file.
func Create(path string, o Options) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create .wandb log: %w", err)
	}
	w := New(f, o)
	w.c = f
	return w, nil
}

// Offset returns the file offset the next byte will be written at.
func (w *Writer) Offset() int64 { return w.pos }

// Flush writes buffered bytes to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.w.Flush()
	return w.err
}

// Close flushes and, for a Writer from Create, closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		if cerr := w.c.Close(); err == nil {
			err = cerr
		}
		w.c = nil
	}
	return err
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	_, w.err = w.w.Write(b)
	w.pos += int64(len(b))
	return w.err
}

// FileHeader writes the 7-byte W&B file header with the given version byte.
func (w *Writer) FileHeader(version byte) error {
	return w.write([]byte{':', 'W', '&', 'B', 0xe1, 0xbe, version})
}

// Header writes the file header and the header record, as every wandb writer starts a log.
func (w *Writer) Header(version byte) error {
	if err := w.FileHeader(version); err != nil {
		return err
	}
	return w.HeaderRecord()
}

// HeaderRecord writes a header record (Record field 21), empty as legacy wandb writes it.
func (w *Writer) HeaderRecord() error { return w.Record(21, nil) }

// blockLeft returns the bytes left in the current block.
func (w *Writer) blockLeft() int64 {
	return w.shift + ((w.pos-w.shift)/blockSize+1)*blockSize - w.pos
}

// Payload writes one serialized Record, split into FULL or FIRST/MIDDLE/LAST chunks and
// zero-padding block tails shorter than a chunk header, exactly like wandb's writers (which
// emit an empty FIRST chunk when exactly 7 bytes are left in a block).
func (w *Writer) Payload(p []byte) error {
	first := true
	for {
		left := w.blockLeft()
		if left < headerLen {
			if err := w.write(make([]byte, left)); err != nil {
				return err
			}
			left = blockSize
		}
		n := min(int64(len(p)), left-headerLen)
		last := n == int64(len(p))
		typ := ChunkMiddle
		switch {
		case first && last:
			typ = ChunkFull
		case first:
			typ = ChunkFirst
		case last:
			typ = ChunkLast
		}
		if err := w.Chunk(typ, p[:n]); err != nil {
			return err
		}
		p = p[n:]
		first = false
		if last {
			return nil
		}
	}
}

// Chunk writes one chunk with a correct checksum at the current offset, without any block
// bookkeeping: the caller decides whether it fits.
func (w *Writer) Chunk(typ byte, payload []byte) error {
	return w.RawChunk(Checksum(typ, payload), uint16(len(payload)), typ, payload)
}

// RawChunk writes a chunk header with the given fields followed by payload, unchecked, for
// corruption cases (wrong checksum, length or type).
func (w *Writer) RawChunk(crc uint32, length uint16, typ byte, payload []byte) error {
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:4], crc)
	binary.LittleEndian.PutUint16(h[4:6], length)
	h[6] = typ
	if err := w.write(h[:]); err != nil {
		return err
	}
	return w.write(payload)
}

// Checksum is the chunk checksum: CRC-32/IEEE over the type byte and the payload.
func Checksum(typ byte, payload []byte) uint32 {
	return crc32.Update(crc32.ChecksumIEEE([]byte{typ}), crc32.IEEETable, payload)
}

// Torn appends a bare chunk header (FULL, declaring length bytes) with no payload, as the
// legacy writer leaves behind when the process is killed between its two writes.
func (w *Writer) Torn(length uint16) error {
	return w.RawChunk(0x71a932dc, length, ChunkFull, nil)
}

// PadBlock zero-fills the rest of the current block.
func (w *Writer) PadBlock() error {
	return w.write(make([]byte, w.blockLeft()))
}

// Zeros writes n zero bytes.
func (w *Writer) Zeros(n int) error { return w.write(make([]byte, n)) }

// Record writes a Record with Record.num set and the given oneof field holding body.
func (w *Writer) Record(field protowire.Number, body []byte) error {
	w.num++
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(w.num))
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendBytes(b, body)
	return w.Payload(b)
}

// Item is a history, summary or config item: a flat Key, or a Nested key path, and its raw
// value_json.
type Item struct {
	Key    string
	Nested []string
	JSON   string
}

// Float is an item holding a number; NaN and ±Inf are written as Python's json writes them.
func Float(key string, v float64) Item {
	switch {
	case math.IsNaN(v):
		return Item{Key: key, JSON: "NaN"}
	case math.IsInf(v, 1):
		return Item{Key: key, JSON: "Infinity"}
	case math.IsInf(v, -1):
		return Item{Key: key, JSON: "-Infinity"}
	}
	return Item{Key: key, JSON: strconv.FormatFloat(v, 'g', -1, 64)}
}

// Int is an item holding an integer.
func Int(key string, v int64) Item { return Item{Key: key, JSON: strconv.FormatInt(v, 10)} }

// String is an item holding a JSON string.
func String(key, v string) Item {
	b, _ := json.Marshal(v) // a string always marshals
	return Item{Key: key, JSON: string(b)}
}

// JSON is an item holding raw value_json text.
func JSON(key, raw string) Item { return Item{Key: key, JSON: raw} }

// Nested is an item under a nested key path, as wandb-core writes (a one-element path is how
// core writes a flat key).
func Nested(path []string, raw string) Item { return Item{Nested: path, JSON: raw} }

func appendItem(b []byte, field protowire.Number, it Item) []byte {
	var m []byte
	if it.Key != "" {
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, it.Key)
	}
	for _, k := range it.Nested {
		m = protowire.AppendTag(m, 2, protowire.BytesType)
		m = protowire.AppendString(m, k)
	}
	if it.JSON != "" {
		m = protowire.AppendTag(m, 16, protowire.BytesType)
		m = protowire.AppendString(m, it.JSON)
	}
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// History writes a history row. step >= 0 sets HistoryRecord.step (a zero step is written as
// the empty message, as proto3 does); step < 0 leaves it out.
func (w *Writer) History(step int64, items ...Item) error {
	var b []byte
	for _, it := range items {
		b = appendItem(b, 1, it)
	}
	if step >= 0 {
		var s []byte
		if step != 0 {
			s = protowire.AppendTag(s, 1, protowire.VarintType)
			s = protowire.AppendVarint(s, uint64(step))
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	}
	return w.Record(2, b)
}

// Row writes a history row the way wandb logs run.log(metrics): the metrics plus _step,
// _runtime and _timestamp items and HistoryRecord.step.
func (w *Writer) Row(step int64, runtime float64, ts time.Time, metrics map[string]float64) error {
	items := make([]Item, 0, len(metrics)+3)
	for k, v := range metrics {
		items = append(items, Float(k, v))
	}
	items = append(items,
		Int("_step", step),
		Float("_runtime", runtime),
		Float("_timestamp", float64(ts.UnixNano())/1e9))
	return w.History(step, items...)
}

func updateRemove(update, remove []Item) []byte {
	var b []byte
	for _, it := range update {
		b = appendItem(b, 1, it)
	}
	for _, it := range remove {
		b = appendItem(b, 2, it)
	}
	return b
}

// Summary writes a summary record with the given updates and removes (removes need only keys).
func (w *Writer) Summary(update, remove []Item) error {
	return w.Record(3, updateRemove(update, remove))
}

// Config writes a config record with the given updates and removes.
func (w *Writer) Config(update, remove []Item) error {
	return w.Record(5, updateRemove(update, remove))
}

// Run describes a RunRecord.
type Run struct {
	ID, Entity, Project, Name, Group, JobType string
	Tags                                      []string
	StartTime                                 time.Time
	Config                                    []Item // RunRecord.config updates
	CLIVersion                                string // RunRecord.telemetry.cli_version
}

// Run writes a run record. The first starts the run; later ones are updates.
func (w *Writer) Run(r Run) error {
	var b []byte
	str := func(field protowire.Number, s string) {
		if s != "" {
			b = protowire.AppendTag(b, field, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	str(1, r.ID)
	str(2, r.Entity)
	str(3, r.Project)
	if len(r.Config) > 0 {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, updateRemove(r.Config, nil))
	}
	str(6, r.Group)
	str(7, r.JobType)
	str(8, r.Name)
	for _, t := range r.Tags {
		str(10, t)
	}
	if !r.StartTime.IsZero() {
		var ts []byte
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(r.StartTime.Unix()))
		ts = protowire.AppendTag(ts, 2, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(r.StartTime.Nanosecond()))
		b = protowire.AppendTag(b, 17, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	}
	if r.CLIVersion != "" {
		b = protowire.AppendTag(b, 19, protowire.BytesType)
		b = protowire.AppendBytes(b, telemetry(r.CLIVersion))
	}
	return w.Record(17, b)
}

func telemetry(cliVersion string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendString(b, cliVersion)
}

// Telemetry writes a telemetry record carrying cli_version.
func (w *Writer) Telemetry(cliVersion string) error {
	return w.Record(11, telemetry(cliVersion))
}

// Metric writes a metric record (run.define_metric) with a goal (GoalMinimize, ...).
func (w *Writer) Metric(name string, goal int) error {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	if goal != GoalUnset {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(goal))
	}
	return w.Record(12, b)
}

// OutputRaw writes an output_raw record (a console line; stdout).
func (w *Writer) OutputRaw(line string) error {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, line)
	return w.Record(13, b)
}

// Exit writes the exit record (exit code and runtime in seconds).
func (w *Writer) Exit(code, runtime int32) error {
	var b []byte
	if code != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(code)))
	}
	if runtime != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(runtime)))
	}
	return w.Record(18, b)
}

// Final writes the final record that legacy wandb writes after exit.
func (w *Writer) Final() error { return w.Record(20, nil) }

// Footer writes the footer record that ends a legacy log.
func (w *Writer) Footer() error { return w.Record(22, nil) }
