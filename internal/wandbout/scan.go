package wandbout

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

const (
	tailBytes    = 4 << 10  // Output keeps this much of the end of the output
	maxLine      = 64 << 10 // longer "lines" (no newline) are analysed in pieces
	redactMargin = 1 << 10  // bytes kept past a piece: more than any key with its label
)

var (
	uploadURLBeta   = regexp.MustCompile(`View run(?: .*)? at (\S+)\s*$`)
	uploadURLLegacy = regexp.MustCompile(`Syncing: (https?://\S+) \.\.\.`)
	// An exception line of a Python traceback, e.g. "requests.exceptions.ConnectionError: ...".
	uploadTraceback = regexp.MustCompile(`^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b`)
	// Python's OSError family ("[Errno 13] Permission denied: '/x'") is about
	// local files, never about the server.
	uploadOSError = regexp.MustCompile(`\[Errno \d+\]`)
	// Quoted strings and words with a slash are paths or URLs: a dir called
	// "forbidden" or "timeout" says nothing about the server.
	uploadQuoted   = regexp.MustCompile(`'[^']*'|"[^"]*"`)
	uploadPathWord = regexp.MustCompile(`\S*[/\\]\S*`)
)

// Scan reads the wandb sync CLI's output line by line: it keeps a redacted tail and the facts the
// classification needs, so memory stays bounded however long the CLI talks.
type Scan struct {
	secrets []string
	// buf is Consume's read buffer, made there when nil; a caller that
	// scans many outputs (the fuzz target) lends one.
	buf []byte

	tail      []byte
	url       string
	errorLine string // first `wandb: ERROR` line (other than the debug-log pointer)
	fatal     bool   // partial upload reported although the marker may be written
	auth      string // first diagnostic line that names a credential problem
	// Per run id (the last part of a line's [label], or of a legacy
	// "Syncing: URL" line): finished syncing, and its own error line.
	finished map[string]bool
	runErr   map[string]string
	runFatal map[string]bool
	runURL   map[string]string
	labelled bool // beta output: runs are named by [label]
	// first diagnostic line saying a .synced marker could not be written
	markerDenied string
	transient    string // first diagnostic line that names a retryable problem
	skipped      bool   // "Skipped N synced run(s)": the CLI left runs out as synced
	diag         string // first diagnostic line of any kind
	last         string // last non-empty line
}

// NewScan is a scan that redacts secrets from what it keeps; buf, when
// not nil, is its read buffer.
func NewScan(secrets []string, buf []byte) *Scan {
	return &Scan{secrets: secrets, buf: buf}
}

// Consume reads r to its end or first error.
func (s *Scan) Consume(r io.Reader) {
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	buf := s.buf
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		start := 0
		for {
			i := bytes.IndexByte(pending[start:], '\n')
			if i < 0 {
				break
			}
			s.line(string(pending[start : start+i]))
			start += i + 1
		}
		pending = pending[:copy(pending, pending[start:])]
		for len(pending) > maxLine+redactMargin {
			// A line without end is analysed in pieces. The buffer is
			// redacted whole before it is cut: a key that crosses the cut
			// is complete in it (the margin is longer than any key and its
			// label), so no piece holds a part of one.
			red := []byte(Redact(string(pending), s.secrets...))
			s.line(string(red[:maxLine]))
			pending = append(pending[:0], red[maxLine:]...)
		}
		if err != nil {
			break
		}
	}
	if len(pending) > 0 {
		s.line(string(pending))
	}
}

func (s *Scan) line(raw string) {
	line := strings.TrimRight(Redact(raw, s.secrets...), "\r")
	s.tail = append(s.tail, line...)
	s.tail = append(s.tail, '\n')
	if len(s.tail) > 2*tailBytes {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-tailBytes:]...)
	}
	text := strings.TrimSpace(line)
	if text == "" {
		return
	}
	s.last = text
	if m := uploadURLBeta.FindStringSubmatch(text); m != nil {
		s.url = m[1]
	} else if m := uploadURLLegacy.FindStringSubmatch(text); m != nil {
		s.url = m[1]
	}
	if strings.Contains(text, "Fatal error while uploading data") || strings.Contains(text, "Dropped streaming file chunk") {
		s.fatal = true
	}
	s.attribute(text)
	if uploadSkipped.MatchString(text) {
		s.skipped = true
	}
	isError := strings.Contains(text, "wandb: ERROR")
	if strings.Contains(text, "Find detailed error logs at") {
		return // a path, not a cause; the real message follows
	}
	if isError && s.errorLine == "" {
		s.errorLine = text
	}
	if !isError && !strings.HasPrefix(text, "Error:") && !strings.HasPrefix(text, "wandb: WARNING") &&
		!strings.Contains(text, "Network error") && !traceback(text) {
		return // progress and status lines may quote run names; only diagnostics are classified
	}
	if s.diag == "" {
		s.diag = text
	}
	if s.markerDenied == "" && strings.Contains(text, ".wandb.synced") && MarkerDenied.MatchString(text) {
		s.markerDenied = text
	}
	// Classify what the CLI says, not the paths it quotes (docs/design.md
	// "Upload outcomes").
	said := serverWords(text)
	if s.auth == "" && Auth.MatchString(said) && !FSDenied.MatchString(text) && !uploadOSError.MatchString(text) {
		s.auth = text
	}
	if s.transient == "" && Transient.MatchString(said) {
		s.transient = text
	}
}

var (
	// "wandb: [entity/project/id] ..." and "wandb: ERROR [label] ...": a line about one run.
	uploadLabelled = regexp.MustCompile(`^wandb: (ERROR )?\[([^\]]+)\] (.*)$`)
	// legacy: "Syncing: https://host/entity/project/runs/<id> ... done."
	uploadSkipped   = regexp.MustCompile(`^(wandb: )?Skipped [1-9]\d* synced run`)
	uploadLegacyRun = regexp.MustCompile(`Syncing: https?://\S+/runs/([^/\s]+) \.\.\.(.*)$`)
)

// attribute records what a line says about one run of the call.
func (s *Scan) attribute(text string) {
	if m := uploadLabelled.FindStringSubmatch(text); m != nil {
		label, rest := m[2], m[3]
		id := label[strings.LastIndexByte(label, '/')+1:]
		s.labelled = true
		switch {
		case strings.Contains(rest, "Fatal error while uploading data"):
			put(&s.runFatal, id, true)
			if s.runErr[id] == "" {
				put(&s.runErr, id, text)
			}
		case m[1] != "" && s.runErr[id] == "":
			put(&s.runErr, id, text)
		case strings.HasPrefix(rest, "Finished syncing"):
			put(&s.finished, id, true)
		}
		if u := uploadURLBeta.FindStringSubmatch(rest); u != nil {
			put(&s.runURL, id, u[1])
		}
		return
	}
	if m := uploadLegacyRun.FindStringSubmatch(text); m != nil {
		id, rest := m[1], m[2]
		if u := uploadURLLegacy.FindStringSubmatch(text); u != nil {
			put(&s.runURL, id, u[1])
		}
		switch {
		case strings.Contains(rest, "wandb: ERROR"):
			put(&s.runErr, id, text)
		case strings.Contains(rest, "done."):
			put(&s.finished, id, true)
		}
	}
}

// put sets m[k], making the map on the first write: most outputs name
// no run, and four maps made for each were a tenth of the scan's time.
func put[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}

// serverWords is a CLI line without its quoted strings and path-like words.
// (A line without a quote or slash has none: most lines skip the regexps.)
func serverWords(text string) string {
	if strings.ContainsAny(text, `'"`) {
		text = uploadQuoted.ReplaceAllString(text, "")
	}
	if strings.ContainsAny(text, `/\`) {
		text = uploadPathWord.ReplaceAllString(text, "")
	}
	return text
}

// traceback is uploadTraceback.MatchString, skipped for a line without
// any of the words it ends in.
func traceback(text string) bool {
	return (strings.Contains(text, "Error") || strings.Contains(text, "Exception") || strings.Contains(text, "Interrupt")) &&
		uploadTraceback.MatchString(text)
}

// Output is the redacted end of the output, at most 4 KiB, from the
// start of a rune.
func (s *Scan) Output() string {
	t := s.tail
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes:]
		for len(t) > 0 && !utf8.RuneStart(t[0]) {
			t = t[1:]
		}
	}
	return string(t)
}

// URL is the last run URL the output printed, or "".
func (s *Scan) URL() string { return s.url }

// Clean reports that the output has no error line and no report of a
// partial upload.
func (s *Scan) Clean() bool { return s.errorLine == "" && !s.fatal }

// Finished reports that the CLI said it finished syncing run id.
func (s *Scan) Finished(id string) bool { return s.finished[id] }

// MarkerDenied is the first diagnostic line saying a .synced marker
// could not be written, or "".
func (s *Scan) MarkerDenied() string { return s.markerDenied }

// Run is what the output said about run id of a batched call.
type Run struct {
	// Err is the run's own error line, shortened; "" when none.
	Err string
	// Outcome is what Err means: OutcomeTransient for a partial upload or a
	// retryable problem, else OutcomeOther.
	Outcome Outcome
	URL     string
}

// Run is what the output said about run id.
func (s *Scan) Run(id string) Run {
	r := Run{URL: s.runURL[id]}
	if line := s.runErr[id]; line != "" {
		r.Err, r.Outcome = Shorten(line), OutcomeOther
		if s.runFatal[id] || Transient.MatchString(serverWords(line)) {
			r.Outcome = OutcomeTransient
		}
	}
	return r
}
