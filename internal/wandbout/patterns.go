package wandbout

// KeyLabel finds key-shaped tokens after the names W&B tools print them under, so a key
// is hidden even when it is not the one runner passed (one from .netrc, a stale one in a log).
var KeyLabel = mustFold(`(?i)(wandb_api_key\s*[:=]\s*["']?|api_key["']?\s*[:=]?\s*["']?)([\w-]{40,})`)

var (
	// MarkerDenied: the CLI could not write a run's .synced marker (the
	// upload happened).
	MarkerDenied = mustFold(`(?i)permission denied|read-only file system|operation not permitted|` +
		`\[Errno (1|13|30)\]`)

	// Auth names a credential problem.
	Auth = mustFold(`(?i)no api key configured|api key must have|wandb_api_key invalid|` +
		`not logged in|api_key not configured|invalid api key|permission denied|unauthorized|forbidden|` +
		`http 40[13]\b|\[40[13]\]|status(?: code)?[ :=]*40[13]\b`)
	// FSDenied is "permission denied" from the file system, which is not
	// a credential problem.
	FSDenied = mustFold(`(?i)(open|mkdir|stat|lstat|write|read|remove|rename|create)\s+\S+:\s*permission denied`)

	// Transient names a problem a retry may not have: the network, a
	// rate limit, the server.
	Transient = mustFold(`(?i)timed out|timeout|giving up after|dial tcp|connection refused|` +
		`connection reset|connection aborted|network error|no such host|name resolution|max retries exceeded|` +
		`rate limit|too many requests|http 429\b|http 5\d\d\b|\[429\]|\[5\d\d\]|bad gateway|service unavailable|` +
		`cancelled\.|fatal error while uploading data|dropped streaming file chunk`)
)
