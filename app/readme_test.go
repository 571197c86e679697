package app

import (
	"flag"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's Commands table from the CLI")

const (
	readmePath     = "../README.md"
	commandsBegin  = "<!-- commands:begin (go test ./app -run TestREADME -update-readme) -->"
	commandsEnd    = "<!-- commands:end -->"
	commandsHeader = "| Command | What it does | Flags |\n|---|---|---|\n"
)

// commandRows renders one table row per visible command (subcommands under
// their parent), in the order `runner help` lists them, with every visible
// flag: README's Commands table is this, so it can never miss one.
func commandRows(prefix string, cmds []*cli.Command) []string {
	var rows []string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		name := strings.TrimSpace(prefix + " " + c.Name)
		use := "`runner " + name
		if c.ArgsUsage != "" {
			use += " " + c.ArgsUsage
		}
		use = strings.ReplaceAll(use, "|", "\\|") + "`"
		var flags []string
		for _, f := range c.Flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			names := f.Names()
			s := "`--" + names[0] + "`"
			if len(names[0]) == 1 {
				s = "`-" + names[0] + "`"
			}
			for _, a := range names[1:] {
				if len(a) == 1 {
					s += " (`-" + a + "`)"
				}
			}
			flags = append(flags, s)
		}
		what := strings.ReplaceAll(c.Usage, "|", "\\|")
		rows = append(rows, "| "+use+" | "+what+" | "+strings.Join(flags, ", ")+" |")
		rows = append(rows, commandRows(name, c.Subcommands)...)
	}
	return rows
}

func commandsTable(a *cli.App) string {
	return commandsHeader + strings.Join(commandRows("", a.Commands), "\n") + "\n"
}

// TestREADMECommandsTable keeps README's Commands table equal to the CLI:
// every command `runner help` lists is in it with all its flags.
func TestREADMECommandsTable(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, commandsBegin), strings.Index(readme, commandsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", commandsBegin, commandsEnd)
	}
	want := commandsTable(New(Env{}))
	got := readme[i+len(commandsBegin)+1 : j]
	if got == want {
		return
	}
	if *updateReadme {
		readme = readme[:i+len(commandsBegin)+1] + want + readme[j:]
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotRows, wantRows := strings.Split(got, "\n"), strings.Split(want, "\n")
	for k := 0; k < len(wantRows) || k < len(gotRows); k++ {
		var g, w string
		if k < len(gotRows) {
			g = gotRows[k]
		}
		if k < len(wantRows) {
			w = wantRows[k]
		}
		if g != w {
			t.Fatalf("README.md's Commands table differs from the CLI at row %d:\n README: %s\n    CLI: %s\nrun: go test ./app -run TestREADME -update-readme", k+1, g, w)
		}
	}
}

// foreignFlags are flags of other programs that the README and docs quote
// (wandb, sbatch, systemd, go, chromium ...), not runner's.
var foreignFlags = map[string]bool{
	"include-synced": true, "update": true, "update-readme": true, // wandb sync, go test
	"lr": true, "ckpt": true, "epochs": true, // a training script's own arguments
	"export": true, "parsable": true, "parsable2": true, "gres": true, "time": true, "dependency": true,
	"job-name": true, "chdir": true, "cpus-per-task": true, // sbatch, squeue
	"accounting": true, "min-job-age": true, // deploy/slurm/testcluster
	"now": true, "collect": true, "offline": true, // systemctl, systemd-run, systemd-analyze
}

// TestREADMEFlagsExist: a flag the README or docs/ tell a user to type is a
// flag of some runner command (or of a program named in foreignFlags).
func TestREADMEFlagsExist(t *testing.T) {
	known := map[string]bool{}
	var walk func([]cli.Flag, []*cli.Command)
	walk = func(fs []cli.Flag, cmds []*cli.Command) {
		for _, f := range fs {
			for _, n := range f.Names() {
				known[n] = true
			}
		}
		for _, c := range cmds {
			walk(c.Flags, c.Subcommands)
		}
	}
	a := New(Env{})
	walk(a.Flags, a.Commands)
	files := []string{readmePath}
	docs, _ := os.ReadDir("../docs")
	for _, d := range docs {
		if strings.HasSuffix(d.Name(), ".md") && d.Name() != "design.md" {
			files = append(files, "../docs/"+d.Name())
		}
	}
	re := regexp.MustCompile("(?:^|[\\s`(\\[|])--([a-z][a-z0-9-]*[a-z0-9])")
	var missing []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(raw), "\n") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				if !known[m[1]] && !foreignFlags[m[1]] {
					missing = append(missing, f[3:]+":"+strconv.Itoa(n+1)+": --"+m[1])
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("flags in the docs that no runner command has:\n%s", strings.Join(missing, "\n"))
	}
}
