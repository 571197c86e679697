package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// stateSQLHome is where the SQL that writes each entity's state lives: the
// file of its transition table (docs/design.md "States").
var stateSQLHome = map[string]string{"runs": "runstate.go", "jobs": "jobstate.go"}

var (
	updateSet   = regexp.MustCompile(`(?is)\bUPDATE\s+(runs|jobs)\s+SET\s+(.*)`)
	setsState   = regexp.MustCompile(`(?i)(^|[\s,])state\s*=`)
	whereClause = regexp.MustCompile(`(?i)\bWHERE\b`)
)

// writesState reports the table whose state column the SQL text sets.
func writesState(sql string) (table string, ok bool) {
	m := updateSet.FindStringSubmatch(sql)
	if m == nil {
		return "", false
	}
	set := m[2]
	if loc := whereClause.FindStringIndex(set); loc != nil {
		set = set[:loc[0]]
	}
	return strings.ToLower(m[1]), setsState.MatchString(set)
}

func TestWritesState(t *testing.T) {
	for _, c := range []struct {
		sql   string
		table string
		ok    bool
	}{
		{"UPDATE runs SET state = ?, updated_at = ?", "runs", true},
		{"update jobs set reason = ?, state = ? where id = ?", "jobs", true},
		{"UPDATE jobs SET held = 1 WHERE state = 'queued'", "jobs", false},
		{"UPDATE runs SET last_state = ? WHERE dir = ?", "runs", false},
		{"SELECT state FROM runs", "", false},
	} {
		table, ok := writesState(c.sql)
		if ok != c.ok || (ok && table != c.table) {
			t.Errorf("writesState(%q) = %q, %v; want %q, %v", c.sql, table, ok, c.table, c.ok)
		}
	}
}

// TestStateSQLInOnePlace: a state changes only through its transition table,
// so the SQL that writes runs.state or jobs.state is written in that table's
// file and nowhere else in the package.
func TestStateSQLInOnePlace(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			table, writes := writesState(s)
			if !writes {
				return true
			}
			found[table]++
			if home := stateSQLHome[table]; name != home {
				t.Errorf("%s: SQL that writes %s.state belongs in %s (beside the transition table): %.60q",
					fset.Position(lit.Pos()), table, home, s)
			}
			return true
		})
	}
	// The scan must see the statements it guards, or it proves nothing.
	for table := range stateSQLHome {
		if found[table] == 0 {
			t.Errorf("no SQL writing %s.state found at all: the scan is broken", table)
		}
	}
}
