package sync

// Growing logs (docs/design.md "Growing logs"): the daemon reads a log each
// time it grows. Read from its start each time, a long run's log costs one
// full parse per growth step; kept open as a wandbfile.Cursor with its
// summariser, each read costs only what was appended.

import (
	"slices"
	gosync "sync"
	"time"

	"github.com/runnerhq/runner/kernels"
	"github.com/runnerhq/runner/ledger"
	"github.com/runnerhq/runner/wandbfile"
)

// maxGrowing bounds the logs kept open for incremental reading; the least
// recently read goes first (it is read from its start if it grows again).
const maxGrowing = 256

// growingReads keeps one metaReader per log path.
type growingReads struct {
	mu      gosync.Mutex
	readers map[string]*metaReader
	now     func() time.Time
}

// metaReader is ReadMeta's state for one log between reads.
type metaReader struct {
	mu       gosync.Mutex // held during a read; a read abandoned by a hung mount keeps it
	cur      *wandbfile.Cursor
	sum      *kernels.Summarizer
	declared map[string]kernels.Goal // goals the summariser was built with, beyond the rules
	used     time.Time
}

// read is ReadMeta for path, incremental when the same log was read before.
func (g *growingReads) read(path string) (*ledger.Meta, error) {
	g.mu.Lock()
	if g.readers == nil {
		g.readers = map[string]*metaReader{}
	}
	m := g.readers[path]
	if m == nil {
		m = &metaReader{}
		g.readers[path] = m
		g.evict()
	}
	m.used = g.now()
	g.mu.Unlock()
	if !m.mu.TryLock() {
		// An earlier read of this log is stuck (a hung mount): read it whole,
		// on its own, rather than wait behind it.
		return ReadMeta(path)
	}
	defer m.mu.Unlock()
	meta, finished, err := m.read(path)
	if err != nil || finished {
		// Nothing more will be appended (or the state is unknown): free it.
		m.closeCursor()
		g.mu.Lock()
		if g.readers[path] == m {
			delete(g.readers, path)
		}
		g.mu.Unlock()
	}
	return meta, err
}

// closeCursor closes what the cursor keeps open; m.mu is held.
func (m *metaReader) closeCursor() {
	if m.cur != nil {
		_ = m.cur.Close()
	}
}

// release closes a reader taken out of the map once no read holds it (a
// read stuck on a hung mount keeps it until it returns).
func (m *metaReader) release() {
	if m.mu.TryLock() {
		m.closeCursor()
		m.mu.Unlock()
		return
	}
	go func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.closeCursor()
	}()
}

// sweep closes what the readers not used for idle keep open (the log's
// dir), keeping their state: a reader is used at least once a slot while
// its run grows, so these are runs that stopped, and an open dir would keep
// their file system from being unmounted. Their next read opens it again.
func (g *growingReads) sweep(now time.Time, idle time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.readers {
		if now.Sub(m.used) >= idle && m.mu.TryLock() {
			m.closeCursor()
			m.mu.Unlock()
		}
	}
}

// evict drops the least recently used readers beyond maxGrowing; g.mu is held.
func (g *growingReads) evict() {
	for len(g.readers) > maxGrowing {
		oldest, at := "", time.Time{}
		for p, m := range g.readers {
			if oldest == "" || m.used.Before(at) {
				oldest, at = p, m.used
			}
		}
		g.readers[oldest].release()
		delete(g.readers, oldest)
	}
}

// reset starts over: a new summariser (with declared goals over the rules)
// and a cursor at the start of the log.
func (m *metaReader) reset(path string, declared map[string]kernels.Goal) {
	m.closeCursor()
	rules := kernels.DefaultGoalRules()
	m.declared = declared
	m.sum = kernels.NewSummarizer(kernels.SummaryOptions{Goals: func(key string) kernels.Goal {
		if g, ok := declared[key]; ok {
			return g
		}
		return rules.Goal(key)
	}})
	m.cur = wandbfile.NewCursor(path, wandbfile.Options{History: m.sum.Add})
}

func (m *metaReader) read(path string) (meta *ledger.Meta, finished bool, err error) {
	if m.cur == nil || m.cur.Stale() {
		m.reset(path, nil)
	}
	info, err := m.cur.Read()
	if err != nil {
		return nil, false, err
	}
	declared := declaredGoals(info)
	// The summariser picks a key's best step with the goal it knew when the
	// key first appeared; a declared goal that contradicts what it used
	// (rare) needs the log read again with it.
	rules := kernels.DefaultGoalRules()
	for key, g := range declared {
		used, ok := m.declared[key]
		if !ok {
			used = rules.Goal(key)
		}
		if used != g && slices.Contains(info.HistoryKeys, key) {
			m.reset(path, declared)
			if info, err = m.cur.Read(); err != nil {
				return nil, false, err
			}
			break
		}
	}
	meta = MetaFromInfo(info)
	meta.Metrics = ledger.StoredMetrics(m.sum.Summaries(), declared)
	return meta, info.Finished && !info.TornTail, nil
}

// declaredGoals are the goals the log's metric records declare.
func declaredGoals(info *wandbfile.Info) map[string]kernels.Goal {
	declared := make(map[string]kernels.Goal, len(info.Metrics))
	for key, g := range info.Metrics {
		switch g {
		case wandbfile.GoalMinimize:
			declared[key] = kernels.GoalLower
		case wandbfile.GoalMaximize:
			declared[key] = kernels.GoalHigher
		}
	}
	return declared
}
