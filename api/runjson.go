package api

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/runnerhq/runner/ledger"
)

// appendRun appends RunOf(*r) as json.MarshalIndent(RunOf(*r), prefix, "  ")
// writes it, without reflection and without making the Run: encoding/json
// was half the CPU of a listing of every run, and RunOf's pointers and
// time strings an allocation each per field (docs/design.md "Listing a
// large ledger"). The fields are Run's, in its order, with its tags and
// RunOf's values; TestRunJSONIsEncodingJSON holds the two equal.
func appendRun(b []byte, r *ledger.Run, prefix string) []byte {
	e := object{b: append(b, '{'), in: prefix + "  "}
	e.text("run_id", r.RunID)
	e.str("dir", &r.Dir)
	e.text("project", r.Project)
	e.text("entity", r.Entity)
	e.text("name", r.Name)
	e.text("group", r.Group)
	e.text("job_type", r.JobType)
	state := string(r.State)
	e.str("state", &state)
	e.text("reason", r.Reason)
	e.bool("finished", r.Finished)
	e.int("exit_code", intOrNil(r.ExitCode))
	e.bool("torn_tail", r.TornTail)
	e.text("read_error", r.ReadError)
	e.text("wandb_version", r.WandbVersion)
	e.time("start_time", r.StartTime)
	e.int("size", &r.Size)
	n := int64(r.Attempts)
	e.int("attempts", &n)
	e.time("next_attempt_at", r.NextAttemptAt)
	e.text("last_error", r.LastError)
	e.text("url", r.URL)
	e.text("source", r.Source)
	e.time("synced_at", r.SyncedAt)
	e.key("first_seen")
	e.b = appendTime(e.b, r.FirstSeen)
	e.int("job_id", r.JobID)
	return append(append(append(e.b, '\n'), prefix...), '}')
}

func intOrNil(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

// object writes the fields of one indented JSON object; in is the
// indentation of its fields.
type object struct {
	b  []byte
	in string
	n  int
}

func (o *object) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(append(append(append(o.b, '\n'), o.in...), '"'), k...)
	o.b = append(o.b, '"', ':', ' ')
}

func (o *object) str(k string, v *string) {
	o.key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = appendString(o.b, *v)
}

// text writes s as Str(s) encodes: null when empty.
func (o *object) text(k, s string) {
	o.key(k)
	if s == "" {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = appendString(o.b, s)
}

// time writes t as TimePtr(t) encodes: null when unset or zero.
func (o *object) time(k string, t *time.Time) {
	o.key(k)
	if t == nil || t.IsZero() {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = appendTime(o.b, *t)
}

// appendTime appends Time(t) quoted: RFC 3339 has nothing to escape.
func appendTime(b []byte, t time.Time) []byte {
	return append(t.UTC().AppendFormat(append(b, '"'), time.RFC3339), '"')
}

func (o *object) int(k string, v *int64) {
	o.key(k)
	if v == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = strconv.AppendInt(o.b, *v, 10)
}

func (o *object) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as encoding/json quotes a string: HTML
// characters (<, >, &), control characters, U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
