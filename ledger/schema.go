package ledger

// migrations are applied in order; migration i (0-based) brings the file to
// user_version i+1. Never edit a shipped entry: append a new one (the jobs
// table comes next).
var migrations = []string{
	// 1: runs, uploads, events, daemon heartbeat, settings.
	`
CREATE TABLE runs (
	dir              TEXT PRIMARY KEY,
	base             TEXT NOT NULL,               -- last path element of dir, for selectors
	log_path         TEXT NOT NULL,
	group_key        TEXT NOT NULL,               -- project/run_id, or dir without a run id
	run_id           TEXT NOT NULL DEFAULT '',
	entity           TEXT NOT NULL DEFAULT '',
	project          TEXT NOT NULL DEFAULT '',
	name             TEXT NOT NULL DEFAULT '',
	run_group        TEXT NOT NULL DEFAULT '',
	job_type         TEXT NOT NULL DEFAULT '',
	tags             TEXT NOT NULL DEFAULT '[]',  -- JSON array
	start_time       INTEGER,                     -- unix ms UTC
	wandb_version    TEXT NOT NULL DEFAULT '',
	finished         INTEGER NOT NULL DEFAULT 0,
	footer           INTEGER NOT NULL DEFAULT 0,
	exit_code        INTEGER,
	runtime_s        INTEGER,
	torn_tail        INTEGER NOT NULL DEFAULT 0,
	read_error       TEXT NOT NULL DEFAULT '',
	history_rows     INTEGER NOT NULL DEFAULT 0,
	history_keys     TEXT NOT NULL DEFAULT '[]',  -- JSON array
	records_json     TEXT NOT NULL DEFAULT '',
	summary_json     TEXT NOT NULL DEFAULT '',
	config_json      TEXT NOT NULL DEFAULT '',
	good_offset      INTEGER NOT NULL DEFAULT 0,
	empty            INTEGER NOT NULL DEFAULT 0,
	size             INTEGER NOT NULL DEFAULT 0,
	mtime            INTEGER NOT NULL DEFAULT 0,
	state            TEXT NOT NULL CHECK (state IN ('active', 'pending', 'uploading', 'synced', 'failed', 'skipped', 'missing')),
	reason           TEXT NOT NULL DEFAULT '',
	source           TEXT NOT NULL DEFAULT '' CHECK (source IN ('', 'upload', 'repaired', 'marker')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  INTEGER,
	lease_owner      TEXT NOT NULL DEFAULT '',
	lease_expires_at INTEGER,
	last_error       TEXT NOT NULL DEFAULT '',
	url              TEXT NOT NULL DEFAULT '',
	synced_at        INTEGER,
	job_id           INTEGER,
	first_seen       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	changed_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX runs_state_next ON runs (state, next_attempt_at);
CREATE INDEX runs_group ON runs (group_key);
CREATE INDEX runs_run_id ON runs (run_id);
CREATE INDEX runs_base ON runs (base);
CREATE INDEX runs_first_seen ON runs (first_seen, dir);

-- One row per upload attempt of a group (one wandb sync call).
CREATE TABLE uploads (
	id          INTEGER PRIMARY KEY,
	run_id      TEXT NOT NULL DEFAULT '',
	group_key   TEXT NOT NULL,
	dirs        TEXT NOT NULL,                   -- JSON array, oldest first
	owner       TEXT NOT NULL,
	started_at  INTEGER NOT NULL,
	ended_at    INTEGER,
	outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'auth', 'transient', 'other')),
	source      TEXT NOT NULL DEFAULT '',
	exit_code   INTEGER,
	output_tail TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	url         TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX uploads_outcome ON uploads (outcome, ended_at);

-- Which runs an upload attempt covered (Attempts(dir) without scanning JSON).
CREATE TABLE upload_runs (
	upload_id INTEGER NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
	dir       TEXT NOT NULL REFERENCES runs (dir) ON DELETE CASCADE,
	PRIMARY KEY (dir, upload_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	message TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_kind ON events (kind, id);

CREATE TABLE daemon (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	pid          INTEGER NOT NULL,
	host         TEXT NOT NULL,
	version      TEXT NOT NULL,
	started_at   INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL,
	watch        TEXT NOT NULL DEFAULT '[]',     -- JSON array
	up           INTEGER NOT NULL,
	stopped_at   INTEGER
) STRICT;

CREATE TABLE settings (
	key        TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
`,
	// 2: the GPU job queue (jobs issue). Every state change also writes an
	// events row of kind "job.state".
	`
CREATE TABLE jobs (
	id               INTEGER PRIMARY KEY,
	name             TEXT NOT NULL DEFAULT '',
	argv             TEXT NOT NULL,                -- JSON array
	cwd              TEXT NOT NULL DEFAULT '',
	env              TEXT NOT NULL DEFAULT '[]',   -- JSON array of --env K=V (never secrets)
	gpus             INTEGER NOT NULL DEFAULT 0 CHECK (gpus >= 0),
	gpu_mem          INTEGER NOT NULL DEFAULT 0,   -- bytes free per GPU; 0 = any
	priority         INTEGER NOT NULL DEFAULT 0,
	retries          INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
	attempts         INTEGER NOT NULL DEFAULT 0,
	timeout_ms       INTEGER NOT NULL DEFAULT 0,   -- 0 = none
	after_ids        TEXT NOT NULL DEFAULT '[]',   -- JSON array of job ids
	same_run         INTEGER NOT NULL DEFAULT 0,
	run_id           TEXT NOT NULL,                -- WANDB_RUN_ID
	state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped', 'lost')),
	reason           TEXT NOT NULL DEFAULT '',
	submitted_at     INTEGER NOT NULL,
	started_at       INTEGER,
	ended_at         INTEGER,
	exit_code        INTEGER,
	signal           TEXT NOT NULL DEFAULT '',
	gpu_uuids        TEXT NOT NULL DEFAULT '[]',   -- JSON array
	supervisor_pid   INTEGER NOT NULL DEFAULT 0,
	pid              INTEGER NOT NULL DEFAULT 0,
	pgid             INTEGER NOT NULL DEFAULT 0,
	start_ticks      INTEGER NOT NULL DEFAULT 0,
	log_path         TEXT NOT NULL DEFAULT '',
	status_path      TEXT NOT NULL DEFAULT '',
	cancel_requested INTEGER NOT NULL DEFAULT 0,
	peak_mem         INTEGER,
	mean_util        REAL,
	energy_j         REAL
) STRICT;
CREATE INDEX jobs_state ON jobs (state, priority, submitted_at);
CREATE INDEX jobs_run_id ON jobs (run_id, state);
`,
	// 3 (after the jobs migration): metrics: per-key history summaries of each run dir (replaced whenever
	// the run's metadata is re-read); regressions: flagged by the daemon when
	// a run becomes ready (issue 5).
	`
CREATE TABLE metrics (
	dir         TEXT NOT NULL REFERENCES runs (dir) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	goal        TEXT NOT NULL DEFAULT 'unknown' CHECK (goal IN ('unknown', 'lower', 'higher')),
	goal_source TEXT NOT NULL DEFAULT '' CHECK (goal_source IN ('', 'log', 'rule')),
	count       INTEGER NOT NULL DEFAULT 0,
	non_numeric INTEGER NOT NULL DEFAULT 0,
	non_finite  INTEGER NOT NULL DEFAULT 0,
	last        REAL,                            -- NULL when count = 0
	min         REAL,
	max         REAL,
	mean        REAL,
	std         REAL,
	best_step   INTEGER,                         -- NULL when the goal is unknown
	ema         REAL,
	slope       REAL,                            -- NULL with fewer than 2 distinct steps
	first_step  INTEGER,
	last_step   INTEGER,
	PRIMARY KEY (dir, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX metrics_key ON metrics (key, goal_source);

CREATE TABLE regressions (
	id               INTEGER PRIMARY KEY,
	at               INTEGER NOT NULL,            -- unix ms UTC of the evaluation
	dir              TEXT NOT NULL REFERENCES runs (dir) ON DELETE CASCADE,
	run_id           TEXT NOT NULL DEFAULT '',
	project          TEXT NOT NULL DEFAULT '',
	metric           TEXT NOT NULL,
	goal             TEXT NOT NULL CHECK (goal IN ('unknown', 'lower', 'higher')),
	value            REAL,                        -- NULL for NaN
	baseline_n       INTEGER NOT NULL,
	median           REAL,
	mad              REAL,
	z                REAL,
	rel_change       REAL,
	baseline_run_ids TEXT NOT NULL DEFAULT '[]',  -- JSON array, newest first
	reason           TEXT NOT NULL DEFAULT '',
	UNIQUE (dir, metric)
) STRICT;
CREATE INDEX regressions_at ON regressions (at);
`,
	// 4 (issue 6, retention): runner gc deletes the local dir of a synced run
	// and records when; the run stays synced.
	`
ALTER TABLE runs ADD COLUMN deleted_at INTEGER;  -- unix ms UTC when runner gc deleted the dir; NULL: on disk
CREATE INDEX runs_gc ON runs (state, deleted_at, synced_at);
`,
	// 5: Claim walks pending runs oldest first and stops at the first
	// claimable group, instead of grouping every pending run per claim.
	`
CREATE INDEX runs_pending_order ON runs (state, first_seen, group_key);
`,
	// 6 (issue 12, batched uploads): a run whose batched call failed for a
	// reason not its own goes up alone next time.
	`
ALTER TABLE runs ADD COLUMN upload_alone INTEGER NOT NULL DEFAULT 0;
`,
	// 7 (issue 12, scoped pauses): a pause holds only the processes with
	// the configuration that hit it; the daemon records its own.
	`
CREATE TABLE pauses (
	scope  TEXT PRIMARY KEY,            -- key:<hash>, cli:<hash>, or all
	reason TEXT NOT NULL,
	config TEXT NOT NULL DEFAULT '',    -- what the scope stands for, for people (never the key)
	by     TEXT NOT NULL DEFAULT '',    -- the process that paused: host:pid:...
	since  INTEGER NOT NULL             -- unix ms UTC
) STRICT;
INSERT INTO pauses (scope, reason, since) SELECT 'all', value, updated_at FROM settings WHERE key = 'uploads.paused';
DELETE FROM settings WHERE key = 'uploads.paused';
ALTER TABLE daemon ADD COLUMN upload_scopes TEXT NOT NULL DEFAULT '[]';  -- JSON array: the daemon's pause scopes
ALTER TABLE daemon ADD COLUMN uploads_on INTEGER NOT NULL DEFAULT 1;     -- 0: started with --no-upload
ALTER TABLE daemon ADD COLUMN upload_problem TEXT NOT NULL DEFAULT '';  -- what its start check found wrong with uploads
`,
	// 8 (issue 13, the submitter's environment): a job runs with the
	// environment captured at submit, kept in a 0600 file outside the ledger;
	// the ledger holds only its path and the variable names.
	`
ALTER TABLE jobs ADD COLUMN env_file TEXT NOT NULL DEFAULT '';    -- '': the daemon's environment (jobs from before)
ALTER TABLE jobs ADD COLUMN env_names TEXT NOT NULL DEFAULT '[]'; -- JSON array: the captured variables' names
`,
	// 9 (issue 13, jobs outside the service): submit --mem becomes the job
	// unit's MemoryMax=; submit refuses it unless the daemon starts jobs as
	// systemd units.
	`
ALTER TABLE jobs ADD COLUMN mem_max INTEGER NOT NULL DEFAULT 0;      -- bytes; 0: no limit
ALTER TABLE daemon ADD COLUMN job_units INTEGER NOT NULL DEFAULT 0;  -- 1: jobs start as transient systemd services
`,
	// 10 (issue 13, every user of the box): a job belongs to the user who
	// submitted it (by uid, from the kernel through the daemon's socket); jobs
	// from before belong to root.
	`
ALTER TABLE jobs ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'root';  -- the owner's name at submit, for people
`,
	// 11 (issue 14, the queue people expect): held jobs, after-any
	// dependencies, labels, arrays (one id, a limit of running jobs, a W&B
	// run group), GPU sharing by memory and CPU slots.
	`
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;         -- 1: queued but not dispatched until released
ALTER TABLE jobs ADD COLUMN after_any TEXT NOT NULL DEFAULT '[]';    -- JSON array: start after these end, whatever their result
ALTER TABLE jobs ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';       -- JSON object K -> V
ALTER TABLE jobs ADD COLUMN array_id INTEGER NOT NULL DEFAULT 0;     -- the array's first job id; 0: not in an array
ALTER TABLE jobs ADD COLUMN array_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN array_limit INTEGER NOT NULL DEFAULT 0;  -- at most this many of the array running; 0: no limit
ALTER TABLE jobs ADD COLUMN run_group TEXT NOT NULL DEFAULT '';      -- WANDB_RUN_GROUP
ALTER TABLE jobs ADD COLUMN share INTEGER NOT NULL DEFAULT 0;        -- 1: may share GPUs by memory (--share)
ALTER TABLE jobs ADD COLUMN cpus INTEGER NOT NULL DEFAULT -1;        -- CPU slots; -1: the default for its kind
CREATE INDEX jobs_array ON jobs (array_id) WHERE array_id != 0;
`,
	// 12 (issue 14, dispatch with a long queue): every change to a job
	// stamps it with a ledger-wide sequence number, so the scheduler re-reads
	// only the jobs that changed since its last plan (ledger.DB.QueueChanges).
	// The triggers stamp every writer's changes, present and future.
	`
CREATE TABLE jobs_seq (n INTEGER NOT NULL) STRICT;
INSERT INTO jobs_seq (n) VALUES (0);
ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_seq ON jobs (seq);
CREATE TRIGGER jobs_seq_insert AFTER INSERT ON jobs BEGIN
	UPDATE jobs_seq SET n = n + 1;
	UPDATE jobs SET seq = (SELECT n FROM jobs_seq) WHERE id = NEW.id;
END;
CREATE TRIGGER jobs_seq_update AFTER UPDATE ON jobs WHEN NEW.seq = OLD.seq BEGIN
	UPDATE jobs_seq SET n = n + 1;
	UPDATE jobs SET seq = (SELECT n FROM jobs_seq) WHERE id = NEW.id;
END;
`,
	// 13 (issue 15, one sign convention): a regression's z and relative
	// change are new minus baseline everywhere; they were stored signed
	// "positive = worse", which differs only where higher is better.
	`
UPDATE regressions SET z = -z, rel_change = -rel_change WHERE goal = 'higher';
`,
	// 14 (issue 16, executors): a job belongs to the local scheduler or to
	// an engine (Slurm) that runs it under its own id, on a node it names.
	// The daemon records its default executor and its jobs' WANDB_DIR, which
	// submit writes into an engine's job script.
	`
ALTER TABLE jobs ADD COLUMN executor TEXT NOT NULL DEFAULT 'local' CHECK (executor IN ('local', 'slurm'));
ALTER TABLE jobs ADD COLUMN engine_id TEXT NOT NULL DEFAULT '';   -- the engine's job id (Slurm: 123 or 123_4); '' for local
ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';        -- where the engine ran it
CREATE INDEX jobs_engine ON jobs (executor, state) WHERE executor != 'local';
ALTER TABLE daemon ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
ALTER TABLE daemon ADD COLUMN jobs_wandb_dir TEXT NOT NULL DEFAULT '';
`,
	// 15 (large ledgers): a leaderboard is a top-k query on an index of
	// summary values instead of a parse of every run's summary
	// (docs/design.md "Large ledgers"). One row per W&B run (upload group)
	// in summary_groups, one per finite number of its merged, flattened
	// summary in summary_values, with the goals its logs declare for that
	// key; ledger code computes them (summaries.go). The triggers make every
	// writer's change to a run, or to a goal its log declares, drop its
	// group's values and mark the group stale until they are computed
	// again: the runs already here start stale. runs_project,
	// runs_state_project and runs_name serve runs --project, runs --state
	// (with or without --project) in their listing order, and a run named
	// by its W&B name (compare, check), which read every row before.
	`
CREATE INDEX runs_project ON runs (project, first_seen, dir);
CREATE INDEX runs_state_project ON runs (state, project, first_seen, dir);
CREATE INDEX runs_name ON runs (name);
CREATE TABLE summary_groups (
	id        INTEGER PRIMARY KEY,
	group_key TEXT NOT NULL UNIQUE,
	project   TEXT NOT NULL,
	run_group TEXT NOT NULL           -- the first stage's W&B group
) STRICT;
CREATE TABLE summary_values (
	gid      INTEGER NOT NULL,         -- summary_groups.id
	key      TEXT NOT NULL,            -- flattened: eval.nrmse for {"eval": {"nrmse": ...}}
	value    REAL NOT NULL,            -- finite
	declared INTEGER NOT NULL DEFAULT 0 CHECK (declared BETWEEN 0 AND 3),  -- goals of key in the group's logs: 1 lower, 2 higher, 3 both
	PRIMARY KEY (gid, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX summary_values_rank ON summary_values (key, value);
CREATE INDEX summary_values_declared ON summary_values (key, declared) WHERE declared != 0;
CREATE TABLE summary_stale (group_key TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
INSERT INTO summary_stale (group_key) SELECT DISTINCT group_key FROM runs;
CREATE TRIGGER runs_summary_insert AFTER INSERT ON runs BEGIN
	DELETE FROM summary_values WHERE gid = (SELECT id FROM summary_groups WHERE group_key = NEW.group_key);
	INSERT OR IGNORE INTO summary_stale (group_key) VALUES (NEW.group_key);
END;
CREATE TRIGGER runs_summary_update AFTER UPDATE OF dir, group_key, project, run_group, start_time, summary_json ON runs
WHEN OLD.dir IS NOT NEW.dir OR OLD.group_key IS NOT NEW.group_key OR OLD.project IS NOT NEW.project
	OR OLD.run_group IS NOT NEW.run_group OR OLD.start_time IS NOT NEW.start_time OR OLD.summary_json IS NOT NEW.summary_json
BEGIN
	DELETE FROM summary_values WHERE gid IN (SELECT id FROM summary_groups WHERE group_key IN (OLD.group_key, NEW.group_key));
	INSERT OR IGNORE INTO summary_stale (group_key) VALUES (OLD.group_key), (NEW.group_key);
END;
CREATE TRIGGER runs_summary_delete AFTER DELETE ON runs BEGIN
	DELETE FROM summary_values WHERE gid = (SELECT id FROM summary_groups WHERE group_key = OLD.group_key);
	INSERT OR IGNORE INTO summary_stale (group_key) VALUES (OLD.group_key);
END;
CREATE TRIGGER metrics_summary_insert AFTER INSERT ON metrics WHEN NEW.goal_source = 'log' BEGIN
	DELETE FROM summary_values WHERE gid = (SELECT g.id FROM summary_groups g JOIN runs r ON r.group_key = g.group_key WHERE r.dir = NEW.dir);
	INSERT OR IGNORE INTO summary_stale (group_key) SELECT group_key FROM runs WHERE dir = NEW.dir;
END;
CREATE TRIGGER metrics_summary_update AFTER UPDATE OF dir, key, goal, goal_source ON metrics
WHEN OLD.goal_source = 'log' OR NEW.goal_source = 'log'
BEGIN
	DELETE FROM summary_values WHERE gid IN (SELECT g.id FROM summary_groups g JOIN runs r ON r.group_key = g.group_key WHERE r.dir IN (OLD.dir, NEW.dir));
	INSERT OR IGNORE INTO summary_stale (group_key) SELECT group_key FROM runs WHERE dir IN (OLD.dir, NEW.dir);
END;
CREATE TRIGGER metrics_summary_delete AFTER DELETE ON metrics WHEN OLD.goal_source = 'log' BEGIN
	DELETE FROM summary_values WHERE gid = (SELECT g.id FROM summary_groups g JOIN runs r ON r.group_key = g.group_key WHERE r.dir = OLD.dir);
	INSERT OR IGNORE INTO summary_stale (group_key) SELECT group_key FROM runs WHERE dir = OLD.dir;
END;
`,
	// 16 (the jobs view): runner jobs' default view reads queued and
	// running jobs (jobs_state) OR those ended in the last 24 h, and clean
	// and the view's footer read jobs by when they ended: without this index
	// each read every row of a long history (docs/benchmarks.md).
	`CREATE INDEX jobs_ended ON jobs (ended_at, state) WHERE ended_at IS NOT NULL;`,
	// 17 (submit --after-notok): start only after these ended without success.
	`ALTER TABLE jobs ADD COLUMN after_notok TEXT NOT NULL DEFAULT '[]';`,
	// 18 (submit --output/--error): where the job's stdout and stderr go, as
	// absolute patterns with %j and %x (jobs.ExpandOutput); '': the job log.
	`ALTER TABLE jobs ADD COLUMN output_path TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN error_path TEXT NOT NULL DEFAULT '';`,
	// 19 (submit --notify): a shell command the daemon runs after the job ends.
	`ALTER TABLE jobs ADD COLUMN notify TEXT NOT NULL DEFAULT '';`,
	// 20 (large ledgers, docs/design.md "Listing a large ledger"):
	// runs_listing holds every column of a lean listing (runLeanCols) in
	// the listing's order, so runner runs reads the index alone. Reading
	// the rows read each whole: state, reason and the others listed come
	// after the summary, config and records JSON, on their overflow pages
	// (a 100,000-run ledger's 340 MB for 25 MB of listing). It replaces
	// runs_first_seen, its first two columns.
	`CREATE INDEX runs_listing ON runs (first_seen, dir, group_key, run_id, entity, project, name, run_group,
	job_type, start_time, wandb_version, finished, exit_code, torn_tail, read_error, size, state, reason, source,
	attempts, next_attempt_at, last_error, url, synced_at, job_id);
DROP INDEX runs_first_seen;
`,
	// 21 (regressions' run names): each regression row keeps its run's W&B
	// name, as the runs table has it now (the triggers follow a rename), so
	// runner regressions reads its own table: looking the name up in runs
	// was a random read of a wide row for each regression listed.
	`ALTER TABLE regressions ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE regressions SET name = coalesce((SELECT r.name FROM runs r WHERE r.dir = regressions.dir), '');
CREATE TRIGGER regressions_name AFTER INSERT ON regressions BEGIN
	UPDATE regressions SET name = coalesce((SELECT r.name FROM runs r WHERE r.dir = NEW.dir), '') WHERE id = NEW.id;
END;
CREATE TRIGGER runs_name_regressions AFTER UPDATE OF name ON runs WHEN OLD.name IS NOT NEW.name BEGIN
	UPDATE regressions SET name = NEW.name WHERE dir = NEW.dir;
END;`,
	// 22 (leaderboard --project, --group): the groups of a project or W&B
	// group, which a ranking of few groups reads instead of walking the
	// values of every group in order (rank).
	`CREATE INDEX summary_groups_project ON summary_groups (project);
CREATE INDEX summary_groups_group ON summary_groups (run_group);`,
}
