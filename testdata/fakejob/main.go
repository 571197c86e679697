// Command fakejob is a pipeline stage for tests: it writes an offline W&B
// run dir under $WANDB_DIR/wandb/ for run $WANDB_RUN_ID, the way a training
// or evaluation script using wandb in offline mode would, and exits.
//
//	fakejob -stage train|eval [-exit N] [-sleep D] [-wait FILE]
//
// train logs a few history rows of train/loss; eval logs eval/nrmse as a
// summary. -wait holds the run open until FILE exists, -sleep before the
// exit record, so tests can see a stage still running.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/runnerhq/runner/wandbfile/wandbtest"
)

func main() {
	stage := flag.String("stage", "train", "train or eval")
	exit := flag.Int("exit", 0, "exit code (also written to the exit record)")
	sleep := flag.Duration("sleep", 0, "sleep before writing the exit record")
	wait := flag.String("wait", "", "wait until this file exists before writing the exit record")
	score := flag.Float64("score", 0.12, "the eval stage's eval/nrmse (a sweep passes --score V)")
	flag.Parse()
	if err := run(*stage, *exit, *sleep, *wait, *score); err != nil {
		fmt.Fprintln(os.Stderr, "fakejob:", err)
		os.Exit(1)
	}
	os.Exit(*exit)
}

func run(stage string, code int, sleep time.Duration, wait string, score float64) error {
	id, dir := os.Getenv("WANDB_RUN_ID"), os.Getenv("WANDB_DIR")
	if id == "" || dir == "" {
		return fmt.Errorf("WANDB_RUN_ID and WANDB_DIR must be set")
	}
	fmt.Printf("stage %s of run %s (job %s) on GPUs %q\n", stage, id, os.Getenv("RUNNER_JOB_ID"), os.Getenv("CUDA_VISIBLE_DEVICES"))
	start := time.Now()
	// Two stages may start within one second: wandb would pick another
	// timestamp, a suffix keeps the names apart here.
	base := filepath.Join(dir, "wandb", "offline-run-"+start.Format("20060102_150405")+"-"+id)
	runDir := base
	for n := 1; ; n++ {
		if _, err := os.Stat(runDir); os.IsNotExist(err) {
			break
		}
		runDir = base + "-" + strconv.Itoa(n)
	}
	if err := os.MkdirAll(filepath.Join(runDir, "files"), 0o755); err != nil {
		return err
	}
	w, err := wandbtest.Create(filepath.Join(runDir, "run-"+id+".wandb"), wandbtest.Options{})
	if err != nil {
		return err
	}
	check := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakejob:", err)
			os.Exit(1)
		}
	}
	check(w.Header(0))
	check(w.Run(wandbtest.Run{ID: id, Project: "pipeline", Name: "pipeline " + id, Group: os.Getenv("WANDB_RUN_GROUP"),
		StartTime: start, CLIVersion: "0.23.0"}))
	switch stage {
	case "train":
		for i := range 5 {
			check(w.Row(int64(i), float64(i), start, map[string]float64{"train/loss": 1 / float64(i+1)}))
		}
	case "eval":
		check(w.Summary([]wandbtest.Item{wandbtest.Float("eval/nrmse", score)}, nil))
	default:
		return fmt.Errorf("unknown stage %q", stage)
	}
	check(w.Flush())
	for wait != "" {
		if _, err := os.Stat(wait); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(sleep)
	check(w.Exit(int32(code), int32(time.Since(start).Seconds())))
	return w.Close()
}
