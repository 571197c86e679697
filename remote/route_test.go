package remote

import "testing"

func TestSocketPath(t *testing.T) {
	tests := []struct{ flag, db, want string }{
		{"", SystemDB, SystemSocket},
		{"", "/home/ana/.local/state/runner/ledger.db", "/home/ana/.local/state/runner/api.sock"},
		{"/tmp/s.sock", SystemDB, "/tmp/s.sock"},
	}
	for _, tt := range tests {
		if got := SocketPath(tt.flag, tt.db); got != tt.want {
			t.Errorf("SocketPath(%q, %q) = %q, want %q", tt.flag, tt.db, got, tt.want)
		}
	}
}

// A command that only reads goes through the socket too (it is how a user
// who may not read the ledger sees jobs), and no command that changes more
// than a user's own jobs does (clean keeps to the caller's jobs there;
// pause and resume are root's: the socket says so to anyone else).
func TestWhichCommandsGoThroughTheSocket(t *testing.T) {
	for _, cmd := range []string{"submit", "jobs", "runs", "status", "logs", "cancel", "wait", "hold", "release", "requeue", "update", "clean", "pause", "resume"} {
		if !ViaSocket(cmd) {
			t.Errorf("%s does not go through the socket", cmd)
		}
	}
	for _, cmd := range []string{"gc", "skip", "backfill", "sync", "daemon", "config", "backup", "serve"} {
		if ViaSocket(cmd) {
			t.Errorf("%s goes through the socket", cmd)
		}
	}
	for _, cmd := range []string{"jobs", "runs", "status", "logs", "wait"} {
		if !ReadsOnly(cmd) || !ViaSocket(cmd) {
			t.Errorf("%s: ReadsOnly %v, ViaSocket %v; want both", cmd, ReadsOnly(cmd), ViaSocket(cmd))
		}
	}
	for _, cmd := range []string{"submit", "cancel", "hold", "release", "requeue", "update", "clean", "pause", "resume"} {
		if ReadsOnly(cmd) {
			t.Errorf("%s changes the ledger but is listed as read-only", cmd)
		}
	}
}
