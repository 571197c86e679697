package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/internal/testbin"
	"github.com/runnerhq/runner/ledger"
)

// slurmCluster starts a single-node Slurm (deploy/slurm/testcluster) for
// the test and returns its SLURM_CONF; it stops with the test. opts go to
// the script (--accounting, --min-job-age). Without Debian's slurm-wlm and
// munge (and for --accounting slurmdbd and mariadb-server), or without root,
// the test is skipped and says so.
func slurmCluster(t *testing.T, opts ...string) string {
	t.Helper()
	need := map[string][]string{"slurm-wlm munge": {"slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol", "scancel"}}
	if slices.Contains(opts, "--accounting") {
		need["slurmdbd mariadb-server"] = []string{"slurmdbd", "sacct", "mariadbd", "mariadb-install-db"}
	}
	for pkgs, bins := range need {
		for _, b := range bins {
			if _, err := exec.LookPath(b); err != nil {
				if _, err := os.Stat("/usr/sbin/" + b); err != nil {
					t.Skipf("%s not found (apt-get install -y %s): the real-Slurm test cannot run", b, pkgs)
				}
			}
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the real-Slurm test needs root: slurmd starts jobs as their users")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "deploy", "slurm", "testcluster")
	// A short path: munge's and slurmd's unix sockets live in it.
	dir, err := os.MkdirTemp("", "slurm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Logf("stop the test cluster: %v: %s", err, out)
		}
		if t.Failed() {
			for _, l := range []string{"slurmctld.log", "slurmd.log", "slurmdbd.log"} {
				b, err := os.ReadFile(filepath.Join(dir, "log", l))
				if err != nil {
					continue // slurmdbd.log: only with accounting
				}
				lines := strings.Split(string(b), "\n")
				t.Logf("%s tail:\n%s", l, strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
		}
		os.RemoveAll(dir)
	})
	out, err := exec.Command(script, append([]string{"start", dir}, opts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("start the test cluster: %v\n%s", err, out)
	}
	return filepath.Join(dir, "slurm.conf")
}

// slurmJobState is what Slurm itself says of a job: scontrol's JobState.
func slurmJobState(t *testing.T, env []string, id string) string {
	t.Helper()
	cmd := exec.Command("scontrol", "--oneliner", "show", "job", id)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v", id, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "JobState="); ok {
			return v
		}
	}
	return ""
}

// The Slurm executor against a real single-node Slurm: submit → sbatch →
// run → the job's end → its W&B run uploaded; a pipeline stage waiting on
// another through Slurm's dependency and sharing its W&B run; a dependency
// that failed; an array with a limit; cancel; and a daemon restart while
// Slurm jobs run and end. It prints the dispatch figures the README gives.
func TestSlurmExecutor(t *testing.T) {
	conf := slurmCluster(t)
	h := newHarness(t, "SLURM_CONF="+conf)
	fakejob := testbin.Build(t, "./testdata/fakejob", "fakejob")
	work := t.TempDir() // the jobs' working directory: their logs go there
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	h.startDaemon("--executor", "slurm", "--gpus", "none")
	submit := func(args ...string) int64 {
		return h.submit(append([]string{"--cwd", work}, args...)...)
	}
	// ledgerTimes polls the ledger (every 20 ms) until cond holds and
	// returns when it first did.
	ledgerTimes := func(what string, cond func() bool) time.Time {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if cond() {
				return time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
		return time.Time{}
	}

	// 1. One job, end to end; the figures are over five short ones and
	// one of 12 s (by then the daemon polls Slurm at its slowest).
	var toStart, toEnded, toReady []time.Duration
	var first ledger.Job
	for i := range 6 {
		args := []string{"--gpus", "1", "--name", "train", "--", fakejob, "-stage", "train"}
		if i == 5 {
			args = append(args, "-sleep", "12s")
		}
		submitted := time.Now()
		id := submit(args...)
		started := ledgerTimes("job start", func() bool { return h.job(id).State != ledger.JobQueued })
		endedAt := ledgerTimes("job end", func() bool { return h.job(id).State.Ended() })
		j := h.job(id)
		if j.State != ledger.JobSucceeded {
			t.Fatalf("job %d %s (%s)", id, j.State, j.Reason)
		}
		var run ledger.Run
		ready := ledgerTimes("its run ready", func() bool {
			for _, r := range h.runs() {
				if r.RunID == j.RunID && r.State != ledger.StateActive {
					run = r
					return true
				}
			}
			return false
		})
		// The job's last write (its exit record) is its run log's mtime;
		// the job exits right after.
		fi, err := os.Stat(run.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			toStart = append(toStart, started.Sub(submitted))
		}
		toEnded = append(toEnded, endedAt.Sub(fi.ModTime()))
		toReady = append(toReady, ready.Sub(fi.ModTime()))
		if i == 0 {
			first = j
		}
	}
	if out, _, _ := h.code("doctor"); !strings.Contains(out, "slurm") || !strings.Contains(out, "is UP") {
		t.Errorf("runner doctor says nothing of Slurm being up:\n%s", out)
	}
	t.Logf("Slurm dispatch (sched_interval=1s, RUNNER_QUIET=2s): submit -> running in the ledger %s over 5 jobs; "+
		"job's last write -> job ended in the ledger: short jobs %s, a 12 s job %s; -> its run ready %s, %s",
		spread(toStart), spread(toEnded[:5]), toEnded[5].Round(10*time.Millisecond), spread(toReady[:5]), toReady[5].Round(10*time.Millisecond))
	if first.Executor != ledger.ExecutorSlurm || first.EngineID == "" || first.Node != host {
		t.Errorf("job %d: executor %q, Slurm id %q, node %q; want slurm, an id, %s", first.ID, first.Executor, first.EngineID, first.Node, host)
	}
	if out := readAll(t, first.LogPath); !strings.Contains(out, "stage train of run "+first.RunID+" (job "+strconv.FormatInt(first.ID, 10)+")") {
		t.Errorf("job log %s: %q", first.LogPath, out)
	}
	if st := slurmJobState(t, h.env, first.EngineID); st != "COMPLETED" {
		t.Errorf("Slurm says job %s is %s", first.EngineID, st)
	}
	h.waitStates(30*time.Second, map[string]ledger.State{first.RunID: ledger.StateSynced})
	table := h.runOK("jobs")
	if !strings.Contains(table, "SLURM") || !strings.Contains(table, " "+first.EngineID+" ") || !strings.Contains(table, " "+host+" ") {
		t.Errorf("runner jobs shows no Slurm id or node:\n%s", table)
	}

	// 2. A pipeline: eval waits for train through Slurm and logs into its run.
	train := submit("--gpus", "1", "--name", "train", "--", fakejob, "-stage", "train", "-sleep", "1500ms")
	eval := submit("--gpus", "1", "--name", "eval", "--after", strconv.FormatInt(train, 10), "--same-run",
		"--", fakejob, "-stage", "eval")
	// A local job may wait for a Slurm job (the ledger has both ends).
	localAfter := submit("--executor", "local", "--after", strconv.FormatInt(train, 10), "--", "true")
	jt, je := h.waitJob(train, ledger.JobSucceeded), h.waitJob(eval, ledger.JobSucceeded)
	if jl := h.waitJob(localAfter, ledger.JobSucceeded); jl.Executor != ledger.ExecutorLocal || jl.StartedAt.Before(*jt.EndedAt) {
		t.Errorf("local job after a Slurm job: executor %s, started %s, before its end %s", jl.Executor, jl.StartedAt, jt.EndedAt)
	}
	if je.StartedAt.Before(jt.EndedAt.Truncate(time.Second)) || je.RunID != jt.RunID {
		t.Errorf("eval started %s, train ended %s; run ids %s, %s", je.StartedAt, jt.EndedAt, je.RunID, jt.RunID)
	}
	h.waitStates(30*time.Second, map[string]ledger.State{jt.RunID: ledger.StateSynced})

	// A dependency that fails: the job after it is skipped, and Slurm's
	// copy cancelled rather than left pending for ever.
	gate := filepath.Join(work, "gate")
	bad := submit("--", "sh", "-c", "while [ ! -e "+gate+" ]; do sleep 0.1; done; exit 4")
	after := submit("--after", strconv.FormatInt(bad, 10), "--", "true")
	onFailure := submit("--after-notok", strconv.FormatInt(bad, 10), "--", "true") // Slurm's afternotok
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	jb := h.waitJob(bad, ledger.JobFailed)
	if jb.ExitCode == nil || *jb.ExitCode != 4 {
		t.Errorf("failed job's exit %v, want 4", jb.ExitCode)
	}
	ja := h.waitJob(after, ledger.JobSkipped)
	h.waitJob(onFailure, ledger.JobSucceeded)
	h.eventually(10*time.Second, "Slurm cancels the skipped job", func() bool {
		return slurmJobState(t, h.env, ja.EngineID) == "CANCELLED"
	})
	// An --after on a job that already failed is refused at once.
	if _, errOut, code := h.code("submit", "--cwd", work, "--after", strconv.FormatInt(bad, 10), "--", "true"); code != 2 || !strings.Contains(errOut, "never run") {
		t.Errorf("submit --after a failed job: exit %d, %q", code, errOut)
	}

	// 3. An array, at most 2 at once.
	arr := submit("--array", "0-3%2", "--name", "grid", "--", "sh", "-c", `echo "index $RUNNER_ARRAY_INDEX job $RUNNER_JOB_ID"`)
	var list []ledger.Job
	h.eventually(30*time.Second, "array done", func() bool {
		list = h.arrayJobs(arr)
		for _, j := range list {
			if j.State != ledger.JobSucceeded {
				return false
			}
		}
		return len(list) == 4
	})
	for i, j := range list {
		if want := strconv.FormatInt(arr, 10); !strings.HasSuffix(j.EngineID, "_"+strconv.Itoa(i)) || j.ArrayIndex != int64(i) {
			t.Errorf("array job %d: Slurm id %s, index %d (array %s)", j.ID, j.EngineID, j.ArrayIndex, want)
		}
		if out := readAll(t, j.LogPath); out != "index "+strconv.Itoa(i)+" job "+strconv.FormatInt(j.ID, 10)+"\n" {
			t.Errorf("array job %d log: %q", j.ID, out)
		}
	}

	// 3b. --output/--error through Slurm: %j is runner's id of each task,
	// %x the name; stderr apart; runner logs reads the --output file.
	if err := os.Mkdir(filepath.Join(work, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	outArr := submit("--array", "0-1", "--name", "files", "--output", "out/%x-%j.out", "--error", "out/%j.err",
		"--", "sh", "-c", `echo "out $RUNNER_ARRAY_INDEX"; echo "err $RUNNER_JOB_ID" >&2`)
	h.eventually(30*time.Second, "the --output array done", func() bool {
		list = h.arrayJobs(outArr)
		return len(list) == 2 && list[0].State.Ended() && list[1].State.Ended()
	})
	for i, j := range list {
		id := strconv.FormatInt(j.ID, 10)
		if j.State != ledger.JobSucceeded {
			t.Errorf("--output array job %d %s (%s)", j.ID, j.State, j.Reason)
		}
		if out := readAll(t, filepath.Join(work, "out", "files-"+id+".out")); out != "out "+strconv.Itoa(i)+"\n" {
			t.Errorf("job %d's --output file: %q", j.ID, out)
		}
		if errs := readAll(t, filepath.Join(work, "out", id+".err")); errs != "err "+id+"\n" {
			t.Errorf("job %d's --error file: %q", j.ID, errs)
		}
		if out := h.runOK("logs", id); out != "out "+strconv.Itoa(i)+"\n" {
			t.Errorf("runner logs %s: %q; want its --output file", id, out)
		}
	}

	// 4. Cancel a running job.
	// Hold and release act in Slurm; requeue is refused (submit again).
	held := submit("--hold", "--", "true")
	h.eventually(10*time.Second, "the job held in Slurm", func() bool {
		return h.job(held).Reason == "slurm: JobHeldUser"
	})
	sheld := strconv.FormatInt(held, 10)
	if out := h.runOK("release", sheld); !strings.Contains(out, "released") {
		t.Errorf("release: %q", out)
	}
	h.waitJob(held, ledger.JobSucceeded)
	if _, errOut, code := h.code("requeue", sheld); code != 2 || !strings.Contains(errOut, "submit it again") {
		t.Errorf("requeue of a Slurm job: exit %d, %q", code, errOut)
	}
	waitOut, waitErr, waitCode := h.code("submit", "--cwd", work, "--wait", "--", "sh", "-c", "echo from-slurm; exit 3")
	if waitCode != 3 || !strings.Contains(waitOut, "from-slurm") {
		t.Errorf("submit --wait through Slurm: exit %d, %q %q", waitCode, waitOut, waitErr)
	}

	long := submit("--", "sleep", "300")
	h.waitJob(long, ledger.JobRunning)
	if _, errOut, code := h.code("hold", strconv.FormatInt(long, 10)); code != 1 || !strings.Contains(errOut, "is running: cannot hold it") {
		t.Errorf("hold of a running Slurm job: exit %d %q; want 1", code, errOut)
	}
	if out := h.runOK("cancel", strconv.FormatInt(long, 10)); !strings.Contains(out, "cancelled in slurm") {
		t.Errorf("cancel: %q", out)
	}
	jl := h.waitJob(long, ledger.JobCancelled)
	if st := slurmJobState(t, h.env, jl.EngineID); st != "CANCELLED" {
		t.Errorf("Slurm says the cancelled job is %s", st)
	}

	// 5. The daemon stops while Slurm jobs run: one ends meanwhile, one is
	// submitted meanwhile, one runs on; the next daemon records them all.
	gate2 := filepath.Join(work, "gate2")
	ends := submit("--", "sh", "-c", "sleep 1; exit 5")
	waits := submit("--", "sh", "-c", "while [ ! -e "+gate2+" ]; do sleep 0.1; done")
	h.waitJob(waits, ledger.JobRunning)
	h.stopDaemon()
	meanwhile := submit("--", "true")
	h.eventually(20*time.Second, "the first job ends in Slurm", func() bool {
		return slurmJobState(t, h.env, h.job(ends).EngineID) == "FAILED"
	})
	h.startDaemon("--executor", "slurm", "--gpus", "none")
	if je := h.waitJob(ends, ledger.JobFailed); je.ExitCode == nil || *je.ExitCode != 5 {
		t.Errorf("job that ended while the daemon was down: exit %v, want 5", je.ExitCode)
	}
	h.waitJob(meanwhile, ledger.JobSucceeded)
	if st := h.job(waits).State; st != ledger.JobRunning {
		t.Errorf("job still running in Slurm is %s after the restart", st)
	}
	if err := os.WriteFile(gate2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitJob(waits, ledger.JobSucceeded)
	h.stopDaemon()

	// 6. A user of the root daemon's socket submits to Slurm as themself,
	// and cancels there as themself.
	group, pub, why := testGroup(t, "rs")
	if why != "" {
		t.Logf("the socket caller's part is not run: %s", why)
		return
	}
	home := filepath.Join(pub, "carol")
	carol := localUser(t, group+"c", group, home)
	sock := filepath.Join(pub, "runner.sock")
	h.env = append(h.env, "RUNNER_SOCKET="+sock)
	env := append(append([]string{}, h.env...), "HOME="+home)
	saved := h.env
	// Without the user switch (runner.service without the Slurm drop-in;
	// setpriv drops it here) the caller is told, and the job recorded failed.
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		h.wrap = []string{setpriv, "--bounding-set", "-setuid,-setgid", "--"}
		h.startDaemon("--executor", "slurm", "--gpus", "none", "--socket-group", group)
		h.wrap = nil
		h.eventually(10*time.Second, "the daemon's socket", func() bool { _, err := os.Stat(sock); return err == nil })
		h.env = env
		out, errOut, code, _ := h.command(carol, 30*time.Second, "submit", "--cwd", home, "--", "true")
		h.env = saved
		if code != 1 || !strings.Contains(errOut, "the daemon may not switch users") || !strings.Contains(errOut, "runner-slurm.conf") {
			t.Errorf("submit as carol to a daemon that cannot become her: exit %d, %q %q", code, out, errOut)
		}
		h.stopDaemon()
	}
	h.startDaemon("--executor", "slurm", "--gpus", "none", "--socket-group", group)
	h.eventually(10*time.Second, "the daemon's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	h.env = env
	out, errOut, code, _ := h.command(carol, 30*time.Second, "submit", "--cwd", home, "--", "sh", "-c", "id -u; exec sleep 300")
	h.env = saved
	id, perr := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if code != 0 || perr != nil {
		t.Fatalf("carol's submit through the socket: exit %d, %q %q", code, out, errOut)
	}
	jc := h.waitJob(id, ledger.JobRunning)
	cmd := exec.Command("scontrol", "--oneliner", "show", "job", jc.EngineID)
	cmd.Env = h.env
	sc, _ := cmd.Output()
	if want := "UserId=" + group + "c(" + strconv.Itoa(int(carol.Uid)) + ")"; !strings.Contains(string(sc), want) {
		t.Errorf("Slurm job of carol's submit: want %s in %s", want, sc)
	}
	h.eventually(20*time.Second, "carol's job prints her uid", func() bool {
		b, _ := os.ReadFile(jc.LogPath)
		return string(b) == strconv.Itoa(int(carol.Uid))+"\n"
	})
	h.env = env
	out, errOut, code, _ = h.command(carol, 30*time.Second, "cancel", strconv.FormatInt(id, 10))
	h.env = saved
	if code != 0 {
		t.Fatalf("carol's cancel: exit %d %q %q", code, out, errOut)
	}
	h.waitJob(id, ledger.JobCancelled)
	h.stopDaemon()
}

// With accounting (slurmdbd), as a real cluster keeps it: exit codes and
// ends come from sacct's real output, and a job that ended while the daemon
// was down is recorded after a restart even once slurmctld has forgotten it
// (MinJobAge=2 here; without accounting it would be lost).
func TestSlurmExecutorWithAccounting(t *testing.T) {
	conf := slurmCluster(t, "--accounting", "--min-job-age", "2")
	h := newHarness(t, "SLURM_CONF="+conf)
	work := t.TempDir()
	submit := func(args ...string) int64 {
		return h.submit(append([]string{"--cwd", work}, args...)...)
	}
	forgotten := func(j ledger.Job) bool {
		cmd := exec.Command("scontrol", "--oneliner", "show", "job", j.EngineID)
		cmd.Env = h.env
		out, err := cmd.CombinedOutput()
		return err != nil && strings.Contains(string(out), "Invalid job id")
	}
	h.startDaemon("--executor", "slurm", "--gpus", "none")

	failed := submit("--", "sh", "-c", "exit 3")
	if j := h.waitJob(failed, ledger.JobFailed); j.ExitCode == nil || *j.ExitCode != 3 {
		t.Errorf("job exiting 3: exit code %v", j.ExitCode)
	}
	// sacct says 0:0 for a cancelled job: no exit code, not a success.
	long := submit("--", "sleep", "300")
	h.waitJob(long, ledger.JobRunning)
	h.runOK("cancel", strconv.FormatInt(long, 10))
	if j := h.waitJob(long, ledger.JobCancelled); j.ExitCode != nil {
		t.Errorf("cancelled job recorded exit code %d", *j.ExitCode)
	}
	// An array's tasks each get their own line from sacct.
	arr := submit("--array", "0-2", "--", "sh", "-c", "exit $RUNNER_ARRAY_INDEX")
	h.eventually(30*time.Second, "array ended", func() bool {
		list := h.arrayJobs(arr)
		for _, j := range list {
			if !j.State.Ended() {
				return false
			}
		}
		return len(list) == 3
	})
	for i, j := range h.arrayJobs(arr) {
		if j.ExitCode == nil || *j.ExitCode != i || (i == 0) != (j.State == ledger.JobSucceeded) {
			t.Errorf("array task %d: %s, exit code %v", i, j.State, j.ExitCode)
		}
	}

	// Ends while the daemon is down, past MinJobAge: only sacct remembers.
	ends := submit("--", "sh", "-c", "sleep 1; exit 5")
	h.waitJob(ends, ledger.JobRunning)
	h.stopDaemon()
	meanwhile := submit("--", "true")
	h.eventually(30*time.Second, "slurmctld forgets both jobs", func() bool {
		return forgotten(h.job(ends)) && forgotten(h.job(meanwhile))
	})
	h.startDaemon("--executor", "slurm", "--gpus", "none")
	if j := h.waitJob(ends, ledger.JobFailed); j.ExitCode == nil || *j.ExitCode != 5 {
		t.Errorf("job that ended while the daemon was down: exit code %v, want 5", j.ExitCode)
	}
	h.waitJob(meanwhile, ledger.JobSucceeded)
	h.stopDaemon()
}

// spread is "median (min-max)" of ds.
func spread(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return r(s[len(s)/2]) + " (" + r(s[0]) + "-" + r(s[len(s)-1]) + ")"
}
