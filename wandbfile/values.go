package wandbfile

import (
	"slices"
	"strings"
)

// pathSep joins the elements of a nested key into a map key; it cannot occur in JSON text
// keys W&B writes, so a nested path never collides with a flat key.
const pathSep = "\x00"

// opSet keeps, per summary or config path, only the latest set/remove in file order, with its
// raw JSON value. Replaying these in order at the end gives the same result as replaying every
// operation: a later operation on a path supersedes all earlier ones on that path and below it.
// Memory is bounded by the number of distinct keys, not by the number of records.
type opSet struct {
	ops map[string]*valueOp
	// nested counts the multi-element paths under each first element, so that the common flat
	// case never scans for superseded descendants.
	nested map[string]int
	keyBuf []byte
}

type valueOp struct {
	name   string   // map key: the flat key, or the path joined with pathSep
	path   []string // nil for a flat key
	raw    []byte   // value_json, reused as the key is logged again
	seq    int64
	remove bool
}

func newOpSet() opSet {
	return opSet{ops: make(map[string]*valueOp), nested: make(map[string]int)}
}

// set records an update of key (or of path when it has more than one element) to raw.
func (s *opSet) set(key []byte, path []string, raw []byte, seq int64) {
	op := s.lookup(key, path)
	op.raw = append(op.raw[:0], raw...)
	op.seq = seq
	op.remove = false
}

// remove records a removal of key (or path).
func (s *opSet) remove(key []byte, path []string, seq int64) {
	op := s.lookup(key, path)
	op.raw = op.raw[:0]
	op.seq = seq
	op.remove = true
}

// lookup returns the entry for a path, creating it, and drops entries below it, which the new
// operation supersedes.
func (s *opSet) lookup(key []byte, path []string) *valueOp {
	name := key
	root := key
	if path != nil {
		s.keyBuf = append(s.keyBuf[:0], path[0]...)
		for _, p := range path[1:] {
			s.keyBuf = append(s.keyBuf, pathSep...)
			s.keyBuf = append(s.keyBuf, p...)
		}
		name = s.keyBuf
		root = []byte(path[0])
	}
	op, ok := s.ops[string(name)]
	if !ok {
		op = &valueOp{name: string(name)}
		if path != nil {
			op.path = slices.Clone(path)
			s.nested[path[0]]++
		}
		s.ops[op.name] = op
	}
	if len(s.nested) > 0 && s.nested[string(root)] > 0 {
		prefix := op.name + pathSep
		for k, o := range s.ops {
			if o.path != nil && strings.HasPrefix(k, prefix) {
				delete(s.ops, k)
				s.nested[o.path[0]]--
				if s.nested[o.path[0]] == 0 {
					delete(s.nested, o.path[0])
				}
			}
		}
	}
	return op
}

// build replays the kept operations in file order on top of base and parses the surviving
// values. A value that is not JSON, even leniently, is kept as its text.
func (s *opSet) build(base map[string]any) map[string]any {
	ops := make([]*valueOp, 0, len(s.ops))
	for _, op := range s.ops {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b *valueOp) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	out := base
	for _, op := range ops {
		path := op.path
		if path == nil {
			path = []string{op.name}
		}
		if op.remove {
			removePath(out, path)
			continue
		}
		setPath(out, path, parseOrText(op.raw))
	}
	return out
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = make(map[string]any)
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func removePath(m map[string]any, path []string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

func parseOrText(raw []byte) any {
	v, err := ParseValue(raw)
	if err != nil {
		return string(raw)
	}
	return v
}

// historyValue is the last value logged for a history key.
type historyValue struct {
	name string
	raw  []byte // reused as the key is logged again
}
