package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// applicationID marks a SQLite file as a runner ledger ("RUNR"), so Open can
// refuse somebody else's database instead of migrating it.
const applicationID = 0x52554E52

// DefaultBusyTimeout is how long a connection waits for another process's write
// lock before SQLite gives up. The daemon, cron backfills and CLI commands
// share the file; their transactions are short, so 10 s is generous.
const DefaultBusyTimeout = 10 * time.Second

// Options configure Open.
type Options struct {
	Clock    Clock        // nil: the real clock
	ReadOnly bool         // reader pool only; no migration; write methods fail with ErrReadOnly
	Logger   *slog.Logger // nil: discard
	// Patient retries a write whose busy_timeout ran out (up to
	// maxBusyRetries more waits): for the daemon and batch backfills, which
	// must not drop a job's end over another process's long transaction.
	// Without it a write waits busy_timeout once, as the docs promise a
	// command does, then fails with ErrBusy.
	Patient bool
	// BusyTimeout is how long a statement waits for another process's lock
	// (SQLite's busy_timeout); zero: DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// DB is an open ledger: one writer connection (BEGIN IMMEDIATE) plus a pool
// of query-only readers on the same WAL-mode file.
type DB struct {
	path     string
	w        *sql.DB // nil when read-only
	r        *sql.DB
	clock    Clock
	log      *slog.Logger
	readOnly bool
	patient  bool
	busy     time.Duration // busy_timeout

	// reads caches prepared read statements by query text: the daemon runs
	// the same few queries on every tick and every job end.
	readsMu sync.Mutex
	reads   map[string]*sql.Stmt
	// writes caches prepared write statements by query text, prepared on
	// the writer pool (its one connection) and bound into each transaction
	// with Tx.StmtContext: the readiness loop runs the same statements
	// every second, and parsing them again in each transaction was a fifth
	// of its ledger time. A statement cannot be prepared on the pool inside
	// a transaction (the one connection is the transaction's), so a miss is
	// prepared inside it as before and added after it ended (writeStmts).
	writesMu sync.Mutex
	writes   map[string]*sql.Stmt

	calls atomic.Int64 // queries and transactions run: see Calls

	file fileID // the file opened: Replaced compares the path with it
}

// fileID names a file by device and inode.
type fileID struct{ dev, ino uint64 }

func idOf(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, nil
	}
	return fileID{dev: uint64(sys.Dev), ino: sys.Ino}, nil
}

// Replaced reports, with an error wrapping ErrReplaced, that the ledger
// file was deleted or replaced since it was opened: a process that kept
// writing would write into a file nobody reads (docs/design.md "Files on
// disk"). nil while it is the same file.
func (db *DB) Replaced() error {
	id, err := idOf(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("ledger %s was deleted: %w", db.path, ErrReplaced)
	case err != nil:
		return nil // cannot tell (a transient error): not a reason to stop
	case id != db.file:
		return fmt.Errorf("ledger %s was replaced by another file: %w", db.path, ErrReplaced)
	}
	return nil
}

// QuickCheck runs SQLite's quick_check: nil when the file is sound, else an
// error wrapping ErrDamaged with SQLite's first finding.
func (db *DB) QuickCheck(ctx context.Context) error {
	var res string
	if err := db.queryRow(ctx, `PRAGMA quick_check(1)`).Scan(&res); err != nil {
		return fmt.Errorf("ledger %s: quick check: %v: %w", db.path, err, ErrDamaged)
	}
	if res != "ok" {
		return fmt.Errorf("ledger %s: quick check: %s: %w", db.path, res, ErrDamaged)
	}
	return nil
}

// Backup writes a consistent copy of the ledger to dest (which must not
// exist), safe while other processes use it: SQLite's VACUUM INTO reads one
// snapshot. The copy is mode 0600.
func (db *DB) Backup(ctx context.Context, dest string) error {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup %s: %w", dest, fs.ErrExist)
	}
	// A connection of its own: the readers are query_only, and SQLite
	// writes the copy with the source connection's access mode.
	src, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: db.path}).String()+
		fmt.Sprintf("?_pragma=busy_timeout(%d)", db.busy.Milliseconds()))
	if err != nil {
		return fmt.Errorf("ledger: backup: %w", err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		_ = os.Remove(dest)
		return fmt.Errorf("ledger: backup to %s: %w", dest, err)
	}
	return os.Chmod(dest, 0o600)
}

// Calls is how many queries and transactions this DB has run. An idle
// daemon's count stays put (a test and the idle bench watch it).
func (db *DB) Calls() int64 { return db.calls.Load() }

// maxReadStmts bounds the cache: queries with IN lists vary in text.
const maxReadStmts = 256

// readStmt returns the cached statement for query, or nil when the cache is
// full (the caller then runs the query unprepared).
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	db.readsMu.Lock()
	defer db.readsMu.Unlock()
	if st, ok := db.reads[query]; ok {
		return st, nil
	}
	if len(db.reads) >= maxReadStmts {
		return nil, nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if db.reads == nil {
		db.reads = map[string]*sql.Stmt{}
	}
	db.reads[query] = st
	return st, nil
}

// query runs a read through its cached prepared statement.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db.calls.Add(1)
	st, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return db.r.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row; a prepare error surfaces from Scan.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	db.calls.Add(1)
	st, err := db.readStmt(ctx, query)
	if err != nil || st == nil {
		return db.r.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// mapSize is how much of the file a mapped read maps (SQLite caps it at
// its compiled-in maximum); pages past it are read as usual.
const mapSize = 1 << 32

// mappedRead runs fn in a read transaction on a reader connection that
// reads the file through a memory map (SQLite's mmap_size) instead of
// read(2) into its page cache, and puts the connection back unmapped. A
// short command's reads are of cold pages scattered over the file (a
// ranking: a few hundred lookups), and on this class of VM each cost
// 30-50 µs through the page cache (a system call, a fresh page of memory)
// against about a third of that mapped (docs/design.md "Listing a large
// ledger"). Only for reads of a bounded part of the file (a ranking, the
// regressions table): every page touched counts in the process's RSS
// while it is mapped, so a scan of every run (runner runs) keeps the page
// cache. fn's error is returned as is.
func (db *DB) mappedRead(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("ledger: read: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", int64(mapSize))); err != nil {
		return fmt.Errorf("ledger: read: %w", err)
	}
	defer func() {
		// Connection state outlives the caller: a connection left mapped
		// (the reset failed, the context ended) is dropped, not pooled.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = 0"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// Open opens (creating and migrating if needed) the ledger at path.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db := &DB{path: abs, clock: opts.Clock, log: opts.Logger, readOnly: opts.ReadOnly, patient: opts.Patient}
	if db.clock == nil {
		db.clock = realClock{}
	}
	if db.busy = opts.BusyTimeout; db.busy <= 0 {
		db.busy = DefaultBusyTimeout
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if err := prepareFile(abs, opts.ReadOnly); err != nil {
		return nil, err
	}
	if db.file, err = idOf(abs); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}

	base := (&url.URL{Scheme: "file", Path: abs}).String()
	// temp_store(MEMORY) keeps statement journals off disk: every multi-row
	// statement in a write transaction writes one, and on a file that cost
	// a pwrite per page changed.
	// cache_size(-32768): 32 MiB of page cache, so a backfill's batch of wide
	// rows and their indexes is not spilled to the WAL mid-transaction.
	// Readers keep SQLite's default cache (2 MiB): they read few pages
	// each, the OS caches the file, and four of them with the writer's
	// cache would keep a daemon at 100+ MB after one big scan.
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=temp_store(MEMORY)", db.busy.Milliseconds())
	if opts.ReadOnly {
		// mode=ro: a user with read access only must not create or change anything.
		db.r, err = sql.Open("sqlite", base+"?mode=ro&"+pragmas+"&_pragma=query_only(1)")
	} else {
		db.w, err = sql.Open("sqlite", base+"?"+pragmas+"&_pragma=cache_size(-32768)"+
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate")
		if err == nil {
			// One connection: writes inside this process queue in Go instead of
			// contending for SQLite's lock; other processes wait on busy_timeout.
			db.w.SetMaxOpenConns(1)
			db.w.SetMaxIdleConns(1)
			db.r, err = sql.Open("sqlite", base+"?"+pragmas+"&_pragma=foreign_keys(ON)&_pragma=query_only(1)")
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", abs, err)
	}
	db.r.SetMaxOpenConns(4)
	// A reader idle for a minute is closed with its cache: an idle daemon
	// holds one writer connection, not five.
	db.r.SetConnMaxIdleTime(time.Minute)

	// Check the header through the reader pool first: the writer's DSN
	// switches the file to WAL, which must not happen to a foreign database.
	version, err := db.checkReadable(ctx, opts.ReadOnly)
	if err == nil && !opts.ReadOnly {
		// An up-to-date ledger needs no write lock to open: every CLI
		// call (submit, skip, sync) would otherwise take one.
		err = db.migrate(ctx, version < len(migrations))
		if err == nil {
			err = db.refreshStale(ctx)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// prepareFile creates the ledger 0600 (in a 0700 dir) when it does not exist
// and refuses a world-writable one: whoever can write the ledger can queue
// commands that the daemon runs.
func prepareFile(path string, readOnly bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return fmt.Errorf("%w: start `runner daemon` or run `runner backfill DIR` first", ErrNoLedger)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create ledger dir: %w", err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("create ledger: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("create ledger: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("ledger %s is a directory: %w", path, ErrForeign)
	}
	// The ledger, its WAL, its shared-memory index and its dir: anyone who
	// can write one of them can change what runner uploads or runs.
	for _, p := range []string{path, path + "-wal", path + "-shm", filepath.Dir(path)} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ledger %s: %w", p, err)
		}
		if st.Mode().Perm()&0o002 != 0 && st.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("%w: %s (anyone could queue commands; run chmod o-w %s)", ErrWorldWritable, p, p)
		}
	}
	return nil
}

// ReleaseMemory gives back the writer's page cache (up to 32 MiB, filled by
// a big batch of writes, kept for the connection's life otherwise). The
// daemon calls it after recording a large scan.
func (db *DB) ReleaseMemory(ctx context.Context) error {
	if db.w == nil {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA shrink_memory`); err != nil {
		return fmt.Errorf("ledger: release memory: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	db.readsMu.Lock()
	for _, st := range db.reads {
		errs = append(errs, st.Close())
	}
	db.reads = nil
	db.readsMu.Unlock()
	db.writesMu.Lock()
	for _, st := range db.writes {
		errs = append(errs, st.Close())
	}
	db.writes = nil
	db.writesMu.Unlock()
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	return errors.Join(errs...)
}

// Path is the absolute path of the ledger file.
func (db *DB) Path() string { return db.path }

func (db *DB) now() time.Time { return db.clock.Now() }

// writable guards every write method.
func (db *DB) writable() error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	return nil
}

// maxBusyRetries bounds inTx's retries when busy_timeout ran out anyway (a
// very long writer in another process); after that the error surfaces.
const maxBusyRetries = 3

// inTx runs fn in one IMMEDIATE write transaction and commits it. fn may run
// more than once (after SQLITE_BUSY), so it must not leak partial results
// outside the transaction except by assignment.
func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	db.calls.Add(1)
	if err := db.writable(); err != nil {
		return err
	}
	var err error
	for try := 0; ; try++ {
		err = db.tryTx(ctx, fn)
		if err == nil || !isBusy(err) || ctx.Err() != nil {
			return err
		}
		if !db.patient || try == maxBusyRetries {
			return db.busyErr()
		}
		db.log.Warn("ledger busy, retrying transaction", "path", db.path, "try", try+1)
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger %s: begin: %w", db.path, err)
	}
	tx := &Tx{Tx: stx, db: db}
	defer func() {
		tx.closeStmts()
		db.cacheWrites(ctx, tx.missed)
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger %s: commit: %w", db.path, err)
	}
	return nil
}

// writeStmt returns the cached write statement for query, or nil.
func (db *DB) writeStmt(query string) *sql.Stmt {
	db.writesMu.Lock()
	defer db.writesMu.Unlock()
	return db.writes[query]
}

// cacheWrites prepares the write statements a transaction missed, once it
// has given the writer connection back. The cache is bounded as the read
// one is (queries with IN lists vary in text); a failed prepare is left
// out: the next transaction prepares it inside itself again.
func (db *DB) cacheWrites(ctx context.Context, queries []string) {
	for _, q := range queries {
		db.writesMu.Lock()
		_, ok := db.writes[q]
		full := len(db.writes) >= maxReadStmts
		db.writesMu.Unlock()
		if ok || full || ctx.Err() != nil {
			continue
		}
		st, err := db.w.PrepareContext(ctx, q) // after Close: fails, nothing cached
		if err != nil {
			continue
		}
		db.writesMu.Lock()
		if _, ok := db.writes[q]; ok {
			_ = st.Close()
		} else {
			if db.writes == nil {
				db.writes = map[string]*sql.Stmt{}
			}
			db.writes[q] = st
		}
		db.writesMu.Unlock()
	}
}

// Tx is a write transaction that prepares each distinct statement once: a
// backfill batch runs the same few statements for hundreds of runs, and
// preparing (parsing) them every time was most of its cost.
type Tx struct {
	*sql.Tx
	db     *DB
	stmts  map[string]*sql.Stmt
	missed []string // not in db's write cache: prepared there once the tx ends
}

func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if ws := tx.db.writeStmt(query); ws != nil {
		// Bound to this tx; its driver statement is the cached one's
		// (closing it leaves that open).
		st = tx.Tx.StmtContext(ctx, ws)
	} else {
		var err error
		if st, err = tx.Tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		tx.missed = append(tx.missed, query)
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = st
	return st, nil
}

// ExecContext runs query through its cached prepared statement.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query through its cached prepared statement.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query through its cached prepared statement; a
// prepare error surfaces from Scan, as with sql.Tx.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return tx.Tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (tx *Tx) closeStmts() {
	for _, st := range tx.stmts {
		_ = st.Close()
	}
}

// retryBusy retries f while SQLite answers busy without waiting: while
// another process creates the ledger and switches it to WAL, a connection can
// get SQLITE_BUSY at once, before busy_timeout applies. It gives up after
// about wait.
func retryBusy(ctx context.Context, wait time.Duration, f func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := f()
		if err == nil || !isBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sqliteCode is the primary result code of a SQLite error (extended codes
// are on for every modernc connection), or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

func isBusy(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// header reads user_version and application_id through q.
func header(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (version, appID int, tables int, err error) {
	// Outside a transaction each query sees its own snapshot, and another
	// process may commit its first migration in between. Reading the table
	// count first makes that safe: commits only add tables, set the version
	// and set the application id, so a later read never looks foreign.
	if err = q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return
	}
	if err = q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return
	}
	err = q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version)
	return
}

// headerErr turns a failure to read the header into a clear message; a
// file that is not SQLite at all shows up here.
func (db *DB) headerErr(err error) error {
	if c := sqliteCode(err); c == sqlite3.SQLITE_NOTADB || c == sqlite3.SQLITE_CORRUPT {
		// A file that starts like SQLite but cannot be read is a damaged
		// ledger (a torn copy, a bad disk), not somebody else's file.
		if f, oerr := os.Open(db.path); oerr == nil {
			magic := make([]byte, 16)
			_, rerr := io.ReadFull(f, magic)
			f.Close()
			if rerr == nil && string(magic) == "SQLite format 3\x00" {
				return fmt.Errorf("ledger %s is damaged (%v): restore a backup (`runner backup` makes one) or move it away "+
					"to start a new ledger (README \"Backup and restore\"): %w", db.path, err, ErrDamaged)
			}
		}
		return fmt.Errorf("%s is not an SQLite database: %w", db.path, ErrForeign)
	}
	if isBusy(err) {
		return db.busyErr()
	}
	return fmt.Errorf("ledger %s: read header: %w", db.path, err)
}

// busyErr says that another process kept the ledger locked past the wait.
func (db *DB) busyErr() error {
	return fmt.Errorf("ledger %s: %w for more than %s (a sqlite3 shell or a stuck process holding it?)", db.path, ErrBusy, db.busy)
}

// checkHeader refuses foreign and newer files.
func (db *DB) checkHeader(version, appID, tables int) error {
	if appID != applicationID && (appID != 0 || tables > 0) {
		return fmt.Errorf("%s is an SQLite database of another program (application_id %#x): %w", db.path, appID, ErrForeign)
	}
	if version > len(migrations) {
		return fmt.Errorf("%w: %s has schema version %d, this runner knows up to %d: upgrade runner",
			ErrNewerSchema, db.path, version, len(migrations))
	}
	return nil
}

// checkReadable refuses foreign and newer files before anything writes to
// them; a read-only handle also needs the current schema.
func (db *DB) checkReadable(ctx context.Context, readOnly bool) (int, error) {
	var version, appID, tables int
	err := retryBusy(ctx, db.busy, func() error {
		var err error
		version, appID, tables, err = header(ctx, db.r)
		return err
	})
	if err != nil {
		return 0, db.headerErr(err)
	}
	if err := db.checkHeader(version, appID, tables); err != nil {
		return 0, err
	}
	if readOnly && version < len(migrations) {
		return 0, fmt.Errorf("%s (schema version %d, current %d): %w", db.path, version, len(migrations), ErrNeedsMigration)
	}
	return version, nil
}

// migrate applies the missing migrations, each in its own IMMEDIATE
// transaction that re-reads user_version: another process may have migrated
// between our read and our lock.
func (db *DB) migrate(ctx context.Context, needed bool) error {
	// journal_mode(WAL) is persistent, and the DSN asks for it on every
	// writer connection; verify it took (litestream does the same).
	var mode string
	if err := retryBusy(ctx, db.busy, func() error { return db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode) }); err != nil {
		return db.headerErr(err)
	}
	if mode != "wal" {
		return fmt.Errorf("ledger %s: journal_mode is %q, want wal", db.path, mode)
	}
	if !needed {
		return nil
	}
	for {
		done := false
		err := db.inTx(ctx, func(tx *Tx) error {
			version, appID, tables, err := header(ctx, tx)
			if err != nil {
				return db.headerErr(err)
			}
			if err := db.checkHeader(version, appID, tables); err != nil {
				return err
			}
			if version == len(migrations) {
				done = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
				return fmt.Errorf("ledger %s: migration %d: %w", db.path, version+1, err)
			}
			// PRAGMA values cannot be bound parameters.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", version+1, applicationID)); err != nil {
				return fmt.Errorf("ledger %s: migration %d: set version: %w", db.path, version+1, err)
			}
			db.log.Info("ledger migrated", "path", db.path, "from", version, "to", version+1)
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// Time helpers: the ledger stores INTEGER unix milliseconds UTC.

func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}
