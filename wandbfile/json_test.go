package wandbfile

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`1`, 1.0},
		{` -2.5e3 `, -2500.0},
		{`1e999`, math.Inf(1)},
		{`"a\"b\u00e9\ud83d\ude00"`, "a\"bé😀"},
		{`true`, true},
		{`null`, nil},
		{`Infinity`, math.Inf(1)},
		{`-Infinity`, math.Inf(-1)},
		{`[1, NaN, -Infinity, "x"]`, []any{1.0, math.NaN(), math.Inf(-1), "x"}},
		{`{"value": NaN, "desc": null, "n": {"k": [Infinity]}}`,
			map[string]any{"value": math.NaN(), "desc": nil, "n": map[string]any{"k": []any{math.Inf(1)}}}},
		{`{}`, map[string]any{}},
		{`[]`, []any{}},
	}
	for _, tt := range tests {
		got, err := ParseValue([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseValue(%s): %v", tt.in, err)
			continue
		}
		// Compare through MarshalValue so that NaN equals NaN.
		g, _ := MarshalValue(got)
		w, _ := MarshalValue(tt.want)
		if string(g) != string(w) || reflect.TypeOf(got) != reflect.TypeOf(tt.want) {
			t.Errorf("ParseValue(%s) = %s (%T), want %s (%T)", tt.in, g, got, w, tt.want)
		}
	}
}

func TestParseValueRejects(t *testing.T) {
	for _, in := range []string{``, `nan`, `[1,`, `{"a" 1}`, `{"a":1,}`, `"abc`, `1 2`, `infinity`, `"\x"`,
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000)} {
		if v, err := ParseValue([]byte(in)); err == nil {
			t.Errorf("ParseValue(%.20q) = %v, want an error", in, v)
		}
	}
}

func TestMarshalValue(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{[]any{math.Inf(-1), 1e21, 1e-7, 0.5, 3.0}, `["-Infinity",1e+21,1e-7,0.5,3]`},
		{map[string]any{"b": 1.0, "a": "x\n\"<>\xff"}, `{"a":"x\n\"<>\ufffd","b":1}`},
		{nil, `null`},
		{[]string{"a"}, `["a"]`},
	}
	for _, tt := range tests {
		got, err := MarshalValue(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("MarshalValue(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("MarshalValue(%v) wrote invalid JSON %s", tt.in, got)
		}
	}
}

func TestMarshalJSONShape(t *testing.T) {
	code, rt := 2, 30
	tests := []struct {
		name string
		info Info
		want map[string]any
	}{
		{
			name: "nothing known",
			info: Info{},
			want: map[string]any{"tags": []any{}, "history_keys": []any{}, "records": map[string]any{},
				"summary": map[string]any{}, "config": map[string]any{}, "start_time": nil,
				"wandb_version": nil, "exit_code": nil, "runtime_s": nil, "error": nil},
		},
		{
			name: "finished with an error",
			info: Info{ExitCode: &code, RuntimeS: &rt, Finished: true, WandbVersion: "0.23.0",
				StartTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)),
				Err:       &ReadError{Offset: 32768, Reason: "checksum mismatch"},
				Summary:   map[string]any{"loss": math.NaN()}},
			want: map[string]any{"exit_code": 2.0, "runtime_s": 30.0, "finished": true, "wandb_version": "0.23.0",
				"start_time": "2025-01-02T02:04:05Z", "error": map[string]any{"offset": 32768.0, "reason": "checksum mismatch"},
				"summary": map[string]any{"loss": "NaN"}},
		},
	}
	keys := []string{"path", "run_id", "project", "entity", "name", "group", "job_type", "tags", "start_time",
		"wandb_version", "finished", "exit_code", "runtime_s", "records", "history_rows", "history_keys", "summary",
		"config", "torn_tail", "error", "header_version", "footer", "shifted", "size", "good_offset"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.info.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", b, err)
			}
			if len(got) != len(keys) {
				t.Errorf("%d keys, want %d: %s", len(got), len(keys), b)
			}
			for _, k := range keys {
				if _, ok := got[k]; !ok {
					t.Errorf("key %q missing: %s", k, b)
				}
			}
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}
