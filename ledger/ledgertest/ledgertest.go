// Package ledgertest opens ledgers for tests: one call instead of the same
// open, fail and close in every package's tests.
package ledgertest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// Open opens (creating it if need be) the ledger at path with o, fails the
// test if it cannot, and closes it when the test ends. An empty path is a
// new ledger in a directory of the test's own.
func Open(t testing.TB, path string, o ledger.Options) *ledger.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "ledger.db")
	}
	db, err := ledger.Open(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
