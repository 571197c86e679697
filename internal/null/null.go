// Package null holds JSON types for values that may be absent: runner's
// --json outputs write an absent value as null, never as "" that looks like
// data (README "Output").
package null

import "encoding/json"

// String is a string that is null in JSON when empty.
type String string

// MarshalJSON writes null for "".
func (s String) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// UnmarshalJSON reads a string or null (as "").
func (s *String) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = String(v)
	return nil
}
