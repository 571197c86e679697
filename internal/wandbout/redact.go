package wandbout

import "strings"

// RedactedText replaces every secret Redact removes.
const RedactedText = "[REDACTED]"

// minRedactLen is the shortest literal secret Redact replaces. Shorter strings cannot be valid W&B
// keys (those have 40+ characters), and replacing them would mangle unrelated text.
const minRedactLen = 8

// Redact returns text with each literal secret (8 characters or longer) replaced by RedactedText,
// and with any 40+ character [\w-] token after `WANDB_API_KEY=` or `api_key` replaced too.
func Redact(text string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= minRedactLen {
			text = strings.ReplaceAll(text, s, RedactedText)
		}
	}
	return KeyLabel.ReplaceAllString(text, "${1}"+RedactedText)
}
