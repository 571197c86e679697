package ledger_test

import (
	"database/sql"
	"math"
	"strconv"
	"testing"

	"github.com/runnerhq/runner/internal/jsonarray"
	"github.com/runnerhq/runner/internal/jsonarray/jsonarraytest"
)

// SQLite's json_array writes a TEXT and an INTEGER as jsonarraytest says
// (so FuzzReader in ./internal/jsonarray, which cannot hold SQLite, fuzzes
// the reader against what SQLite writes), and the reader gives back the
// values bound, byte for byte: every single byte, then escapes, emoji,
// invalid UTF-8 and text that only looks like an escape.
func TestJSONArrayIsSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	texts := []string{"", "plain", `a"b\c`, "\x00\x1f\x7f\n\r\t\b\f", "a\x00b", "\xff\xc3 é 😀", "\U0010ffff\u2028\ufffd",
		"\xed\xa0\x80", "\xc3", `\u00e9`, `\ud83d\ude00`, `/\/`, `["x",1,null]`, "null", ","}
	for c := 0; c < 256; c++ {
		texts = append(texts, string([]byte{byte(c)}))
	}
	ints := []int64{0, -1, 1 << 62, -(1 << 62), math.MaxInt64, math.MinInt64}
	for i, s := range texts {
		n := ints[i%len(ints)]
		var row string
		if err := db.QueryRow(`SELECT json_array(CAST(? AS TEXT), ?, NULL)`, s, n).Scan(&row); err != nil {
			t.Fatal(err)
		}
		want := jsonarraytest.AppendText([]byte{'['}, s, nil)
		want = append(strconv.AppendInt(append(want, ','), n, 10), ",null]"...)
		if row != string(want) {
			t.Errorf("json_array(%q, %d, NULL) is %q; jsonarraytest writes %q", s, n, row, want)
		}
		a := jsonarray.NewReader(row)
		got, gotN := a.Text(), a.Int()
		_, notNull := a.NullInt()
		if err := a.Close(); err != nil || got != s || gotN != n || notNull {
			t.Errorf("json_array %q read as %q, %d, a number %v (%v); want %q, %d, null", row, got, gotN, notNull, err, s, n)
		}
	}
}
