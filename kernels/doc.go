// Package kernels holds the numeric side of runner: streaming per-metric
// summaries of a run's history, goal rules (is lower or higher better),
// robust regression checks against a baseline of earlier runs, run
// comparison, leaderboard ordering and GPU telemetry aggregation (charts are
// package plot).
//
// Everything here is pure computation over values handed in by the caller
// (the .wandb reader, the ledger, the job sampler); nothing reads files,
// the database or the clock, so every result is reproducible in a test.
package kernels
