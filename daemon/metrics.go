package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/runnerhq/runner/ledger"
)

// Histogram bounds in seconds. Uploads take seconds to tens of minutes
// (--upload-timeout is 30m); queue waits range from instant to days.
var (
	uploadDurationBounds = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	queueWaitBounds      = []float64{1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600}
)

// MetricsServer serves the daemon's Prometheus metrics at /metrics. Every
// value is read from the ledger at scrape time (the ledger is the truth, and
// a backfill's uploads count too), through a private registry.
type MetricsServer struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
	// LastScan reports when the daemon last finished a full scan of its
	// trees (zero: none yet); nil leaves the metric out.
	LastScan func() time.Time
}

// NewMetricsServer listens on addr at once, so a taken port or a bad
// address fails the daemon's start instead of a scrape later.
func NewMetricsServer(addr, version string, db *ledger.DB, logger *slog.Logger, now func() time.Time) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	m := &MetricsServer{ln: ln, logger: logger}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&ledgerCollector{db: db, version: version, now: now, logger: logger, lastScan: func() time.Time {
		if m.LastScan == nil {
			return time.Time{}
		}
		return m.LastScan()
	}})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failing query leaves its metrics out; the rest still answers.
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	}))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return m, nil
}

// Addr is the address the endpoint listens on (the real port when addr asked for :0).
func (m *MetricsServer) Addr() string { return m.ln.Addr().String() }

// Run serves until ctx is done, then shuts the server down.
func (m *MetricsServer) Run(ctx context.Context) error {
	m.logger.Info("metrics endpoint listening", "addr", m.Addr(), "path", "/metrics")
	return ServeUntilDone(ctx, m.srv, m.ln, "metrics endpoint")
}

// ServeUntilDone serves srv on ln until ctx is done, then shuts it down
// (2 s for requests in flight): the daemon's HTTP endpoints end the same way.
func ServeUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, what string) error {
	addr := ln.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s %s: %w", what, addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s %s: %w", what, addr, err)
	}
	return nil
}

var (
	descRuns          = prometheus.NewDesc("runner_runs", "Runs in the ledger by sync state.", []string{"state"}, nil)
	descUploads       = prometheus.NewDesc("runner_uploads_total", "Upload attempts (one wandb sync call each) by outcome.", []string{"outcome"}, nil)
	descUploadSeconds = prometheus.NewDesc("runner_upload_duration_seconds", "Wall time of finished upload attempts.", nil, nil)
	descOldestPending = prometheus.NewDesc("runner_oldest_pending_age_seconds", "Age of the longest-waiting pending run (0 when none is pending).", nil, nil)
	descJobs          = prometheus.NewDesc("runner_jobs", "GPU jobs by state.", []string{"state"}, nil)
	descQueueWait     = prometheus.NewDesc("runner_job_queue_wait_seconds", "How long started jobs waited in the queue.", nil, nil)
	descOldestQueued  = prometheus.NewDesc("runner_oldest_queued_job_age_seconds", "Age of the longest-waiting queued job (0 when none is queued).", nil, nil)
	descGPUAlloc      = prometheus.NewDesc("runner_gpu_allocated", "1 for each GPU held by a running job.", []string{"gpu_uuid", "job_id", "job_name"}, nil)
	descReadErrors    = prometheus.NewDesc("runner_reader_errors", "Runs whose .wandb log could not be read to the end (corrupt or foreign file).", nil, nil)
	descLastScan      = prometheus.NewDesc("runner_last_scan_timestamp_seconds", "Unix time the daemon last finished a full scan of its watched trees.", nil, nil)
	descPaused        = prometheus.NewDesc("runner_uploads_paused", "1 while uploads are paused (bad API key, missing wandb CLI).", nil, nil)
	descBuildInfo     = prometheus.NewDesc("runner_build_info", "Always 1; labels say which runner serves the metrics.", []string{"version", "goversion"}, nil)
)

// ledgerCollector reads the ledger on every scrape: simple, and always
// consistent with what `runner status` says.
type ledgerCollector struct {
	db       *ledger.DB
	version  string
	now      func() time.Time
	logger   *slog.Logger
	lastScan func() time.Time
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuns, descUploads, descUploadSeconds, descOldestPending, descJobs,
		descQueueWait, descOldestQueued, descGPUAlloc, descReadErrors, descLastScan, descPaused, descBuildInfo} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	// Collect has no context; a scrape must not hang on a locked ledger.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.now()
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.version, runtime.Version())
	fail := func(d *prometheus.Desc, err error) {
		c.logger.Warn("metrics: ledger query failed", "err", err)
		ch <- prometheus.NewInvalidMetric(d, err)
	}

	if counts, err := c.db.Counts(ctx); err != nil {
		fail(descRuns, err)
	} else {
		for _, s := range ledger.AllStates {
			ch <- prometheus.MustNewConstMetric(descRuns, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	if oldest, err := c.db.OldestPending(ctx); err != nil {
		fail(descOldestPending, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descOldestPending, prometheus.GaugeValue, ageSeconds(now, oldest))
	}
	if outs, err := c.db.UploadOutcomes(ctx); err != nil {
		fail(descUploads, err)
	} else {
		for _, o := range []string{ledger.OutcomeSuccess, ledger.OutcomeAuth, ledger.OutcomeTransient, ledger.OutcomeOther} {
			ch <- prometheus.MustNewConstMetric(descUploads, prometheus.CounterValue, float64(outs[o]), o)
		}
	}
	if h, err := c.db.UploadDurations(ctx, uploadDurationBounds); err != nil {
		fail(descUploadSeconds, err)
	} else {
		ch <- constHistogram(descUploadSeconds, h)
	}
	var scopes []string
	if d, err := c.db.DaemonState(ctx); err == nil && d != nil {
		scopes = d.UploadScopes
	}
	if _, paused, err := c.db.UploadsPaused(ctx, scopes); err != nil {
		fail(descPaused, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, boolFloat(paused))
	}
	if n, err := c.db.ReadErrors(ctx); err != nil {
		fail(descReadErrors, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descReadErrors, prometheus.GaugeValue, float64(n))
	}
	if jobs, err := c.db.JobCounts(ctx); err != nil {
		fail(descJobs, err)
	} else {
		for _, s := range ledger.AllJobStates {
			ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(jobs[s]), string(s))
		}
	}
	if h, err := c.db.QueueWaits(ctx, queueWaitBounds); err != nil {
		fail(descQueueWait, err)
	} else {
		ch <- constHistogram(descQueueWait, h)
	}
	if oldest, err := c.db.OldestQueued(ctx); err != nil {
		fail(descOldestQueued, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descOldestQueued, prometheus.GaugeValue, ageSeconds(now, oldest))
	}
	if allocs, err := c.db.GPUAllocations(ctx); err != nil {
		fail(descGPUAlloc, err)
	} else {
		for _, a := range allocs {
			ch <- prometheus.MustNewConstMetric(descGPUAlloc, prometheus.GaugeValue, 1,
				a.GPUUUID, strconv.FormatInt(a.JobID, 10), a.JobName)
		}
	}
	if t := c.lastScan(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLastScan, prometheus.GaugeValue, float64(t.UnixMilli())/1000)
	}
}

func constHistogram(d *prometheus.Desc, h ledger.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}

func ageSeconds(now time.Time, since *time.Time) float64 {
	if since == nil {
		return 0
	}
	return max(now.Sub(*since).Seconds(), 0)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
