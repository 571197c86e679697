package text

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/runnerhq/runner/api"
	"github.com/runnerhq/runner/wandbfile"
)

// Info is `runner inspect`: what one run's log holds.
func Info(w io.Writer, in *wandbfile.Info, now time.Time) {
	state := "incomplete (no exit record: still running or killed)"
	if in.Finished {
		state = "finished"
		if in.ExitCode != nil {
			state += fmt.Sprintf(", exit code %d", *in.ExitCode)
		}
		if in.RuntimeS != nil {
			state += fmt.Sprintf(", runtime %ds", *in.RuntimeS)
		}
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-14s %s\n", k+":", v)
		}
	}
	row("path", in.Path)
	row("run id", in.RunID)
	row("project", in.Project)
	row("entity", in.Entity)
	row("name", in.Name)
	row("group", in.Group)
	row("job type", in.JobType)
	if len(in.Tags) > 0 {
		row("tags", strings.Join(in.Tags, ", "))
	}
	if !in.StartTime.IsZero() {
		row("started", Ago(now, api.Time(in.StartTime))+" ("+in.StartTime.UTC().Format(time.RFC3339)+")")
	}
	row("wandb", in.WandbVersion)
	row("state", state)
	if in.TornTail {
		row("tail", "torn (the writer was killed mid-record; upload uses a repaired copy)")
	}
	if in.Err != nil {
		row("read error", in.Err.Error())
	}
	names := make([]string, 0, len(in.Records))
	for k := range in.Records {
		names = append(names, k)
	}
	sort.Strings(names)
	var rec []string
	for _, k := range names {
		rec = append(rec, fmt.Sprintf("%s=%d", k, in.Records[k]))
	}
	row("records", strings.Join(rec, " "))
	row("history rows", fmt.Sprint(in.HistoryRows))
	if len(in.HistoryKeys) > 0 {
		row("history keys", strings.Join(in.HistoryKeys, ", "))
	}
	values(w, "summary", in.Summary)
	values(w, "config", in.Config)
}

// values is a titled block of key = value lines, sorted, long values cut.
func values(w io.Writer, title string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := wandbfile.MarshalValue(m[k])
		if err != nil {
			b = []byte(fmt.Sprint(m[k]))
		}
		v := string(b)
		if len(v) > 120 {
			v = v[:117] + "..."
		}
		fmt.Fprintf(w, "  %s = %s\n", k, v)
	}
}
