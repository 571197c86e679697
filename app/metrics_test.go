package app

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// A port already taken fails the daemon's start with the address named.
func TestMetricsAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	root := t.TempDir()
	_, stderr, code := opsRun(context.Background(), "--db", filepath.Join(t.TempDir(), "l.db"), "daemon",
		"--watch", root, "--no-upload", "--metrics-addr", ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "metrics endpoint") || !strings.Contains(stderr, ln.Addr().String()) {
		t.Errorf("daemon with a taken metrics port: exit %d, stderr %q; want exit 1 naming the address", code, stderr)
	}
}
