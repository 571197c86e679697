package api

import (
	"github.com/runnerhq/runner/internal/jsonenc"
	"github.com/runnerhq/runner/ledger"
)

// appendRun appends RunOf(*r) as json.MarshalIndent(RunOf(*r), prefix, "  ")
// writes it, without reflection and without making the Run: encoding/json
// was half the CPU of a listing of every run, and RunOf's pointers and
// time strings an allocation each per field (docs/design.md "Listing a
// large ledger"). The fields are Run's, in its order, with its tags and
// RunOf's values; TestRunJSONIsEncodingJSON holds the two equal.
func appendRun(b []byte, r *ledger.Run, prefix string) []byte {
	e := jsonenc.NewObject(b, prefix)
	e.Text("run_id", r.RunID)
	e.Str("dir", &r.Dir)
	e.Text("project", r.Project)
	e.Text("entity", r.Entity)
	e.Text("name", r.Name)
	e.Text("group", r.Group)
	e.Text("job_type", r.JobType)
	state := string(r.State)
	e.Str("state", &state)
	e.Text("reason", r.Reason)
	e.Bool("finished", r.Finished)
	e.Int("exit_code", intOrNil(r.ExitCode))
	e.Bool("torn_tail", r.TornTail)
	e.Text("read_error", r.ReadError)
	e.Text("wandb_version", r.WandbVersion)
	e.Time("start_time", r.StartTime)
	e.Int("size", &r.Size)
	n := int64(r.Attempts)
	e.Int("attempts", &n)
	e.Time("next_attempt_at", r.NextAttemptAt)
	e.Text("last_error", r.LastError)
	e.Text("url", r.URL)
	e.Text("source", r.Source)
	e.Time("synced_at", r.SyncedAt)
	e.Key("first_seen")
	e.B = jsonenc.AppendTime(e.B, r.FirstSeen)
	e.Int("job_id", r.JobID)
	return e.End(prefix)
}

func intOrNil(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}
