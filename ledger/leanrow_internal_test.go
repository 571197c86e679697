package ledger

import (
	"database/sql"
	"testing"
)

// FuzzLeanRowText: whatever a TEXT column holds, a string and an integer
// read back from SQLite's json_array are the values bound, byte for byte.
func FuzzLeanRowText(f *testing.F) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	for _, s := range []string{"", "plain", `a"b\c`, "\x00\x1f\x7f\n", "\xff\xc3 é 😀", `\u00e9`} {
		f.Add(s, int64(-1))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		var row string
		if err := db.QueryRow(`SELECT json_array(CAST(? AS TEXT), ?, NULL)`, s, n).Scan(&row); err != nil {
			t.Fatal(err)
		}
		a := arrayReader{s: row}
		a.open()
		got, gotN := a.text(), a.int()
		_, notNull := a.nullInt()
		if err := a.close(); err != nil || got != s || gotN != n || notNull {
			t.Errorf("json_array %q read as %q, %d, a number %v (%v); want %q, %d, null", row, got, gotN, notNull, err, s, n)
		}
	})
}
