package app

import (
	"context"
	"os"
	"testing"

	"github.com/runnerhq/runner/jobs"
)

// TestMain lets this test binary stand in for runner where a daemon started
// in-process re-executes "itself" (os.Executable) as a job supervisor or a
// spare one. Without it such a child would be the test binary running this
// whole package's tests again, for every spare the scheduler warms.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == jobs.SuperviseCommand {
		err := Run(context.Background(), append([]string{"runner"}, os.Args[1:]...), StdEnv())
		os.Exit(ExitCode(err))
	}
	os.Exit(m.Run())
}
