package ledger

// Schema returns the first n migrations and the application id, for a
// test that makes a ledger as an older runner left it.
func Schema(n int) ([]string, int) { return migrations[:n], applicationID }
