package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
)

// fullRun is a ledger.Run with every field that RunOf can read set, its
// strings s: a field of Run that appendRun leaves out, or writes from
// another field, prints differently from encoding/json.
func fullRun(s string) ledger.Run {
	var r ledger.Run
	fill(reflect.ValueOf(&r).Elem(), s)
	return r
}

func fill(v reflect.Value, s string) {
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Struct:
			if f.Type() == reflect.TypeFor[time.Time]() {
				f.Set(reflect.ValueOf(time.UnixMilli(int64(i) * 7e10).In(time.FixedZone("x", 3600))))
			} else {
				fill(f, s)
			}
		case reflect.String:
			f.SetString(s + "-" + name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(-int64(i) * 1e9)
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			if p.Elem().Type() == reflect.TypeFor[time.Time]() {
				p.Elem().Set(reflect.ValueOf(time.UnixMilli(int64(i) * 9e10)))
			} else if p.Elem().CanInt() {
				p.Elem().SetInt(int64(i) << 40)
			}
			f.Set(p)
		}
	}
}

// runs --json encodes a run without reflection; it must print the bytes
// encoding/json prints for RunOf of it: every field (a field added to Run
// and not to appendRun fails here), nulls, and strings that need escaping.
func TestRunJSONIsEncodingJSON(t *testing.T) {
	zeroTimes := fullRun("z")
	zero := time.Time{}
	zeroTimes.StartTime, zeroTimes.NextAttemptAt, zeroTimes.SyncedAt = &zero, nil, &zero
	for _, tc := range []struct {
		name string
		run  ledger.Run
	}{
		{"zero", ledger.Run{}},
		{"every field", fullRun("x")},
		{"escapes", fullRun("a\"b\\c\n\r\t\b\f\x00\x1f\x7f <tag> & \u2028\u2029 é λ 😀 \xff\xfe bad\xc3")},
		{"a few set", ledger.Run{Dir: "/w/offline-run-1", State: "synced", Size: 1 << 40, Attempts: 3}},
		{"zero and unset times", zeroTimes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.MarshalIndent(RunOf(tc.run), "  ", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got := appendRun(nil, &tc.run, "  "); string(got) != string(want) {
				t.Errorf("appendRun:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}
