// Package remote carries runner's commands over the daemon's unix socket, so
// that users who may not write the ledger (a root daemon serving every user
// of the box) still submit, list, follow and cancel jobs (docs/design.md
// "Every user, one daemon"). The caller is who the kernel says it is
// (SO_PEERCRED), never what it claims.
//
// The protocol is one JSON request from the client, then JSON frames from
// the server: output chunks for stdout and stderr, and one final frame with
// the exit code. Both sides send Protocol; a mismatch is an error that says
// so, never a misread.
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Protocol is the version of the request and frame shapes below. Bump it on
// any change a peer of the other version would misread.
const Protocol = 1

// maxRequest bounds a request (the caller's environment is most of it).
const maxRequest = 4 << 20

// requestWait bounds how long a connection may take to send its request.
const requestWait = 10 * time.Second

// maxConns bounds the connections served at once; more wait in the backlog.
const maxConns = 64

// Request is what the client sends.
type Request struct {
	Protocol int      `json:"protocol"`
	Version  string   `json:"version"` // runner's version, for the mismatch message
	Args     []string `json:"args"`    // the command and its arguments, without runner's global flags
	Env      []string `json:"env"`     // the caller's environment (submit captures it)
	Cwd      string   `json:"cwd"`
	Terminal bool     `json:"terminal"` // the caller's stdout is a terminal
	Width    int      `json:"width"`    // its width in columns, 0 if not a terminal
}

// Getenv reads the caller's environment, with the names in hidden read as
// unset (the daemon's ledger and socket, never ones the caller names).
func (r Request) Getenv(hidden ...string) func(string) string {
	vars := map[string]string{}
	for _, kv := range r.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && !slices.Contains(hidden, k) {
			vars[k] = v
		}
	}
	return func(k string) string { return vars[k] }
}

// frame is one message from the server: an output chunk or the end.
type frame struct {
	Out      []byte `json:"o,omitempty"`
	Err      []byte `json:"e,omitempty"`
	End      bool   `json:"end,omitempty"`
	Exit     int    `json:"exit"`
	Line     string `json:"line,omitempty"` // the one-line error the caller prints
	Protocol int    `json:"protocol,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Caller is the peer of a connection, from the kernel.
type Caller struct {
	UID, GID int
	PID      int
}

// Handler runs one request for caller, writing its output to stdout and
// stderr, and returns the exit code and the error line to print ("" for
// none). ctx ends when the client goes away or the daemon stops.
type Handler func(ctx context.Context, caller Caller, req Request, stdout, stderr io.Writer) (exit int, line string)

// Server serves a Handler on a unix socket.
type Server struct {
	Path    string      // socket path
	Mode    os.FileMode // default 0o660
	Group   string      // group that may connect ("": leave the daemon's)
	Version string
	Handle  Handler
	Logger  *slog.Logger

	ln net.Listener
}

// Listen creates the socket (replacing a stale one: the daemon holds its
// lock, so nobody else serves it) with its mode and group.
func (s *Server) Listen() error {
	if s.Mode == 0 {
		s.Mode = 0o660
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return fmt.Errorf("socket %s: %w", s.Path, err)
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("socket %s: remove stale: %w", s.Path, err)
	}
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		return fmt.Errorf("socket %s: %w", s.Path, err)
	}
	if s.Group != "" {
		g, err := user.LookupGroup(s.Group)
		if err != nil {
			ln.Close()
			return fmt.Errorf("socket %s: group: %w", s.Path, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(s.Path, -1, gid); err != nil {
			ln.Close()
			return fmt.Errorf("socket %s: %w", s.Path, err)
		}
	}
	if err := os.Chmod(s.Path, s.Mode); err != nil {
		ln.Close()
		return fmt.Errorf("socket %s: %w", s.Path, err)
	}
	s.ln = ln
	return nil
}

// Run serves until ctx ends; Listen must have succeeded.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxConns)
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				_ = os.Remove(s.Path)
				return nil
			}
			s.Logger.Warn("socket accept", "path", s.Path, "err", err)
			select {
			case <-ctx.Done():
				continue
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serve(ctx, conn.(*net.UnixConn))
		}()
	}
}

// PeerCred is the kernel's word on who is at the other end of conn.
func PeerCred(conn *net.UnixConn) (Caller, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return Caller{}, err
	}
	var (
		cred *syscall.Ucred
		cerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Caller{}, err
	}
	if cerr != nil {
		return Caller{}, cerr
	}
	return Caller{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}, nil
}

func (s *Server) serve(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	caller, err := PeerCred(conn)
	if err != nil {
		s.Logger.Warn("socket: peer credentials", "err", err)
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(requestWait))
	var req Request
	dec := json.NewDecoder(io.LimitReader(conn, maxRequest))
	out := &frames{enc: json.NewEncoder(conn)}
	if err := dec.Decode(&req); err != nil {
		out.end(frame{Exit: 2, Line: fmt.Sprintf("daemon socket: unreadable request: %v", err), Protocol: Protocol, Version: s.Version})
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if req.Protocol != Protocol {
		out.end(frame{Exit: 1, Protocol: Protocol, Version: s.Version, Line: fmt.Sprintf(
			"this runner (%s) speaks socket protocol %d and the daemon (%s) speaks %d: use the same runner version for both",
			req.Version, req.Protocol, s.Version, Protocol)})
		return
	}
	// The client closing its end (Ctrl-C on `runner logs -f`) ends the call.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		cancel()
	}()
	s.Logger.Debug("socket call", "uid", caller.UID, "pid", caller.PID, "command", first(req.Args))
	exit, line := s.Handle(cctx, caller, req, out.writer(false), out.writer(true))
	out.end(frame{Exit: exit, Line: line, Protocol: Protocol, Version: s.Version})
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// frames writes frames from the handler's two streams, one at a time.
type frames struct {
	mu     sync.Mutex
	enc    *json.Encoder
	broken bool
}

type frameWriter struct {
	f      *frames
	stderr bool
}

func (f *frames) writer(stderr bool) io.Writer { return frameWriter{f, stderr} }

func (w frameWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if w.f.broken {
		return 0, io.ErrClosedPipe
	}
	fr := frame{Out: p}
	if w.stderr {
		fr = frame{Err: p}
	}
	if err := w.f.enc.Encode(fr); err != nil {
		w.f.broken = true
		return 0, err
	}
	return len(p), nil
}

func (f *frames) end(fr frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fr.End = true
	if !f.broken {
		_ = f.enc.Encode(fr)
	}
}

// ErrNoDaemon: nothing serves the socket (no daemon, or it is down).
var ErrNoDaemon = errors.New("no daemon is listening")

// Call sends req to the daemon at path and copies its output to stdout and
// stderr until the end; it returns the command's exit code and error line.
// Ending ctx closes the connection, which ends the command in the daemon.
func Call(ctx context.Context, path string, req Request, stdout, stderr io.Writer) (exit int, line string, err error) {
	req.Protocol = Protocol
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return 0, "", fmt.Errorf("daemon socket %s: %w", path, ErrNoDaemon)
		}
		return 0, "", fmt.Errorf("daemon socket %s: %w", path, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return 0, "", fmt.Errorf("daemon socket %s: send: %w", path, err)
	}
	dec := json.NewDecoder(conn)
	for {
		var fr frame
		if err := dec.Decode(&fr); err != nil {
			if ctx.Err() != nil {
				return 0, "", ctx.Err()
			}
			return 0, "", fmt.Errorf("daemon socket %s: the daemon ended the call without an exit code (%v)", path, err)
		}
		switch {
		case fr.End:
			if fr.Protocol != 0 && fr.Protocol != Protocol && fr.Line == "" {
				fr.Exit, fr.Line = 1, fmt.Sprintf("this runner (%s) speaks socket protocol %d and the daemon (%s) speaks %d: use the same runner version for both",
					req.Version, Protocol, fr.Version, fr.Protocol)
			}
			return fr.Exit, fr.Line, nil
		case fr.Out != nil:
			if _, err := stdout.Write(fr.Out); err != nil {
				return 0, "", err
			}
		case fr.Err != nil:
			if _, err := stderr.Write(fr.Err); err != nil {
				return 0, "", err
			}
		}
	}
}
