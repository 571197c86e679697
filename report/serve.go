package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/runnerhq/runner/ledger"
)

// VersionPath is the JSON endpoint the served page polls: it answers
// {"version": "..."}, which changes whenever the ledger file does.
const VersionPath = "/api/version"

// Handler serves the report o describes, built from db on each request,
// and VersionPath. It only reads: there is no route to jobs, logs, the
// environment or anything that writes.
func Handler(db *ledger.DB, o Options, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		p, err := Build(r.Context(), db, o)
		if err != nil {
			logger.Warn("report", "err", err)
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		p.Poll = VersionPath
		var buf bytes.Buffer
		if err := Write(&buf, p); err != nil {
			logger.Error("report", "err", err)
			http.Error(w, "report: cannot render the page", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET "+VersionPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"version": ledgerVersion(db.Path())})
	})
	return mux
}

// ledgerVersion changes when a write reaches the ledger: every write lands
// in the WAL file first, so its size and mtime (and the main file's after
// a checkpoint) say so without a query.
func ledgerVersion(path string) string {
	v := ""
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			v += fmt.Sprintf("%d.%d;", st.Size(), st.ModTime().UnixNano())
		}
	}
	return v
}
