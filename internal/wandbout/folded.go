// Package wandbout is what runner looks for in the wandb CLI's output:
// the case-insensitive patterns of the upload classifier and of key
// redaction, each behind a filter on its leading literals (Folded). It is
// a leaf, apart from sync (which imports the ledger), so that
// FuzzFoldedRegexp's binary holds no SQLite: the fuzzing engine's work per
// input grows with the coverage counters of every package in the binary
// (docs/benchmarks.md).
package wandbout

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Folded is a case-insensitive regexp whose every match begins with
// one of a few literals: a string that, lower-cased, holds none of them
// cannot match, and is answered without running the regexp. The upload
// classifier's (?i) alternations were most of its time (and of its
// fuzzer's), on lines that match none of them.
type Folded struct {
	*regexp.Regexp
	needles []string // lower case; nil: no filter
}

func mustFold(pattern string) Folded {
	f := Folded{Regexp: regexp.MustCompile(pattern)}
	t, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	if needles, ok := leadLiterals(t.Simplify()); ok {
		f.needles = needles
	}
	return f
}

// leadLiterals returns literals one of which every match of t begins
// with, lower-cased; ok is false when t has no such set (a class, an
// optional or a non-ASCII literal first).
func leadLiterals(t *syntax.Regexp) (needles []string, ok bool) {
	switch t.Op {
	case syntax.OpLiteral:
		s := string(t.Rune)
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return nil, false
			}
		}
		return []string{strings.ToLower(s)}, true
	case syntax.OpCapture:
		return leadLiterals(t.Sub[0])
	case syntax.OpConcat:
		subs := t.Sub
		for len(subs) > 0 {
			switch subs[0].Op {
			case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpEmptyMatch:
				subs = subs[1:] // matches no text: the literal comes after it
				continue
			}
			break
		}
		if len(subs) == 0 {
			return nil, false
		}
		first, ok := leadLiterals(subs[0])
		if !ok || subs[0].Op != syntax.OpLiteral || len(subs) == 1 {
			return first, ok
		}
		// A factored alternation, "n(?:etwork error|o such host)": the
		// literal runs on into each branch's.
		next, ok := leadLiterals(subs[1])
		if !ok {
			return first, true
		}
		for i := range next {
			next[i] = first[0] + next[i]
		}
		return next, true
	case syntax.OpAlternate:
		for _, sub := range t.Sub {
			l, ok := leadLiterals(sub)
			if !ok {
				return nil, false
			}
			needles = append(needles, l...)
		}
		return needles, true
	}
	return nil, false
}

// may reports whether s may match: false only when it cannot.
func (f Folded) may(s string) bool {
	if f.needles == nil {
		return true
	}
	lower := s
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			lower = strings.Map(foldASCII, s)
			break
		}
	}
	if lower == s {
		lower = strings.ToLower(s) // ASCII: no allocation without upper case
	}
	for _, n := range f.needles {
		if strings.Contains(lower, n) {
			return true
		}
	}
	return false
}

// foldASCII lower-cases r as far as (?i) matches it with an ASCII
// letter: A-Z, and the two runes outside ASCII that fold to one, ſ to s
// and the Kelvin sign to k. Any other rune matches no ASCII needle as is.
func foldASCII(r rune) rune {
	switch {
	case 'A' <= r && r <= 'Z':
		return r + 'a' - 'A'
	case r == 'ſ':
		return 's'
	case r == '\u212a':
		return 'k'
	}
	return r
}

func (f Folded) MatchString(s string) bool { return f.may(s) && f.Regexp.MatchString(s) }

func (f Folded) ReplaceAllString(src, repl string) string {
	if !f.may(src) {
		return src
	}
	return f.Regexp.ReplaceAllString(src, repl)
}
