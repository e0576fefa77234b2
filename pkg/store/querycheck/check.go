package querycheck

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Index is an index's name and keys, each key prefixed with - when
// descending.
type Index struct {
	Collection string
	Name       string
	Keys       []string
}

// Serves reports whether ix answers s without scanning its collection or
// sorting in memory: equality fields first (any order), then the sort
// fields in order (all in the index's direction, or all against it), then
// at most one range field, on a key right after those or on a sorted key.
// Fields the index leaves out are filtered among what it found, which is
// fine as long as it bounded the search by at least one field.
func (ix Index) Serves(s Shape) bool {
	if ix.Collection != s.Collection {
		return false
	}
	keys := make([]string, len(ix.Keys))
	desc := make([]bool, len(ix.Keys))
	for i, k := range ix.Keys {
		keys[i], desc[i] = strings.CutPrefix(k, "-")
	}
	i := 0
	// Equality prefix.
	for i < len(keys) && slices.Contains(s.Eq, keys[i]) {
		i++
	}
	bounded := i > 0
	// Sort: each sort key must come next; keys held equal may sit in
	// between (their order is fixed by the equality).
	dir := 0
	for _, sk := range s.Sort {
		name, d := strings.CutPrefix(sk, "-")
		for i < len(keys) && keys[i] != name && slices.Contains(s.Eq, keys[i]) {
			i++
		}
		if i == len(keys) || keys[i] != name {
			if slices.Contains(s.Eq, name) {
				continue // sorting on a constant
			}
			return false
		}
		same := 1
		if d != desc[i] {
			same = -1
		}
		if dir != 0 && same != dir {
			return false
		}
		dir = same
		i++
	}
	// Range: on a sorted key, or the key right after.
	for n, r := range s.Range {
		if slices.ContainsFunc(s.Sort, func(sk string) bool { return strings.TrimPrefix(sk, "-") == r }) {
			bounded = true
			continue
		}
		if n == 0 && i < len(keys) && keys[i] == r {
			bounded = true
			i++
			continue
		}
		// A second range, or one the index does not reach: filtered
		// among what the index found.
	}
	return bounded || len(s.Sort) > 0
}

// Recorder records the query shapes and index definitions a client sends.
// Its methods are safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	shapes  map[string]Shape
	indexes map[string]Index
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{shapes: map[string]Shape{}, indexes: map[string]Index{}}
}

// Monitor returns the command monitor to set on a client's options. It
// leaves out the queries a test makes itself (to look at what the code
// under test stored): only the code under test's must be served by an
// index. The driver calls it on the goroutine that sends the command, so
// the caller's stack tells which is which.
func (r *Recorder) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "createIndexes" && fromTest() {
			return
		}
		r.Record(e.CommandName, e.Command)
	}}
}

// fromTest reports whether the innermost caller outside the mongo driver,
// this package and the test helpers of pkg/testenv is a _test.go file.
func fromTest() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, "go.mongodb.org/"),
			strings.Contains(f.Function, "/querycheck."),
			strings.Contains(f.Function, "/pkg/testenv."),
			strings.HasPrefix(f.Function, "runtime."):
		default:
			return strings.HasSuffix(f.File, "_test.go")
		}
		if !more {
			return false
		}
	}
}

// Record records one command.
func (r *Recorder) Record(name string, cmd bson.Raw) {
	if name == "createIndexes" {
		r.recordIndexes(cmd)
		return
	}
	shapes := Shapes(name, cmd)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range shapes {
		r.shapes[s.String()] = s
	}
}

func (r *Recorder) recordIndexes(cmd bson.Raw) {
	coll, _ := cmd.Lookup("createIndexes").StringValueOK()
	arr, ok := cmd.Lookup("indexes").ArrayOK()
	if !ok {
		return
	}
	vals, _ := arr.Values()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			continue
		}
		name, _ := d.Lookup("name").StringValueOK()
		keyDoc, ok := d.Lookup("key").DocumentOK()
		if !ok {
			continue
		}
		var s Shape
		s.sort(keyDoc)
		r.indexes[coll+"."+name] = Index{Collection: coll, Name: name, Keys: s.Sort}
	}
}

// Shapes returns the shapes recorded, in canonical order.
func (r *Recorder) Shapes() []Shape {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Shape, 0, len(r.shapes))
	for _, s := range r.shapes {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Indexes returns the indexes recorded.
func (r *Recorder) Indexes() []Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Index, 0, len(r.indexes))
	for _, ix := range r.indexes {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collection+"."+out[i].Name < out[j].Collection+"."+out[j].Name })
	return out
}

// Problem is a query shape no recorded index serves.
type Problem struct {
	Shape Shape
	// Indexes are those of its collection, none of which serves it.
	Indexes []Index
}

func (p Problem) String() string {
	names := make([]string, len(p.Indexes))
	for i, ix := range p.Indexes {
		names[i] = fmt.Sprintf("%s(%s)", ix.Name, strings.Join(ix.Keys, ","))
	}
	return fmt.Sprintf("%s: no index serves it (indexes: _id, %s)", p.Shape, strings.Join(names, ", "))
}

// Check returns the recorded shapes that no recorded index serves, leaving
// out those that test _id for equality (the primary key serves them),
// those of collections whose indexes were never created in this run and
// are not in [IDOnly] (their definitions are unknown here), and those
// allowed says are meant to scan.
func (r *Recorder) Check(allowed func(Shape) bool) []Problem {
	indexes := r.Indexes()
	byColl := map[string][]Index{}
	for _, ix := range indexes {
		byColl[ix.Collection] = append(byColl[ix.Collection], ix)
	}
	var out []Problem
	for _, s := range r.Shapes() {
		unfiltered := len(s.Eq)+len(s.Range)+len(s.Other) == 0
		switch {
		case slices.Contains(s.Eq, "_id"):
			continue // the primary key serves it
		case unfiltered && len(s.Sort) == 1 && s.Sort[0] == "_id":
			continue // a walk of the primary key
		case unfiltered && s.Op == "count" && len(s.Sort) == 0:
			continue // a count of the whole collection comes from its metadata
		}
		ixs := byColl[s.Collection]
		if !known(s.Collection, byColl) {
			continue
		}
		if slices.Contains(s.Range, "_id") && len(s.Eq) == 0 {
			continue // the primary key serves a range on _id
		}
		if slices.ContainsFunc(ixs, func(ix Index) bool { return ix.Serves(s) }) {
			continue
		}
		if allowed != nil && allowed(s) {
			continue
		}
		out = append(out, Problem{Shape: s, Indexes: ixs})
	}
	return out
}
