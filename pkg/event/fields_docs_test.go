package event_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
)

// jsonNames returns the JSON names of t's fields.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestDocs_EventFields checks that docs/api.md's table of event fields
// names every field of the event JSON, and that the page names every
// field of its block, token and data objects, so that a field added to
// the event cannot go undocumented.
func TestDocs_EventFields(t *testing.T) {
	t.Parallel()
	doc := readDoc(t, "docs/api.md")
	_, fields, ok := strings.Cut(doc, "\n### Fields\n")
	require.True(t, ok, "docs/api.md has no Fields section")
	fields, _, ok = strings.Cut(fields, "\n### ")
	require.True(t, ok)
	for _, name := range jsonNames(reflect.TypeFor[event.Event]()) {
		require.Contains(t, fields, "`"+name+"`", "docs/api.md's event fields do not name %q", name)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[event.BlockRef](), reflect.TypeFor[event.Token](), reflect.TypeFor[event.Data]()} {
		for _, name := range jsonNames(typ) {
			require.True(t, strings.Contains(doc, "`"+name+"`") || strings.Contains(doc, `"`+name+`"`),
				"docs/api.md does not name the %s field %q", typ.Name(), name)
		}
	}
}
