// Package wandbfile reads W&B `.wandb` transaction logs (run-<id>.wandb) as a stream.
//
// A log is a 7-byte W&B header followed by the LevelDB log format (32 KiB blocks, chunks with a
// CRC-32/IEEE checksum) whose records are serialized wandb_internal.Record protobufs. The reader
// decodes only the fields the ledger and `runner inspect` need, with protowire, in memory that does
// not grow with the file size. It never panics: corruption is reported in Info.Err together with
// everything that could still be read, and a torn final record (a killed run) is reported as
// Info.TornTail, not as an error. See docs/design.md "The .wandb format".
package wandbfile

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotWandb is returned when a file is empty, too short for the 7-byte header, or does not
// start with the W&B ident and magic.
var ErrNotWandb = errors.New("not a .wandb file")

// ReaderVersion names what this reader understands. Bump it whenever the
// reader learns to read logs it refused before (a new header version, a
// record it could not parse): ledgers then read their unreadable runs again.
const ReaderVersion = "1"

// UnsupportedVersionError is returned for a header version newer than this reader understands
// (versions 0 and 1 are read).
type UnsupportedVersionError struct{ Version int }

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("unsupported .wandb version %d", e.Version)
}

// ReadError describes the first corruption found in a log: the file offset of the bad chunk or
// record and what was wrong with it.
type ReadError struct {
	Offset int64
	Reason string
}

func (e *ReadError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason) }

// Goal is the optimisation goal of a metric defined with run.define_metric.
type Goal int

// Goals as encoded in MetricRecord.goal.
const (
	GoalUnset Goal = iota
	GoalMinimize
	GoalMaximize
)

func (g Goal) String() string {
	switch g {
	case GoalMinimize:
		return "minimize"
	case GoalMaximize:
		return "maximize"
	default:
		return "unset"
	}
}

// Options tune what Read reports beyond Info.
type Options struct {
	// History, when set, is called for every history item in file order. value is the raw
	// value_json bytes, valid only during the call. step is HistoryRecord.step.num, or the
	// "_step" item's value if present, else the row index.
	History func(step int64, key string, value []byte)
	// Record, when set, is called with every well-formed record's protobuf
	// bytes in file order (valid only during the call): what survives the
	// torn tails and corrupt chunks the reader skips.
	Record func(payload []byte)
	// MaxRecord bounds one record's size (DefaultMaxRecord when 0): a
	// record that never ends (a FIRST chunk, MIDDLE chunks, no LAST) is
	// dropped as corrupt once it passes it, so no input makes the reader's
	// memory grow past it.
	MaxRecord int
}

// DefaultMaxRecord is the largest record the reader assembles. wandb's own
// records are far smaller (its largest, a file chunk, is a few MiB).
const DefaultMaxRecord = 64 << 20

// Info is what a log says about its run.
type Info struct {
	Path          string
	HeaderVersion int

	// Identity from the first run record; later run records (name, tag, group changes) update a
	// field when they carry a non-empty value.
	RunID, Entity, Project, Name, Group, JobType string
	Tags                                         []string
	StartTime                                    time.Time // RunRecord.start_time, zero if absent

	WandbVersion string // first non-empty telemetry cli_version

	Finished bool // an exit record was read
	ExitCode *int // from the exit record
	RuntimeS *int // exit record runtime in seconds
	Footer   bool // a footer record was read (legacy logs end exit, final, footer)

	// Records counts records by type name (history, summary, run, exit, ..., unknown).
	Records map[string]int

	HistoryRows int
	HistoryKeys []string // sorted; a nested key is joined with "."

	// Summary is the final run summary as W&B shows it: the last value of each history key
	// (including _step, _runtime, _timestamp), then the summary records' updates and removes
	// in file order. A nested key ["a","b"] sets or removes Summary["a"]["b"].
	Summary map[string]any
	// Config is the final config: RunRecord.config and config records applied in file order,
	// values kept as logged (usually {"value": X, "desc": ...}).
	Config map[string]any
	// Metrics maps a metric name to its goal, for metric records that set one.
	Metrics map[string]Goal

	TornTail   bool       // the file ends inside a record (killed run): not an error
	Err        *ReadError // first corruption found, nil if none
	Size       int64      // bytes read
	GoodOffset int64      // file offset just after the last complete record (repair cut point)
	Shifted    bool       // blocks start at 7+k*32768 (wandb-core <= 0.17.5)
}

// Empty reports whether the log holds no record besides the header record, so there is nothing
// to upload.
func (i *Info) Empty() bool {
	for name, n := range i.Records {
		if name != "header" && n > 0 {
			return false
		}
	}
	return true
}
