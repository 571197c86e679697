package wandbfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/runnerhq/runner/internal/jsonenc"
	"github.com/runnerhq/runner/internal/null"
)

// maxValueDepth bounds the nesting of a parsed value; W&B values are shallow, and the bound
// keeps hostile input from recursing without limit.
const maxValueDepth = 1000

// ParseValue parses a value_json as wandb writes it: JSON, plus the NaN, Infinity and
// -Infinity literals of Python's json module (anywhere, also inside arrays and objects), which
// become the float64 values. Numbers become float64 and objects map[string]any.
func ParseValue(b []byte) (any, error) {
	p := valueParser{b: b}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, p.errorf("unexpected %q after the value", p.b[p.i])
	}
	return v, nil
}

type valueParser struct {
	b []byte
	i int
}

func (p *valueParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON value at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *valueParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *valueParser) literal(word string, v any) (any, error) {
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return nil, p.errorf("unknown literal")
	}
	p.i += len(word)
	return v, nil
}

func (p *valueParser) value(depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, p.errorf("nested deeper than %d", maxValueDepth)
	}
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == 'N':
		return p.literal("NaN", math.NaN())
	case c == 'I':
		return p.literal("Infinity", math.Inf(1))
	case c == '-' && p.i+1 < len(p.b) && p.b[p.i+1] == 'I':
		return p.literal("-Infinity", math.Inf(-1))
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *valueParser) number() (any, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil {
		// Out of range: Python reads 1e999 as inf too.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil
		}
		p.i = start
		return nil, p.errorf("bad number %q", p.b[start:min(len(p.b), start+32)])
	}
	return f, nil
}

func (p *valueParser) string() (string, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		case '\\':
			return p.escapedString(start)
		}
		p.i++
	}
	return "", p.errorf("unterminated string")
}

func (p *valueParser) escapedString(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch c {
		case '"':
			p.i++
			return string(out), nil
		case '\\':
			if p.i+1 >= len(p.b) {
				return "", p.errorf("unterminated escape")
			}
			e := p.b[p.i+1]
			p.i += 2
			if c, ok := jsonenc.Unescape(e); ok {
				out = append(out, c)
				continue
			}
			switch e {
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errorf("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						var ok2 bool
						if r2, ok2 = p.hex4(); !ok2 {
							p.i = save
							r2 = -1
						}
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", p.errorf("bad escape \\%c", e)
			}
		default:
			out = append(out, c)
			p.i++
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *valueParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

func (p *valueParser) array(depth int) (any, error) {
	p.i++
	out := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return out, nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return out, nil
		default:
			return nil, p.errorf("expected , or ] in array")
		}
	}
}

func (p *valueParser) object(depth int) (any, error) {
	p.i++
	out := map[string]any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("expected a string key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("expected : after key")
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[k] = v
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, p.errorf("expected , or } in object")
		}
	}
}

// MarshalValue writes v as JSON with object keys sorted, writing the non-finite floats as the
// strings "NaN", "Infinity" and "-Infinity" (plain JSON has no literal for them).
func MarshalValue(v any) ([]byte, error) {
	return appendValue(nil, v, 0)
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("marshal value: nested deeper than %d", maxValueDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		return appendFloat(b, x), nil
	case float32:
		return appendFloat(b, float64(x)), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case string:
		return appendString(b, x), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("marshal value: %w", err)
		}
		return append(b, j...), nil
	}
}

// appendFloat formats like encoding/json, with the non-finite values as strings.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string; invalid UTF-8 becomes U+FFFD as in encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

type infoJSON struct {
	Path          string          `json:"path"`
	RunID         null.String     `json:"run_id"`
	Project       null.String     `json:"project"`
	Entity        null.String     `json:"entity"`
	Name          null.String     `json:"name"`
	Group         null.String     `json:"group"`
	JobType       null.String     `json:"job_type"`
	Tags          []string        `json:"tags"`
	StartTime     *string         `json:"start_time"`
	WandbVersion  *string         `json:"wandb_version"`
	Finished      bool            `json:"finished"`
	ExitCode      *int            `json:"exit_code"`
	RuntimeS      *int            `json:"runtime_s"`
	Records       map[string]int  `json:"records"`
	HistoryRows   int             `json:"history_rows"`
	HistoryKeys   []string        `json:"history_keys"`
	Summary       json.RawMessage `json:"summary"`
	Config        json.RawMessage `json:"config"`
	TornTail      bool            `json:"torn_tail"`
	Error         *readErrorJSON  `json:"error"`
	HeaderVersion int             `json:"header_version"`
	Footer        bool            `json:"footer"`
	Shifted       bool            `json:"shifted"`
	Size          int64           `json:"size"`
	GoodOffset    int64           `json:"good_offset"`
}

// readErrorJSON is the "error" object of the `runner inspect --json` output.
type readErrorJSON struct {
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
}

// MarshalJSON writes the `runner inspect --json` object: snake_case keys, [] and {} rather
// than null for empty lists and objects, null for unknown start time, wandb version, exit code
// and runtime, and non-finite floats as strings.
func (i *Info) MarshalJSON() ([]byte, error) {
	out := infoJSON{
		Path: i.Path, RunID: null.String(i.RunID), Project: null.String(i.Project), Entity: null.String(i.Entity),
		Name: null.String(i.Name), Group: null.String(i.Group), JobType: null.String(i.JobType),
		Tags:     nonNil(i.Tags),
		Finished: i.Finished, ExitCode: i.ExitCode, RuntimeS: i.RuntimeS,
		Records:     i.Records,
		HistoryRows: i.HistoryRows, HistoryKeys: nonNil(i.HistoryKeys),
		TornTail:      i.TornTail,
		HeaderVersion: i.HeaderVersion, Footer: i.Footer, Shifted: i.Shifted,
		Size: i.Size, GoodOffset: i.GoodOffset,
	}
	if out.Records == nil {
		out.Records = map[string]int{}
	}
	if !i.StartTime.IsZero() {
		s := i.StartTime.UTC().Format(time.RFC3339Nano)
		out.StartTime = &s
	}
	if i.WandbVersion != "" {
		out.WandbVersion = &i.WandbVersion
	}
	if i.Err != nil {
		out.Error = &readErrorJSON{Offset: i.Err.Offset, Reason: i.Err.Reason}
	}
	var err error
	if out.Summary, err = marshalObject(i.Summary); err != nil {
		return nil, fmt.Errorf("marshal summary: %w", err)
	}
	if out.Config, err = marshalObject(i.Config); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("marshal info: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func marshalObject(m map[string]any) ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return MarshalValue(m)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
