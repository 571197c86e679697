package ledger

// Schema returns the first n migrations and the application id, for a
// test that makes a ledger as an older runner left it.
func Schema(n int) ([]string, int) { return migrations[:n], applicationID }

// ListingQuery is the query EachRun runs for f, with its arguments.
func ListingQuery(f Filter) (string, []any) {
	q, _, args := runsQuery(f)
	return q, args
}

// SchemaVersion is the schema version of a ledger this runner made.
func SchemaVersion() int { return len(migrations) }
