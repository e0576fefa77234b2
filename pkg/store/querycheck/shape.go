// Package querycheck finds MongoDB queries that no index serves. A
// [Recorder] on a test's client records the shape of every query the code
// under test sends (which fields a filter tests for equality, which for a
// range, the sort) and every index it creates; [Check] then names each
// shape that no index of its collection serves in equality, sort, range
// order, so that a query that would scan a collection in production fails
// the build rather than a database.
//
// FerretDB, which the tests run on, serves only _id from an index; the
// indexes recorded are the ones the services declare for MongoDB.
package querycheck

import (
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Shape is what an index needs to know of a query: its collection, the
// fields it tests and how, and its sort. Values are left out.
type Shape struct {
	Collection string
	// Eq are the fields tested for equality (or $in, without a sort).
	Eq []string
	// Range are the fields with a range ($gt, $gte, $lt, $lte; $in
	// when the query sorts).
	Range []string
	// Other are fields tested in ways no index bounds ($ne, $exists, …)
	// and the operators of alternatives ($or, $nor); an index can only
	// filter on them after it has found the rest.
	Other []string
	// Sort is the sort, each field prefixed with - when descending.
	Sort []string
	// Op is the command: find, update, delete, aggregate, …
	Op string
}

// String is a canonical form: one line, fields sorted.
func (s Shape) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", s.Op, s.Collection)
	part := func(name string, fs []string) {
		if len(fs) > 0 {
			fmt.Fprintf(&b, " %s(%s)", name, strings.Join(fs, ","))
		}
	}
	part("eq", s.Eq)
	part("range", s.Range)
	part("other", s.Other)
	part("sort", s.Sort)
	return b.String()
}

// filterShape fills s from a filter document.
func (s *Shape) filter(f bson.Raw) {
	elems, err := f.Elements()
	if err != nil {
		s.Other = append(s.Other, "<unreadable filter>")
		return
	}
	for _, e := range elems {
		key := e.Key()
		switch key {
		case "$and":
			arr, ok := e.Value().ArrayOK()
			if !ok {
				s.Other = append(s.Other, key)
				continue
			}
			vals, _ := arr.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					s.filter(d)
				}
			}
			continue
		case "$or", "$nor", "$expr", "$where", "$text", "$comment":
			s.Other = append(s.Other, key)
			continue
		}
		doc, isDoc := e.Value().DocumentOK()
		if !isDoc || !isOperatorDoc(doc) {
			s.Eq = append(s.Eq, key)
			continue
		}
		ops, _ := doc.Elements()
		kind := ""
		for _, op := range ops {
			switch op.Key() {
			case "$eq":
				kind = stronger(kind, "eq")
			case "$in":
				kind = stronger(kind, "in")
			case "$gt", "$gte", "$lt", "$lte":
				kind = stronger(kind, "range")
			default:
				kind = stronger(kind, "other")
			}
		}
		switch kind {
		case "eq":
			s.Eq = append(s.Eq, key)
		case "in":
			s.Range = append(s.Range, key+"$in")
		case "range":
			s.Range = append(s.Range, key)
		default:
			s.Other = append(s.Other, key)
		}
	}
}

// stronger picks how an index can use a field tested by several operators:
// equality beats $in beats a range beats the rest.
func stronger(a, b string) string {
	rank := map[string]int{"": 0, "other": 1, "range": 2, "in": 3, "eq": 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func isOperatorDoc(d bson.Raw) bool {
	elems, err := d.Elements()
	if err != nil || len(elems) == 0 {
		return false
	}
	return strings.HasPrefix(elems[0].Key(), "$")
}

func (s *Shape) sort(d bson.Raw) {
	elems, err := d.Elements()
	if err != nil {
		return
	}
	for _, e := range elems {
		dir := 1
		switch v := e.Value(); v.Type {
		case bson.TypeInt32:
			dir = int(v.Int32())
		case bson.TypeInt64:
			dir = int(v.Int64())
		case bson.TypeDouble:
			dir = int(v.Double())
		}
		if e.Key() == "$natural" {
			continue
		}
		if dir < 0 {
			s.Sort = append(s.Sort, "-"+e.Key())
		} else {
			s.Sort = append(s.Sort, e.Key())
		}
	}
}

// normalize sorts the field lists and turns $in into equality when the
// query does not sort (an index serves it as several equality lookups).
func (s *Shape) normalize() {
	if len(s.Sort) == 0 {
		var rest []string
		for _, f := range s.Range {
			if name, ok := strings.CutSuffix(f, "$in"); ok {
				s.Eq = append(s.Eq, name)
			} else {
				rest = append(rest, f)
			}
		}
		s.Range = rest
	} else {
		for i, f := range s.Range {
			s.Range[i] = strings.TrimSuffix(f, "$in")
		}
	}
	for _, l := range []*[]string{&s.Eq, &s.Range, &s.Other} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
}

// Shapes returns the query shapes of one command: a find, count,
// distinct, aggregate (its leading $match and $sort), findAndModify,
// update or delete (one per statement). Other commands have none.
func Shapes(name string, cmd bson.Raw) []Shape {
	coll, _ := cmd.Lookup(name).StringValueOK()
	var out []Shape
	add := func(filter, sortDoc bson.Raw) {
		s := Shape{Collection: coll, Op: name}
		if filter != nil {
			s.filter(filter)
		}
		if sortDoc != nil {
			s.sort(sortDoc)
		}
		s.normalize()
		out = append(out, s)
	}
	doc := func(key string, in bson.Raw) bson.Raw {
		d, _ := in.Lookup(key).DocumentOK()
		return d
	}
	switch name {
	case "find":
		add(doc("filter", cmd), doc("sort", cmd))
	case "count", "distinct":
		add(doc("query", cmd), nil)
	case "findAndModify":
		add(doc("query", cmd), doc("sort", cmd))
	case "aggregate":
		arr, ok := cmd.Lookup("pipeline").ArrayOK()
		if !ok {
			return nil
		}
		stages, _ := arr.Values()
		var match, sortDoc bson.Raw
		for i, st := range stages {
			d, ok := st.DocumentOK()
			if !ok {
				break
			}
			if m := doc("$match", d); m != nil && i == 0 {
				match = m
				continue
			}
			if so := doc("$sort", d); so != nil && sortDoc == nil && (i == 0 || match != nil && i == 1) {
				sortDoc = so
				continue
			}
			break
		}
		add(match, sortDoc)
	case "update", "delete":
		key := map[string]string{"update": "updates", "delete": "deletes"}[name]
		arr, ok := cmd.Lookup(key).ArrayOK()
		if !ok {
			return nil
		}
		stmts, _ := arr.Values()
		for _, st := range stmts {
			d, ok := st.DocumentOK()
			if !ok {
				continue
			}
			add(doc("q", d), nil)
		}
	}
	return out
}
