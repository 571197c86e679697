package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	s := &Server{Path: path, Version: "v-test", Handle: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return path
}

func TestCallRunsTheCommandAsTheKernelSaysWhoCalls(t *testing.T) {
	path := serve(t, func(ctx context.Context, c Caller, req Request, stdout, stderr io.Writer) (int, string) {
		fmt.Fprintf(stdout, "uid=%d pid=%d args=%q cwd=%s\n", c.UID, c.PID, req.Args, req.Cwd)
		fmt.Fprintln(stderr, "a warning")
		return 3, "it failed"
	})
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o660 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v mode %v, want a 0660 socket", err, st.Mode())
	}
	var out, errOut bytes.Buffer
	code, line, err := Call(context.Background(), path, Request{Version: "v-test", Args: []string{"jobs", "--json"}, Cwd: "/somewhere"}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("uid=%d pid=%d args=[\"jobs\" \"--json\"] cwd=/somewhere\n", os.Getuid(), os.Getpid())
	if code != 3 || line != "it failed" || out.String() != want || errOut.String() != "a warning\n" {
		t.Errorf("got %d %q, stdout %q, stderr %q; want 3 %q, %q", code, line, out.String(), errOut.String(), "it failed", want)
	}
}

func TestProtocolMismatchIsSaid(t *testing.T) {
	called := false
	path := serve(t, func(context.Context, Caller, Request, io.Writer, io.Writer) (int, string) {
		called = true
		return 0, ""
	})
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(Request{Protocol: Protocol + 1, Version: "v-new", Args: []string{"jobs"}}); err != nil {
		t.Fatal(err)
	}
	var fr frame
	if err := json.NewDecoder(conn).Decode(&fr); err != nil {
		t.Fatal(err)
	}
	if !fr.End || fr.Exit != 1 || !strings.Contains(fr.Line, "this runner (v-new) speaks socket protocol 2 and the daemon (v-test) speaks 1") || called {
		t.Errorf("mismatch answered %+v (handler called: %v)", fr, called)
	}
}

// A client that goes away (Ctrl-C on `logs -f`) ends the command it started.
func TestClientGoneEndsTheCommand(t *testing.T) {
	ended := make(chan error, 1)
	path := serve(t, func(ctx context.Context, _ Caller, _ Request, stdout, _ io.Writer) (int, string) {
		fmt.Fprintln(stdout, "following")
		<-ctx.Done()
		ended <- ctx.Err()
		return 130, "interrupted"
	})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan struct{})
	w := writerFunc(func(p []byte) (int, error) { close(first); return len(p), nil })
	go func() {
		<-first
		cancel()
	}()
	if _, _, err := Call(ctx, path, Request{Args: []string{"logs"}}, w, io.Discard); err == nil {
		t.Error("a cancelled call returned no error")
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Error("handler context not cancelled")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command went on after its client left")
	}
}

func TestCallWithoutDaemon(t *testing.T) {
	_, _, err := Call(context.Background(), filepath.Join(t.TempDir(), "none.sock"), Request{}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), ErrNoDaemon.Error()) {
		t.Errorf("err = %v, want %v", err, ErrNoDaemon)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
