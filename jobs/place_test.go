package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

const gib = 1 << 30

// gpus returns n idle 80 GiB devices with UUIDs GPU-0, GPU-1, ...
func gpus(n int) []Device {
	devs := make([]Device, n)
	for i := range devs {
		devs[i] = Device{Index: i, UUID: fmt.Sprintf("GPU-%d", i), MemTotal: 80 * gib}
	}
	return devs
}

func with(devs []Device, f func(d []Device)) []Device {
	f(devs)
	return devs
}

func at(t time.Time) *time.Time { return &t }

func TestPlan(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-time.Hour)
	sub := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

	tests := []struct {
		name        string
		devs        []Device
		noGPUs      string
		held        []Held
		own         map[int]bool
		queue       []Want
		wantStart   map[int64][]string
		wantWaiting map[int64]string // substring of the reason
	}{
		{
			name:      "one GPU job gets the lowest free GPU",
			devs:      gpus(2),
			queue:     []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}},
			wantStart: map[int64][]string{1: {"GPU-0"}},
		},
		{
			name:        "allocation is exclusive: a held GPU is not given again",
			devs:        gpus(2),
			held:        []Held{{JobID: 9, UUIDs: []string{"GPU-0"}}},
			queue:       []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}, {JobID: 2, GPUs: 1, SubmittedAt: sub(1)}},
			wantStart:   map[int64][]string{1: {"GPU-1"}},
			wantWaiting: map[int64]string{2: "waiting for 1 free GPU (0 free): GPU 0 is held by job 9; GPU 1 is held by job 1"},
		},
		{
			name: "a foreign compute process blocks its GPU",
			devs: with(gpus(2), func(d []Device) { d[1].Procs = []Proc{{PID: 1234}} }),
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
			},
			wantWaiting: map[int64]string{1: "waiting for 2 free GPUs (1 free): GPU 1 has a foreign process pid 1234"},
		},
		{
			name:      "a process of runner's own jobs is not foreign",
			devs:      with(gpus(1), func(d []Device) { d[0].Procs = []Proc{{PID: 77}} }),
			own:       map[int]bool{77: true},
			queue:     []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}},
			wantStart: map[int64][]string{1: {"GPU-0"}},
		},
		{
			name: "10 % memory in use makes a GPU busy, just under does not",
			devs: with(gpus(2), func(d []Device) {
				d[0].MemTotal, d[0].MemUsed = 100*gib, 10*gib
				d[1].MemTotal, d[1].MemUsed = 100*gib, 10*gib-1
			}),
			queue:     []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}, {JobID: 2, GPUs: 1, SubmittedAt: sub(1)}},
			wantStart: map[int64][]string{1: {"GPU-1"}},
			wantWaiting: map[int64]string{
				2: "GPU 0 has 10 GiB of 100 GiB memory in use",
			},
		},
		{
			name: "--gpu-mem needs that much free memory on each GPU",
			devs: with(gpus(2), func(d []Device) {
				d[0].MemTotal, d[0].MemUsed = 24*gib, 2*gib // 22 GiB free
				d[1].MemTotal = 40 * gib
			}),
			queue:     []Want{{JobID: 1, GPUs: 1, GPUMem: 30 * gib, SubmittedAt: sub(0)}},
			wantStart: map[int64][]string{1: {"GPU-1"}},
		},
		{
			name:        "--gpu-mem larger than free memory waits and says so",
			devs:        with(gpus(1), func(d []Device) { d[0].MemUsed = 7 * gib }),
			queue:       []Want{{JobID: 1, GPUs: 1, GPUMem: 75 * gib, SubmittedAt: sub(0)}},
			wantWaiting: map[int64]string{1: "waiting for 1 free GPU with 75 GiB free memory (0 free): GPU 0 has 73 GiB free"},
		},
		{
			name: "higher priority first, then submit order",
			devs: gpus(2),
			queue: []Want{
				{JobID: 1, GPUs: 1, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(2), Priority: 5},
				{JobID: 3, GPUs: 1, SubmittedAt: sub(1)},
			},
			wantStart:   map[int64][]string{2: {"GPU-0"}, 1: {"GPU-1"}},
			wantWaiting: map[int64]string{3: "waiting for 1 free GPU (0 free)"},
		},
		{
			name: "a blocked head job blocks later jobs that have no timeout",
			devs: gpus(2),
			held: []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Ends: at(now.Add(time.Hour))}},
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(1)},
			},
			wantWaiting: map[int64]string{
				1: "waiting for 2 free GPUs (1 free)",
				2: "queued behind job 1",
			},
		},
		{
			name: "backfill: a later job whose timeout ends before the head could start runs now",
			devs: gpus(2),
			held: []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Ends: at(now.Add(time.Hour))}},
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(1), Timeout: 30 * time.Minute},
			},
			wantStart:   map[int64][]string{2: {"GPU-1"}},
			wantWaiting: map[int64]string{1: "waiting for 2 free GPUs (1 free)"},
		},
		{
			name: "no backfill when the timeout outlasts the head job's start",
			devs: gpus(2),
			held: []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Ends: at(now.Add(time.Hour))}},
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(1), Timeout: 2 * time.Hour},
			},
			wantWaiting: map[int64]string{2: "queued behind job 1, which could start in 1h0m0s (this job's --timeout is 2h0m0s)"},
		},
		{
			name: "no backfill when the running job's end is unknown",
			devs: gpus(2),
			held: []Held{{JobID: 9, UUIDs: []string{"GPU-0"}}},
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(1), Timeout: time.Minute},
			},
			wantWaiting: map[int64]string{2: "queued behind job 1, whose start time is unknown"},
		},
		{
			name: "no backfill when a foreign process makes the head's start unknown",
			devs: with(gpus(2), func(d []Device) { d[0].Procs = []Proc{{PID: 5}} }),
			queue: []Want{
				{JobID: 1, GPUs: 2, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, SubmittedAt: sub(1), Timeout: time.Minute},
			},
			wantWaiting: map[int64]string{1: "GPU 0 has a foreign process pid 5", 2: "whose start time is unknown"},
		},
		{
			name: "backfilled job must also end before a second blocked job could start",
			devs: gpus(3),
			held: []Held{
				{JobID: 8, UUIDs: []string{"GPU-0"}, Ends: at(now.Add(3 * time.Hour))},
				{JobID: 9, UUIDs: []string{"GPU-1"}, Ends: at(now.Add(time.Hour))},
			},
			queue: []Want{
				{JobID: 1, GPUs: 3, SubmittedAt: sub(0)},                            // could start in 3h
				{JobID: 2, GPUs: 2, SubmittedAt: sub(1)},                            // could start in 1h
				{JobID: 3, GPUs: 1, SubmittedAt: sub(2), Timeout: 2 * time.Hour},    // too long for job 2
				{JobID: 4, GPUs: 1, SubmittedAt: sub(3), Timeout: 45 * time.Minute}, // fits before both
			},
			wantStart: map[int64][]string{4: {"GPU-2"}},
			wantWaiting: map[int64]string{
				1: "waiting for 3 free GPUs (1 free)",
				2: "waiting for 2 free GPUs (1 free)",
				3: "queued behind job 2, which could start in 1h0m0s",
			},
		},
		{
			name: "CPU jobs always start, even behind blocked GPU jobs and without GPUs",
			devs: gpus(1),
			held: []Held{{JobID: 9, UUIDs: []string{"GPU-0"}}},
			queue: []Want{
				{JobID: 1, GPUs: 1, SubmittedAt: sub(0), Priority: 10},
				{JobID: 2, GPUs: 0, SubmittedAt: sub(1)},
			},
			wantStart:   map[int64][]string{2: {}},
			wantWaiting: map[int64]string{1: "waiting for 1 free GPU (0 free)"},
		},
		{
			name:   "no GPUs at all: GPU jobs wait with the inventory's reason, CPU jobs run",
			noGPUs: "no NVIDIA driver: NVML init: ERROR_LIBRARY_NOT_FOUND",
			queue: []Want{
				{JobID: 1, GPUs: 1, SubmittedAt: sub(0)},
				{JobID: 2, SubmittedAt: sub(1)},
			},
			wantStart:   map[int64][]string{2: {}},
			wantWaiting: map[int64]string{1: "no GPUs: no NVIDIA driver: NVML init: ERROR_LIBRARY_NOT_FOUND"},
		},
		{
			name: "a job that can never fit does not block the queue",
			devs: gpus(2),
			queue: []Want{
				{JobID: 1, GPUs: 4, SubmittedAt: sub(0)},
				{JobID: 2, GPUs: 1, GPUMem: 100 * gib, SubmittedAt: sub(1)},
				{JobID: 3, GPUs: 1, SubmittedAt: sub(2)},
			},
			wantStart: map[int64][]string{3: {"GPU-0"}},
			wantWaiting: map[int64]string{
				1: "needs 4 GPUs but this machine has 2",
				2: "needs 1 GPU with 100 GiB memory but this machine has 0",
			},
		},
		{
			name:      "an overdue running job counts as ending now, so nothing waits on a past time",
			devs:      gpus(1),
			held:      []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Ends: at(now.Add(-time.Minute))}},
			queue:     []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}, {JobID: 2, GPUs: 0, SubmittedAt: sub(1)}},
			wantStart: map[int64][]string{2: {}},
			wantWaiting: map[int64]string{
				1: "GPU 0 is held by job 9",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue := slices.Clone(tt.queue)
			d := Plan(now, tt.devs, tt.noGPUs, tt.held, tt.own, tt.queue)
			if tt.wantStart == nil {
				tt.wantStart = map[int64][]string{}
			}
			if !maps.EqualFunc(d.Start, tt.wantStart, slices.Equal) {
				t.Errorf("Start = %v, want %v (waiting: %v)", d.Start, tt.wantStart, d.Waiting)
			}
			if len(d.Start)+len(d.Waiting) != len(tt.queue) {
				t.Errorf("%d started + %d waiting != %d queued", len(d.Start), len(d.Waiting), len(tt.queue))
			}
			for id, want := range tt.wantWaiting {
				if got, ok := d.Waiting[id]; !ok || !strings.Contains(got, want) {
					t.Errorf("Waiting[%d] = %q, want it to contain %q", id, got, want)
				}
			}
			if !slices.Equal(queue, tt.queue) {
				t.Error("Plan reordered the caller's queue")
			}
		})
	}
}

func TestPlanHandsOutEachGPUOnce(t *testing.T) {
	now := time.Now()
	var queue []Want
	for i := range 10 {
		queue = append(queue, Want{JobID: int64(i + 1), GPUs: 1 + i%3, SubmittedAt: now, Timeout: time.Minute})
	}
	d := Plan(now, gpus(8), "", nil, nil, queue)
	seen := map[string]int64{}
	for id, uuids := range d.Start {
		for _, u := range uuids {
			if other, dup := seen[u]; dup {
				t.Fatalf("%s given to jobs %d and %d", u, other, id)
			}
			seen[u] = id
		}
	}
	if len(seen) != 8 {
		t.Fatalf("%d of 8 GPUs used; queue asks for more than 8", len(seen))
	}
}

func TestFree(t *testing.T) {
	tests := []struct {
		name    string
		dev     Device
		held    []Held
		own     map[int]bool
		wantWhy string // "" = free
	}{
		{"idle", gpus(1)[0], nil, nil, ""},
		{"held", gpus(1)[0], []Held{{JobID: 4, UUIDs: []string{"GPU-0"}}}, nil, "GPU 0 is held by job 4"},
		{"foreign", with(gpus(1), func(d []Device) { d[0].Procs = []Proc{{PID: 9}} })[0], nil, nil, "GPU 0 has a foreign process pid 9"},
		{"own process", with(gpus(1), func(d []Device) { d[0].Procs = []Proc{{PID: 9}} })[0], nil, map[int]bool{9: true}, ""},
		{"memory 10 %", with(gpus(1), func(d []Device) { d[0].MemUsed = 8 * gib })[0], nil, nil, "memory in use"},
		{"unknown size", Device{UUID: "GPU-x", Index: 3}, nil, nil, "GPU 3 reports no memory size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			free, why := Free(tt.dev, tt.held, tt.own)
			if free != (tt.wantWhy == "") || !strings.Contains(why, tt.wantWhy) {
				t.Fatalf("Free = %v, %q; want why %q", free, why, tt.wantWhy)
			}
		})
	}
}

// GPU sharing by memory: sharing jobs pack onto GPUs while their requests
// plus foreign use stay within 90 % of memory; others get GPUs alone.
func TestPlanSharing(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	sub := func(min int) time.Time { return now.Add(time.Duration(min-60) * time.Minute) }
	u := func(v uint64) *uint64 { return &v }
	share := func(id int64, gpus int, mem uint64, min int) Want {
		return Want{JobID: id, GPUs: gpus, GPUMem: mem * gib, Share: true, SubmittedAt: sub(min)}
	}
	tests := []struct {
		name        string
		devs        []Device
		held        []Held
		own         map[int]bool
		queue       []Want
		wantStart   map[int64][]string
		wantWaiting map[int64]string
	}{
		{
			name:      "sharing jobs that fit go on one GPU together",
			devs:      gpus(2),
			queue:     []Want{share(1, 1, 30, 0), share(2, 1, 30, 1)},
			wantStart: map[int64][]string{1: {"GPU-0"}, 2: {"GPU-0"}},
		},
		{
			name:  "one that does not fit goes to the next GPU, then waits",
			devs:  gpus(2),
			held:  []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Share: true, Mem: 50 * gib}},
			queue: []Want{share(1, 1, 30, 0), share(2, 1, 60, 1)},
			// 90 % of 80 GiB is 72 GiB: 50+30 does not fit on GPU 0.
			wantStart:   map[int64][]string{1: {"GPU-1"}},
			wantWaiting: map[int64]string{2: "GPU 0 has 22 GiB left for sharing; GPU 1 has 42 GiB left"},
		},
		{
			name: "foreign processes count against the room",
			devs: with(gpus(1), func(d []Device) {
				d[0].MemUsed = 60 * gib
				d[0].Procs = []Proc{{PID: 4242, UsedMem: u(60 * gib)}}
			}),
			queue:       []Want{share(1, 1, 8, 0), share(2, 1, 8, 1)},
			wantStart:   map[int64][]string{1: {"GPU-0"}},
			wantWaiting: map[int64]string{2: "GPU 0 has 4.0 GiB left for sharing"},
		},
		{
			name: "a foreign process of unknown size leaves no room",
			devs: with(gpus(1), func(d []Device) {
				d[0].Procs = []Proc{{PID: 4242}}
			}),
			queue:       []Want{share(1, 1, 1, 0)},
			wantWaiting: map[int64]string{1: "foreign process of unknown size"},
		},
		{
			name: "runner's own processes are not foreign",
			devs: with(gpus(1), func(d []Device) {
				d[0].MemUsed = 30 * gib
				d[0].Procs = []Proc{{PID: 77, UsedMem: u(30 * gib)}}
			}),
			held:      []Held{{JobID: 9, UUIDs: []string{"GPU-0"}, Share: true, Mem: 30 * gib}},
			own:       map[int]bool{77: true},
			queue:     []Want{share(1, 1, 40, 0)},
			wantStart: map[int64][]string{1: {"GPU-0"}},
		},
		{
			name:        "an exclusive job's GPU is never shared, and a shared GPU is not exclusive",
			devs:        gpus(2),
			held:        []Held{{JobID: 8, UUIDs: []string{"GPU-0"}}, {JobID: 9, UUIDs: []string{"GPU-1"}, Share: true, Mem: 10 * gib}},
			queue:       []Want{{JobID: 1, GPUs: 1, SubmittedAt: sub(0)}, share(2, 1, 10, 1)},
			wantStart:   map[int64][]string{2: {"GPU-1"}},
			wantWaiting: map[int64]string{1: "GPU 1 is held by job 9"},
		},
		{
			name:      "mixed in one plan: the exclusive job takes a free GPU, sharing jobs pack the other",
			devs:      gpus(2),
			queue:     []Want{share(1, 1, 20, 0), {JobID: 2, GPUs: 1, SubmittedAt: sub(1)}, share(3, 1, 20, 2)},
			wantStart: map[int64][]string{1: {"GPU-0"}, 2: {"GPU-1"}, 3: {"GPU-0"}},
		},
		{
			name: "a blocked exclusive job ahead keeps free GPUs from sharing jobs, not shared ones",
			devs: gpus(3),
			held: []Held{{JobID: 8, UUIDs: []string{"GPU-0"}}, {JobID: 9, UUIDs: []string{"GPU-1"}, Share: true, Mem: 10 * gib}},
			queue: []Want{{JobID: 1, GPUs: 2, SubmittedAt: sub(0)}, share(2, 1, 10, 1),
				{JobID: 3, GPUs: 1, GPUMem: 0, Share: true, SubmittedAt: sub(2)}},
			wantStart:   map[int64][]string{2: {"GPU-1"}},
			wantWaiting: map[int64]string{1: "waiting for 2 free GPUs", 3: "queued behind job 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Plan(now, tt.devs, "", tt.held, tt.own, tt.queue)
			if tt.wantStart == nil {
				tt.wantStart = map[int64][]string{}
			}
			if !maps.EqualFunc(d.Start, tt.wantStart, slices.Equal) {
				t.Errorf("Start = %v, want %v (waiting: %v)", d.Start, tt.wantStart, d.Waiting)
			}
			for id, want := range tt.wantWaiting {
				if got, ok := d.Waiting[id]; !ok || !strings.Contains(got, want) {
					t.Errorf("Waiting[%d] = %q, want it to contain %q", id, got, want)
				}
			}
		})
	}
}

func TestTakeSlots(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	w := func(id int64, slots, prio int) Want {
		return Want{JobID: id, Slots: slots, Priority: prio, SubmittedAt: now.Add(time.Duration(id) * time.Second)}
	}
	tests := []struct {
		name        string
		queue       []Want
		free, total int
		pass        []int64
		waiting     map[int64]string
	}{
		{"within the slots", []Want{w(1, 1, 0), w(2, 1, 0)}, 2, 2, []int64{1, 2}, nil},
		{"the third waits", []Want{w(1, 1, 0), w(2, 1, 0), w(3, 1, 0)}, 2, 2, []int64{1, 2},
			map[int64]string{3: "waiting for 1 CPU slot (0 of 2 free)"}},
		{"a big job is not passed by small ones", []Want{w(1, 4, 0), w(2, 1, 0)}, 2, 8, nil,
			map[int64]string{1: "waiting for 4 CPU slots (2 of 8 free)", 2: "queued behind job 1 for CPU slots"}},
		{"GPU jobs (no slots) always pass", []Want{w(1, 4, 0), w(2, 0, 0)}, 2, 8, []int64{2}, nil},
		{"priority first", []Want{w(1, 1, 0), w(2, 1, 5)}, 1, 4, []int64{2}, map[int64]string{1: "0 of 4 free"}},
		{"more than the daemon has", []Want{w(1, 9, 0), w(2, 1, 0)}, 4, 4, []int64{2},
			map[int64]string{1: "needs 9 CPU slots but the daemon has 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pass, waiting := TakeSlots(tt.queue, tt.free, tt.total)
			var ids []int64
			for _, p := range pass {
				ids = append(ids, p.JobID)
			}
			if !slices.Equal(ids, tt.pass) {
				t.Errorf("pass %v, want %v (waiting %v)", ids, tt.pass, waiting)
			}
			if len(pass)+len(waiting) != len(tt.queue) {
				t.Errorf("%d pass + %d wait != %d", len(pass), len(waiting), len(tt.queue))
			}
			for id, want := range tt.waiting {
				if !strings.Contains(waiting[id], want) {
					t.Errorf("waiting[%d] = %q, want %q", id, waiting[id], want)
				}
			}
		})
	}
}
