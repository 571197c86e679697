package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/ledger/ledgertest"
)

// metricsLedger holds one synced run (uploaded once), one active run whose
// log is corrupt, a running job on two GPUs and a queued job.
func metricsLedger(t *testing.T) *ledger.DB {
	t.Helper()
	ctx := context.Background()
	db := ledgertest.Open(t, "", ledger.Options{})
	root := t.TempDir()
	obs := func(id, readErr string) ledger.Observation {
		dir := filepath.Join(root, "offline-run-20250101_120000-"+id)
		return ledger.Observation{Dir: dir, LogPath: filepath.Join(dir, "run-"+id+".wandb"), Size: 100,
			MTime: time.Now().Add(-time.Hour), Meta: &ledger.Meta{RunID: id, Project: "p", ReadError: readErr}}
	}
	up, bad := obs("up1", ""), obs("bad1", "offset 7: bad checksum")
	if _, err := db.UpsertRuns(ctx, []ledger.Observation{up, bad}); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkReady(ctx, up.Dir, "test"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := db.Claim(ctx, "t", time.Hour, []string{up.Dir}); err != nil {
		t.Fatal(err)
	}
	if err := db.Complete(ctx, "t", []string{up.Dir}, ledger.Result{Outcome: ledger.OutcomeSuccess,
		Source: ledger.SourceUpload, StartedAt: start, CountAttempt: true}); err != nil {
		t.Fatal(err)
	}
	train, err := db.SubmitJob(ctx, ledger.JobSpec{Name: "train", Argv: []string{"python", "train.py"}, GPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SubmitJob(ctx, ledger.JobSpec{Name: "eval", Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.StartJob(ctx, train.ID, ledger.JobStart{GPUUUIDs: []string{"GPU-0", "GPU-1"}}); err != nil || !ok {
		t.Fatalf("start job: %v %v", ok, err)
	}
	return db
}

// A Prometheus scrape over loopback sees what the ledger holds, and changes
// to the ledger show up in the next scrape.
func TestMetricsEndpointReportsLedger(t *testing.T) {
	db := metricsLedger(t)
	logger := slog.New(slog.DiscardHandler)
	m, err := NewMetricsServer("127.0.0.1:0", "test", db, logger, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	scanned := time.Unix(1767225600, 0) // 2026-01-01
	m.LastScan = func() time.Time { return scanned }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	url := "http://" + m.Addr() + "/metrics"

	body := get(t, url)
	for _, want := range []string{
		`runner_runs{state="synced"} 1`,
		`runner_runs{state="active"} 1`,
		`runner_runs{state="pending"} 0`,
		`runner_uploads_total{outcome="success"} 1`,
		`runner_uploads_total{outcome="auth"} 0`,
		`runner_upload_duration_seconds_count 1`,
		`runner_upload_duration_seconds_bucket{le="+Inf"} 1`,
		`runner_oldest_pending_age_seconds 0`,
		`runner_jobs{state="running"} 1`,
		`runner_jobs{state="queued"} 1`,
		`runner_job_queue_wait_seconds_count 1`,
		`runner_gpu_allocated{gpu_uuid="GPU-0",job_id="1",job_name="train"} 1`,
		`runner_gpu_allocated{gpu_uuid="GPU-1",job_id="1",job_name="train"} 1`,
		`runner_reader_errors 1`,
		`runner_last_scan_timestamp_seconds 1.7672256e+09`,
		`runner_uploads_paused 0`,
		`runner_build_info{goversion="go`,
		`process_open_fds `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}

	if err := db.PauseUploads(context.Background(), ledger.Pause{Reason: "W&B rejected the API key"}); err != nil {
		t.Fatal(err)
	}
	if body := get(t, url); !strings.Contains(body, "runner_uploads_paused 1") {
		t.Error("after a pause the next scrape still shows runner_uploads_paused 0")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("metrics server did not stop within 5 s of cancel")
	}
	if c, err := net.DialTimeout("tcp", m.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("metrics port still accepts connections after the daemon stopped")
	}
}

// get returns the body of a 200 answer to GET url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}
