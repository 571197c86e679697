// Package secret holds the one rule for which environment variable names
// carry credentials (docs/design.md "Job environment"): such variables never
// go into the ledger, and a job does not inherit them unless asked.
package secret

import "strings"

// EnvName reports whether an environment variable called k looks like a
// credential: WANDB_API_KEY, AWS_SECRET_ACCESS_KEY, HF_TOKEN, PGPASSWORD...
func EnvName(k string) bool {
	u := strings.ToUpper(k)
	return strings.HasSuffix(u, "_KEY") || strings.HasSuffix(u, "_TOKEN") || u == "TOKEN" ||
		strings.Contains(u, "SECRET") || strings.Contains(u, "PASSWORD") || strings.Contains(u, "PASSWD") ||
		strings.Contains(u, "CREDENTIAL") || strings.HasSuffix(u, "_AUTH")
}
