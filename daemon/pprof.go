package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// PprofServer serves net/http/pprof on its own mux (never
// http.DefaultServeMux, which any imported package could add handlers to),
// so a CPU profile of a live daemon can be taken: `go tool pprof
// http://127.0.0.1:6060/debug/pprof/profile?seconds=30`.
type PprofServer struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
}

// ErrNotLoopback is returned for a --pprof address that is not loopback:
// profiles and goroutine dumps show paths, projects and keys in flight, so
// they are never served beyond the host.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckLoopback says whether addr (host:port) names a loopback host:
// localhost or a loopback IP; an empty host (":6060") means every interface.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
}

// NewPprofServer listens on addr, which must be loopback (CheckLoopback).
func NewPprofServer(addr string, logger *slog.Logger) (*PprofServer, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, fmt.Errorf("pprof endpoint: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile answers after its ?seconds=.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return &PprofServer{ln: ln, srv: srv, logger: logger}, nil
}

// Addr is the address the endpoint listens on.
func (p *PprofServer) Addr() string { return p.ln.Addr().String() }

// Run serves until ctx is done, then shuts the server down.
func (p *PprofServer) Run(ctx context.Context) error {
	p.logger.Info("pprof endpoint listening", "addr", p.Addr(), "path", "/debug/pprof/")
	return ServeUntilDone(ctx, p.srv, p.ln, "pprof endpoint")
}
