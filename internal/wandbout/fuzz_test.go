package wandbout

import "testing"

// maxFuzzLine bounds FuzzFoldedRegexp's inputs. The bound loses no case:
// the filter reads its input byte by byte with nothing that depends on
// its length (lower-casing, then a search for each needle), and when it
// passes a line both sides run the same regexp; so a disagreement is a
// match that the filter misses, and the text around the match plays no
// part in that. Every pattern's shortest match is under 64 bytes (a key
// label and 40 key characters). The regexps' cost is linear in the input,
// 20 runs of it per input: the mutator's long inputs were what held the
// fuzzer near 1,000 inputs a second.
const maxFuzzLine = 256

// The literal filter in front of the classifier's case-insensitive
// patterns never changes an answer: what it skips could not match.
func FuzzFoldedRegexp(f *testing.F) {
	for _, s := range []string{"requests.exceptions.ConnectionError: Connection Refused", "HTTP 503", "[Errno 13] x",
		"WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567", "open /x: Permission denied", "ſervice unavailable", "chun\u212a", "no such host"} {
		f.Add(s)
	}
	patterns := []Folded{KeyLabel, MarkerDenied, Auth, FSDenied, Transient}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzLine {
			return
		}
		for _, p := range patterns {
			match := p.Regexp.MatchString(s)
			if got := p.MatchString(s); got != match {
				t.Errorf("%s on %q: filtered %v, regexp %v", p, s, got, match)
			}
			// Where the regexp matches nothing its ReplaceAllString is s
			// itself: comparing with s is comparing with it, without a
			// second run of the regexp on an input most often without a
			// match (the regexps were the fuzzer's time).
			want := s
			if match {
				want = p.Regexp.ReplaceAllString(s, "X")
			}
			if got := p.ReplaceAllString(s, "X"); got != want {
				t.Errorf("%s replacing in %q: filtered %q, regexp %q", p, s, got, want)
			}
		}
	})
}
