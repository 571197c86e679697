// Package browser drives a headless Chromium for tests that must see a page
// as a person's browser shows it (the HTML report): the DOM after its
// scripts ran, and a screenshot.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Env names the browser to use: a path, or "none" to leave the browser
// tests out (CI runs them in their own step, once its install is done).
const Env = "RUNNER_TEST_BROWSER"

// ErrNone means no browser is available; the message says how to get one.
var ErrNone = errors.New("no headless browser")

// Browser is one Chromium executable.
type Browser struct {
	Path string
	// Profile is a fresh profile dir (Chromium refuses to share one).
	Profile string
}

// Find returns the browser Env names, else the first Chromium on PATH.
func Find(profileDir string) (*Browser, error) {
	switch p := os.Getenv(Env); p {
	case "none":
		return nil, fmt.Errorf("%w: %s=none", ErrNone, Env)
	case "":
	default:
		return &Browser{Path: p, Profile: profileDir}, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return &Browser{Path: p, Profile: profileDir}, nil
		}
	}
	return nil, fmt.Errorf("%w: no chromium on PATH (Debian: apt-get install chromium; or set %s)", ErrNone, Env)
}

// run runs Chromium headless on url with extra flags and returns stdout.
// The virtual time budget lets the page's scripts and timers run to
// completion without the test sleeping.
func (b *Browser) run(ctx context.Context, url string, extra ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-dev-shm-usage", "--user-data-dir=" + b.Profile, "--virtual-time-budget=10000",
		"--window-size=1280,2000",
	}, extra...)
	cmd := exec.CommandContext(ctx, b.Path, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(b.Path), url, err, tail(stderr.String(), 2000))
	}
	return out, nil
}

// DOM returns the page's DOM after its scripts ran, serialised as HTML.
func (b *Browser) DOM(ctx context.Context, url string) ([]byte, error) {
	return b.run(ctx, url, "--dump-dom")
}

// Screenshot saves a PNG of the page's first 1280x2000 pixels to png.
func (b *Browser) Screenshot(ctx context.Context, url, png string) error {
	if _, err := b.run(ctx, url, "--screenshot="+png, "--hide-scrollbars"); err != nil {
		return err
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		return fmt.Errorf("screenshot %s: not written (%v)", png, err)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
