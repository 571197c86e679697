package ledger

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// A mapped read maps the file while it runs and gives its connection back
// to the pool unmapped, whether fn succeeds or fails: the next reader (a
// scan of every run) must not count the whole file in its RSS.
func TestMappedReadLeavesThePoolUnmapped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	w, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	db, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.r.SetMaxOpenConns(1) // the next read gets the same connection
	boom := errors.New("boom")
	for _, want := range []error{nil, boom} {
		var inside int64
		err := db.mappedRead(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&inside); err != nil {
				return err
			}
			return want
		})
		if !errors.Is(err, want) {
			t.Fatalf("mappedRead: %v, want %v", err, want)
		}
		var after int64
		if err := db.r.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if inside <= 0 || after != 0 {
			t.Errorf("mmap_size %d inside, %d after; want > 0, then 0", inside, after)
		}
	}
}
