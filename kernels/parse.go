package kernels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// valueKind classifies one raw JSON history value.
type valueKind uint8

const (
	kindFinite     valueKind = iota // a finite number
	kindNonFinite                   // NaN, Infinity, -Infinity, or a number too large for float64
	kindNonNumeric                  // strings, objects, arrays, bools, null, garbage
)

// parseValue reads a raw JSON value as W&B writes it in history records.
// W&B (Python's json) writes NaN and infinities as bare NaN, Infinity and
// -Infinity, which strconv.ParseFloat accepts; anything else that is not a
// number is non-numeric. The first byte decides the common non-numeric cases
// without calling the parser, which keeps tables and media cheap to skip.
func parseValue(raw []byte) (float64, valueKind) {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return 0, kindNonNumeric
	}
	switch c := b[0]; {
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') || c == 'N' || c == 'I':
	default:
		return 0, kindNonNumeric
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		// Overflow gives ±Inf with ErrRange; underflow gives a usable
		// (denormal or zero) value with ErrRange.
		if !errors.Is(err, strconv.ErrRange) {
			return 0, kindNonNumeric
		}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v, kindNonFinite
	}
	return v, kindFinite
}

// numeric extracts a finite float from a decoded summary or config value.
// Bools are not numbers here: a true/false flag is not a metric.
func numeric(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		p, err := x.Float64()
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// jsonFloat marshals like float64 except that NaN and ±Inf, which
// encoding/json refuses, become the strings "NaN", "Infinity" and
// "-Infinity" (the spelling W&B itself uses), so a --json listing never
// fails because one robust z-score is infinite.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "NaN":
			*f = jsonFloat(math.NaN())
		case "Infinity":
			*f = jsonFloat(math.Inf(1))
		case "-Infinity":
			*f = jsonFloat(math.Inf(-1))
		default:
			return fmt.Errorf("float %q: want a number, NaN, Infinity or -Infinity", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// internalKey reports whether a history or summary key is one W&B reserves
// for itself (_step, _timestamp, _runtime, _wandb, ...). W&B hides keys with
// a leading underscore in its UI; they are bookkeeping, not metrics.
func internalKey(key string) bool {
	return len(key) > 0 && key[0] == '_'
}
