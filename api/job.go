package api

import (
	"slices"
	"strings"

	"github.com/runnerhq/runner/jobs"
	"github.com/runnerhq/runner/ledger"
)

// Job is one element of `runner jobs --json`.
type Job struct {
	ID            int64             `json:"id"`
	Name          *string           `json:"name"`
	Owner         string            `json:"owner"`
	OwnerUID      int               `json:"owner_uid"`
	Command       []string          `json:"command"`
	Cwd           string            `json:"cwd"`
	EnvNames      []string          `json:"env_names"` // captured and --env names, sorted; null: the daemon's environment (jobs from before capture)
	Held          bool              `json:"held"`
	AfterAny      []int64           `json:"after_any"`
	AfterNotOK    []int64           `json:"after_notok"`
	Labels        map[string]string `json:"labels"`
	ArrayID       *int64            `json:"array_id"`
	ArrayIndex    *int64            `json:"array_index"`
	RunGroup      *string           `json:"run_group"`
	Share         bool              `json:"share"`
	CPUs          int               `json:"cpus"`
	State         string            `json:"state"`
	Reason        *string           `json:"reason"`
	GPUs          []string          `json:"gpus"` // UUIDs given to the job
	GPUsRequested int               `json:"gpus_requested"`
	GPUMemBytes   *uint64           `json:"gpu_mem_bytes"`
	MemMaxBytes   *uint64           `json:"mem_max_bytes"` // submit --mem
	Priority      int               `json:"priority"`
	After         []int64           `json:"after"`
	RunID         string            `json:"run_id"`
	SubmittedAt   string            `json:"submitted_at"`
	StartedAt     *string           `json:"started_at"`
	EndedAt       *string           `json:"ended_at"`
	ExitCode      *int              `json:"exit_code"`
	Signal        *string           `json:"signal"`
	Attempts      int               `json:"attempts"`
	Retries       int               `json:"retries"`
	TimeoutS      *float64          `json:"timeout_s"`
	PeakMemBytes  *uint64           `json:"peak_mem_bytes"`
	MeanUtil      *float64          `json:"mean_util"`
	EnergyJ       *float64          `json:"energy_j"`
	LogPath       *string           `json:"log_path"`
	OutputPath    *string           `json:"output_path"` // where stdout goes (--output, else the log); null before it has one
	ErrorPath     *string           `json:"error_path"`  // where stderr goes (--error, else with stdout)
	Notify        *string           `json:"notify"`      // submit --notify; null: none
	Executor      string            `json:"executor"`    // local or slurm
	EngineID      *string           `json:"engine_id"`   // the Slurm job id (123, or 123_4 in an array); null for local jobs
	Node          *string           `json:"node"`        // the node Slurm ran it on
}

// JobOf is j as --json prints it.
func JobOf(j ledger.Job) Job {
	out := Job{
		ID: j.ID, Name: Str(j.Name), Owner: j.Owner, OwnerUID: j.OwnerUID, Command: j.Argv, Cwd: j.Cwd, State: string(j.State), Reason: Str(j.Reason),
		GPUs: j.GPUUUIDs, GPUsRequested: j.GPUs, Priority: j.Priority, After: j.After, RunID: j.RunID,
		SubmittedAt: Time(j.SubmittedAt), StartedAt: TimePtr(j.StartedAt), EndedAt: TimePtr(j.EndedAt),
		ExitCode: j.ExitCode, Signal: Str(j.Signal), Attempts: j.Attempts, Retries: j.Retries,
		PeakMemBytes: j.PeakMem, MeanUtil: j.MeanUtil, EnergyJ: j.EnergyJ, LogPath: Str(j.LogPath),
		Executor: string(j.Executor), EngineID: Str(j.EngineID), Node: Str(j.Node),
	}
	if out.GPUs == nil {
		out.GPUs = []string{}
	}
	if out.After == nil {
		out.After = []int64{}
	}
	if out.Command == nil {
		out.Command = []string{}
	}
	out.Held, out.AfterAny, out.Labels, out.RunGroup, out.Share = j.Held, j.AfterAny, j.Labels, Str(j.RunGroup), j.Share
	out.CPUs = jobs.SlotsOf(j.CPUs, j.GPUs)
	if out.AfterAny == nil {
		out.AfterAny = []int64{}
	}
	stdout, stderr := jobs.OutputPaths(j)
	out.OutputPath, out.ErrorPath, out.Notify = Str(stdout), Str(stderr), Str(j.Notify)
	if out.AfterNotOK = j.AfterNotOK; out.AfterNotOK == nil {
		out.AfterNotOK = []int64{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if j.ArrayID != 0 {
		out.ArrayID, out.ArrayIndex = &j.ArrayID, &j.ArrayIndex
	}
	// A Slurm job took the captured environment at submit, without a file.
	if j.EnvFile != "" || j.Executor != ledger.ExecutorLocal {
		out.EnvNames = slices.Clone(j.EnvNames)
		for _, kv := range j.Env {
			k, _, _ := strings.Cut(kv, "=")
			out.EnvNames = append(out.EnvNames, k)
		}
		slices.Sort(out.EnvNames)
		out.EnvNames = slices.Compact(out.EnvNames)
		if out.EnvNames == nil {
			out.EnvNames = []string{}
		}
	}
	if j.GPUMem > 0 {
		v := j.GPUMem
		out.GPUMemBytes = &v
	}
	if j.MemMax > 0 {
		v := j.MemMax
		out.MemMaxBytes = &v
	}
	if j.Timeout > 0 {
		v := j.Timeout.Seconds()
		out.TimeoutS = &v
	}
	return out
}

// Queued is `runner submit --json` for one job, and each job of an array.
type Queued struct {
	ID         int64  `json:"id"`
	RunID      string `json:"run_id"`
	State      string `json:"state"`
	ArrayIndex *int64 `json:"array_index,omitempty"`
}

// QueuedArray is `runner submit --json` for an array.
type QueuedArray struct {
	ArrayID  int64    `json:"array_id"`
	RunGroup string   `json:"run_group"`
	Jobs     []Queued `json:"jobs"`
}

// QueuedOf is what submit --json prints for the jobs one submit queued:
// a Queued for one job, a QueuedArray for an array.
func QueuedOf(list []ledger.Job, inArray bool) any {
	one := func(j ledger.Job) Queued { return Queued{ID: j.ID, RunID: j.RunID, State: string(j.State)} }
	if !inArray {
		return one(list[0])
	}
	out := QueuedArray{ArrayID: list[0].ArrayID, RunGroup: list[0].RunGroup}
	for _, j := range list {
		q := one(j)
		q.ArrayIndex = &j.ArrayIndex
		out.Jobs = append(out.Jobs, q)
	}
	return out
}
