package wandbfile

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Record type ids: the field numbers of the wandb_internal.Record oneof in wandb's
// wandb_internal.proto (docs/design.md "The .wandb format"), with typeUnknown for records that
// carry none we know.
const (
	typeUnknown = iota
	typeHistory
	typeSummary
	typeOutput
	typeConfig
	typeFiles
	typeStats
	typeArtifact
	typeTBRecord
	typeAlert
	typeTelemetry
	typeMetric
	typeOutputRaw
	typeRun
	typeExit
	typeFinal
	typeHeader
	typeFooter
	typePreempting
	typeNoopLinkArtifact
	typeUseArtifact
	typeEnvironment
	typeOutputLogger
	typeRequest
	numTypes
)

var typeNames = [numTypes]string{
	typeUnknown:          "unknown",
	typeHistory:          "history",
	typeSummary:          "summary",
	typeOutput:           "output",
	typeConfig:           "config",
	typeFiles:            "files",
	typeStats:            "stats",
	typeArtifact:         "artifact",
	typeTBRecord:         "tbrecord",
	typeAlert:            "alert",
	typeTelemetry:        "telemetry",
	typeMetric:           "metric",
	typeOutputRaw:        "output_raw",
	typeRun:              "run",
	typeExit:             "exit",
	typeFinal:            "final",
	typeHeader:           "header",
	typeFooter:           "footer",
	typePreempting:       "preempting",
	typeNoopLinkArtifact: "noop_link_artifact",
	typeUseArtifact:      "use_artifact",
	typeEnvironment:      "environment",
	typeOutputLogger:     "output_logger",
	typeRequest:          "request",
}

// recordTypeOf maps a Record field number to a record type, or typeUnknown for fields outside
// the record_type oneof (num, control, uuid, _info) and for unknown ones.
func recordTypeOf(field protowire.Number) int {
	switch field {
	case 2:
		return typeHistory
	case 3:
		return typeSummary
	case 4:
		return typeOutput
	case 5:
		return typeConfig
	case 6:
		return typeFiles
	case 7:
		return typeStats
	case 8:
		return typeArtifact
	case 9:
		return typeTBRecord
	case 10:
		return typeAlert
	case 11:
		return typeTelemetry
	case 12:
		return typeMetric
	case 13:
		return typeOutputRaw
	case 17:
		return typeRun
	case 18:
		return typeExit
	case 20:
		return typeFinal
	case 21:
		return typeHeader
	case 22:
		return typeFooter
	case 23:
		return typePreempting
	case 24:
		return typeNoopLinkArtifact
	case 25:
		return typeUseArtifact
	case 26:
		return typeEnvironment
	case 27:
		return typeOutputLogger
	case 100:
		return typeRequest
	}
	return typeUnknown
}

// recordReader decodes Record payloads and accumulates the Info. History and summary values
// stay raw bytes until finish: only the last value of each key is ever parsed.
type recordReader struct {
	opts    Options
	info    Info
	counts  [numTypes]int
	runSeen bool
	seq     int64 // order of value operations across the file

	histVals map[string]*historyValue // last value of each history key
	summary  opSet
	config   opSet
	metrics  map[string]Goal

	// Scratch reused across records so that a history row allocates nothing once its keys
	// have been seen.
	items   []decodedItem
	keyBuf  []byte
	pathBuf []string
	names   []string // interned keys of the current history row
}

// decodedItem is a history/summary/config item: its key as offsets into recordReader.keyBuf
// (nested keys joined), the nested path when it has more than one element, and its raw value.
type decodedItem struct {
	keyStart, keyEnd int
	pathStart        int // index into pathBuf; pathLen > 1 only for nested keys
	pathLen          int
	value            []byte
	remove           bool
}

func newRecordReader(opts Options) *recordReader {
	return &recordReader{
		opts:     opts,
		histVals: make(map[string]*historyValue),
		summary:  newOpSet(),
		config:   newOpSet(),
	}
}

// record decodes one complete record that started at file offset off.
func (rd *recordReader) record(b []byte, off int64) {
	raw := b
	typ := typeUnknown
	var body []byte
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			rd.malformed(off, "record", protowire.ParseError(n))
			return
		}
		b = b[n:]
		if t := recordTypeOf(num); t != typeUnknown && wt == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				rd.malformed(off, "record", protowire.ParseError(m))
				return
			}
			typ, body = t, v // proto3 oneof: the last one wins
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, wt, b)
		if m < 0 {
			rd.malformed(off, "record", protowire.ParseError(m))
			return
		}
		b = b[m:]
	}
	if rd.opts.Record != nil {
		rd.opts.Record(raw)
	}
	rd.counts[typ]++
	var err error
	switch typ {
	case typeHistory:
		err = rd.history(body)
	case typeSummary:
		err = rd.valueRecord(&rd.summary, body)
	case typeConfig:
		err = rd.valueRecord(&rd.config, body)
	case typeRun:
		err = rd.run(body)
	case typeExit:
		err = rd.exit(body)
	case typeTelemetry:
		err = rd.telemetry(body)
	case typeMetric:
		err = rd.metric(body)
	case typeFooter:
		rd.info.Footer = true
	}
	if err != nil {
		rd.malformed(off, typeNames[typ], err)
	}
}

func (rd *recordReader) malformed(off int64, what string, err error) {
	if rd.info.Err == nil {
		rd.info.Err = &ReadError{Offset: off, Reason: fmt.Sprintf("malformed %s record: %v", what, err)}
	}
}

// fields calls fn for every field of message b. fn gets the raw bytes of length-delimited
// fields and the value of varint fields; other wire types are skipped.
func fields(b []byte, fn func(num protowire.Number, wt protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch wt {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
			if err := fn(num, wt, v, 0); err != nil {
				return err
			}
		case protowire.VarintType:
			x, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
			if err := fn(num, wt, nil, x); err != nil {
				return err
			}
		default:
			m := protowire.ConsumeFieldValue(num, wt, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return nil
}

// item decodes a HistoryItem/SummaryItem/ConfigItem (key=1, nested_key=2, value_json=16) into
// rd.items. This is the hot path, so it walks the wire format directly.
func (rd *recordReader) item(b []byte, remove bool) error {
	it := decodedItem{keyStart: len(rd.keyBuf), pathStart: len(rd.pathBuf), remove: remove}
	var key []byte
	hasKey := false
	nested := 0
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if wt != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, wt, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
		switch num {
		case 1:
			key, hasKey = v, true
		case 2:
			if nested > 0 {
				rd.keyBuf = append(rd.keyBuf, '.')
			}
			rd.keyBuf = append(rd.keyBuf, v...)
			nested++
		case 16:
			it.value = v
		}
	}
	if hasKey && (len(key) > 0 || nested == 0) {
		// key and nested_key are exclusive; a flat key wins if both were written.
		rd.keyBuf = append(rd.keyBuf[:it.keyStart], key...)
		nested = 0
	}
	it.keyEnd = len(rd.keyBuf)
	it.pathLen = nested // itemWithPath fills pathBuf when this is more than 1
	rd.items = append(rd.items, it)
	return nil
}

func (rd *recordReader) resetItems() {
	rd.items = rd.items[:0]
	rd.keyBuf = rd.keyBuf[:0]
	rd.pathBuf = rd.pathBuf[:0]
}

func (rd *recordReader) key(it *decodedItem) []byte { return rd.keyBuf[it.keyStart:it.keyEnd] }

// history handles a HistoryRecord: item=1, step=2 (HistoryStep{num=1}).
func (rd *recordReader) history(b []byte) error {
	rd.resetItems()
	step, hasStep := int64(0), false
	err := fields(b, func(num protowire.Number, wt protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && wt == protowire.BytesType:
			// History keys are flat: a nested key is joined with ".".
			return rd.item(v, false)
		case num == 2 && wt == protowire.BytesType:
			hasStep = true
			return fields(v, func(num protowire.Number, wt protowire.Type, _ []byte, x uint64) error {
				if num == 1 && wt == protowire.VarintType {
					step = int64(x)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	row := int64(rd.info.HistoryRows)
	rd.info.HistoryRows++
	rd.names = rd.names[:0]
	for i := range rd.items {
		it := &rd.items[i]
		key := rd.key(it)
		hv, ok := rd.histVals[string(key)] // no allocation: map index by string(bytes)
		if !ok {
			hv = &historyValue{name: string(key)}
			rd.histVals[hv.name] = hv
		}
		hv.raw = append(hv.raw[:0], it.value...)
		rd.names = append(rd.names, hv.name)
	}
	if rd.opts.History == nil {
		return nil
	}
	if !hasStep {
		step = row
		for i := range rd.items {
			if string(rd.key(&rd.items[i])) == "_step" {
				if s, ok := parseStep(rd.items[i].value); ok {
					step = s
				}
				break
			}
		}
	}
	for i := range rd.items {
		it := &rd.items[i]
		rd.opts.History(step, rd.names[i], it.value)
	}
	return nil
}

// parseStep reads a JSON number as an int64 step without allocating in the common case.
func parseStep(b []byte) (int64, bool) {
	var n int64
	neg := false
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return parseStepFloat(b)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return parseStepFloat(b)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func parseStepFloat(b []byte) (int64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// path returns the nested path of an item with a multi-element nested_key, nil otherwise.
func (rd *recordReader) path(it *decodedItem) []string {
	if it.pathLen < 2 {
		return nil
	}
	return rd.pathBuf[it.pathStart : it.pathStart+it.pathLen]
}

// itemWithPath decodes an item and, for a multi-element nested_key, records its elements.
func (rd *recordReader) itemWithPath(b []byte, remove bool) error {
	if err := rd.item(b, remove); err != nil {
		return err
	}
	it := &rd.items[len(rd.items)-1]
	if it.pathLen < 2 {
		return nil
	}
	// Rare: a multi-element nested key sets a nested summary/config entry, so its elements
	// are kept as strings (splitting the joined key would break on elements holding ".").
	it.pathStart = len(rd.pathBuf)
	err := fields(b, func(num protowire.Number, wt protowire.Type, v []byte, _ uint64) error {
		if num == 2 && wt == protowire.BytesType {
			rd.pathBuf = append(rd.pathBuf, string(v))
		}
		return nil
	})
	it.pathLen = len(rd.pathBuf) - it.pathStart
	return err
}

// valueRecord handles a SummaryRecord or ConfigRecord: update=1, remove=2. Within a record the
// updates apply before the removes.
func (rd *recordReader) valueRecord(set *opSet, b []byte) error {
	rd.resetItems()
	err := fields(b, func(num protowire.Number, wt protowire.Type, v []byte, _ uint64) error {
		if wt == protowire.BytesType && (num == 1 || num == 2) {
			return rd.itemWithPath(v, num == 2)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, remove := range []bool{false, true} {
		for i := range rd.items {
			it := &rd.items[i]
			if it.remove != remove {
				continue
			}
			rd.seq++
			if remove {
				set.remove(rd.key(it), rd.path(it), rd.seq)
			} else {
				set.set(rd.key(it), rd.path(it), it.value, rd.seq)
			}
		}
	}
	return nil
}

// run handles a RunRecord. The first one starts the run; later ones are updates and change a
// field only when they carry a value.
func (rd *recordReader) run(b []byte) error {
	first := !rd.runSeen
	rd.runSeen = true
	var tags []string
	setStr := func(dst *string, v []byte) {
		if len(v) > 0 {
			*dst = string(v)
		}
	}
	err := fields(b, func(num protowire.Number, wt protowire.Type, v []byte, _ uint64) error {
		if wt != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			if first || rd.info.RunID == "" {
				setStr(&rd.info.RunID, v)
			}
		case 2:
			setStr(&rd.info.Entity, v)
		case 3:
			setStr(&rd.info.Project, v)
		case 4:
			return rd.valueRecord(&rd.config, v)
		case 5:
			return rd.valueRecord(&rd.summary, v)
		case 6:
			setStr(&rd.info.Group, v)
		case 7:
			setStr(&rd.info.JobType, v)
		case 8:
			setStr(&rd.info.Name, v)
		case 10:
			tags = append(tags, string(v))
		case 17:
			if rd.info.StartTime.IsZero() {
				t, err := timestamp(v)
				if err != nil {
					return err
				}
				rd.info.StartTime = t
			}
		case 19:
			return rd.telemetry(v)
		}
		return nil
	})
	if len(tags) > 0 {
		rd.info.Tags = tags
	}
	return err
}

// timestamp decodes a google.protobuf.Timestamp{seconds=1, nanos=2} as UTC.
func timestamp(b []byte) (time.Time, error) {
	var sec, nsec int64
	err := fields(b, func(num protowire.Number, wt protowire.Type, _ []byte, x uint64) error {
		if wt == protowire.VarintType {
			switch num {
			case 1:
				sec = int64(x)
			case 2:
				nsec = int64(int32(x))
			}
		}
		return nil
	})
	if err != nil || (sec == 0 && nsec == 0) {
		return time.Time{}, err
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// exit handles a RunExitRecord: exit_code=1, runtime=2 (int32 seconds).
func (rd *recordReader) exit(b []byte) error {
	code, runtime := 0, 0
	err := fields(b, func(num protowire.Number, wt protowire.Type, _ []byte, x uint64) error {
		if wt == protowire.VarintType {
			switch num {
			case 1:
				code = int(int32(x))
			case 2:
				runtime = int(int32(x))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rd.info.Finished = true
	rd.info.ExitCode = &code
	rd.info.RuntimeS = &runtime
	return nil
}

// telemetry handles a TelemetryRecord: cli_version=5.
func (rd *recordReader) telemetry(b []byte) error {
	return fields(b, func(num protowire.Number, wt protowire.Type, v []byte, _ uint64) error {
		if num == 5 && wt == protowire.BytesType && rd.info.WandbVersion == "" && len(v) > 0 {
			rd.info.WandbVersion = string(v)
		}
		return nil
	})
}

// metric handles a MetricRecord: name=1, goal=8.
func (rd *recordReader) metric(b []byte) error {
	var name []byte
	goal := GoalUnset
	err := fields(b, func(num protowire.Number, wt protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && wt == protowire.BytesType:
			name = v
		case num == 8 && wt == protowire.VarintType:
			goal = Goal(x)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(name) == 0 || (goal != GoalMinimize && goal != GoalMaximize) {
		return nil
	}
	if rd.metrics == nil {
		rd.metrics = make(map[string]Goal)
	}
	rd.metrics[string(name)] = goal
	return nil
}

// finish builds the Info from what was read.
func (rd *recordReader) finish() *Info {
	info := rd.info
	info.Records = make(map[string]int)
	for t, n := range rd.counts {
		if n > 0 {
			info.Records[typeNames[t]] = n
		}
	}
	// The summary W&B shows: the last value of every history key, then the summary records'
	// updates and removes in file order.
	info.HistoryKeys = make([]string, 0, len(rd.histVals))
	base := make(map[string]any, len(rd.histVals))
	for name, hv := range rd.histVals {
		info.HistoryKeys = append(info.HistoryKeys, name)
		base[name] = parseOrText(hv.raw)
	}
	slices.Sort(info.HistoryKeys)
	info.Summary = rd.summary.build(base)
	info.Config = rd.config.build(make(map[string]any))
	info.Metrics = rd.metrics
	return &info
}
