package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/runnerhq/runner/ledger"
)

// Only root may clean another user's jobs; a user may clean their own.
func TestCleanOfAnotherUsersJobs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		callerUID  int
		callerName string
		owner      string
		err        error
		cleaned    int
	}{
		{"root, someone's", 0, "root", "bob", nil, 1},
		{"a user, their own", 1001, "alice", "alice", nil, 1},
		{"a user, another's", 1001, "alice", "bob", ErrOthersJobs, 0},
		{"a user, everyone's", 1001, "alice", "", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var ids []int64
			for _, owner := range []string{"alice", "bob"} {
				j, err := db.SubmitJob(ctx, ledger.JobSpec{Argv: []string{"true"}, Cwd: "/", Owner: owner, OwnerUID: 1000 + len(owner)})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, j.ID)
			}
			if _, err := db.RefuseJobs(ctx, ids, "test"); err != nil {
				t.Fatal(err)
			}
			r, err := Clean(ctx, db, CleanOptions{Owner: tc.owner, CallerUID: tc.callerUID, CallerName: tc.callerName})
			if !errors.Is(err, tc.err) || r.Jobs != tc.cleaned {
				t.Errorf("clean: %d jobs, %v; want %d, %v", r.Jobs, err, tc.cleaned, tc.err)
			}
		})
	}
}
