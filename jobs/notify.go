package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// SockName is the notification socket's file name, next to the ledger.
const SockName = "runner.sock"

// SockPath is the notification socket of the ledger at ledgerPath.
func SockPath(ledgerPath string) string {
	return filepath.Join(filepath.Dir(ledgerPath), SockName)
}

// Poke tells the daemon listening on sockPath that the ledger changed
// (a submit or a cancel), so it plans at once instead of at its next tick.
// It is best effort: with no daemon listening nothing happens, and the
// daemon's periodic reconcile still finds the change.
func Poke(sockPath string) {
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	// A full receive buffer means a wake-up is already pending: do not block.
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.Write([]byte{1})
}

// Listener receives pokes on a unix datagram socket.
type Listener struct {
	conn *net.UnixConn
	path string
	c    chan struct{}
	done chan struct{}
}

// Listen binds sockPath (replacing a stale socket left by a crashed
// daemon) and returns a listener whose C receives after one or more pokes.
// The socket gets mode's permission bits: those who may write the ledger
// (and so submit) may poke.
func Listen(sockPath string, mode fs.FileMode) (*Listener, error) {
	if st, err := os.Lstat(sockPath); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("listen %s: exists and is not a socket", sockPath)
		}
		// Left by a daemon that crashed: binding needs the name free.
		if err := os.Remove(sockPath); err != nil {
			return nil, fmt.Errorf("listen %s: remove stale socket: %w", sockPath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listen %s: %w", sockPath, err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", sockPath, err)
	}
	if err := os.Chmod(sockPath, mode.Perm()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("listen %s: %w", sockPath, err)
	}
	l := &Listener{conn: conn, path: sockPath, c: make(chan struct{}, 1), done: make(chan struct{})}
	go l.read()
	return l, nil
}

func (l *Listener) read() {
	defer close(l.done)
	buf := make([]byte, 16)
	for {
		if _, _, err := l.conn.ReadFromUnix(buf); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case l.c <- struct{}{}:
		default: // a wake-up is already pending; pokes coalesce
		}
	}
}

// C receives after pokes; several pokes before a receive count as one.
func (l *Listener) C() <-chan struct{} { return l.c }

// Close stops listening and removes the socket file.
func (l *Listener) Close() error {
	err := l.conn.Close()
	<-l.done
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
