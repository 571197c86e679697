package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fullRun is a Run with every field set, its strings s.
func fullRun(s string) Run {
	var r Run
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(-int64(i) * 1e9)
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			switch p.Elem().Kind() {
			case reflect.String:
				p.Elem().SetString(s + "-" + v.Type().Field(i).Name)
			default:
				p.Elem().SetInt(int64(i) << 40)
			}
			f.Set(p)
		}
	}
	return r
}

// runs --json encodes a Run without reflection; it must print the bytes
// encoding/json prints for it: every field (a field added to Run and not
// to appendJSON fails here), null pointers, and strings that need escaping.
func TestRunJSONIsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  Run
	}{
		{"zero", Run{}},
		{"every field", fullRun("x")},
		{"escapes", fullRun("a\"b\\c\n\r\t\b\f\x00\x1f\x7f <tag> & \u2028\u2029 é λ 😀 \xff\xfe bad\xc3")},
		{"a few set", Run{Dir: "/w/offline-run-1", State: "synced", Size: 1 << 40, Attempts: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.MarshalIndent(tc.run, "  ", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.run.appendJSON(nil, "  "); string(got) != string(want) {
				t.Errorf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}

func FuzzRunJSON(f *testing.F) {
	f.Add("plain", "/w/offline-run-1")
	f.Add("<&>\u2028", "\xff\x00\"\\")
	base := fullRun("x") // every field set; the strings the fuzzer's
	f.Fuzz(func(t *testing.T, s, dir string) {
		r := base
		r.Dir, r.State, r.FirstSeen = dir, s, s
		r.RunID, r.Name, r.Reason, r.LastError = &s, &s, &dir, &s
		want, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil, ""); string(got) != string(want) {
			t.Errorf("appendJSON %q, encoding/json %q", got, want)
		}
	})
}
