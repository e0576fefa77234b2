package chaos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// history returns stored events c01 … cNN, with ids id-c01 ….
func history(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		c := fmt.Sprintf("c%02d", i+1)
		out[i] = Event{Cursor: c, ID: "id-" + c}
	}
	return out
}

// received returns a stopped client that started after after and got
// the events of cursors, in order, over one stream.
func received(after string, cursors ...string) *Client {
	c := &Client{cfg: ClientConfig{Name: "test", After: after}, sessions: []Session{{Hello: true}}}
	for _, cur := range cursors {
		c.events = append(c.events, Received{Cursor: cur, ID: "id-" + cur})
	}
	return c
}

// The check must catch what it is for; a check that never fails proves
// nothing.
func TestCheckStream(t *testing.T) {
	t.Parallel()
	hist := history(10)
	tests := []struct {
		name                                  string
		after                                 string
		got                                   []string
		missing, dups, unexpected, outOfOrder int
	}{
		{name: "live, exact", got: []string{"c03", "c04", "c05"}},
		{name: "resumed, exact", after: "c02", got: []string{"c03", "c04", "c05"}},
		{name: "resumed, first skipped", after: "c02", got: []string{"c04", "c05"}, missing: 1},
		{name: "hole", got: []string{"c03", "c04", "c06"}, missing: 1},
		{name: "twice", got: []string{"c03", "c04", "c04", "c05"}, dups: 1},
		{name: "again after a resume", got: []string{"c03", "c04", "c05", "c04", "c05", "c06"}, dups: 2, outOfOrder: 1},
		{name: "out of order", got: []string{"c03", "c05", "c04", "c06"}, outOfOrder: 1},
		{name: "not stored", got: []string{"c03", "c04", "c04x", "c05"}, unexpected: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := CheckStream(received(tt.after, tt.got...), hist)
			require.Equal(t, tt.missing, v.Missing, "missing: %s", v)
			require.Equal(t, tt.dups, v.Duplicates, "duplicates: %s", v)
			require.Equal(t, tt.unexpected, v.Unexpected, "unexpected: %s", v)
			require.Equal(t, tt.outOfOrder, v.OutOfOrder, "out of order: %s", v)
			clean := tt.missing+tt.dups+tt.unexpected+tt.outOfOrder == 0
			require.Equal(t, clean, v.Clean(false), "%s", v)
		})
	}
	t.Run("nothing received", func(t *testing.T) {
		t.Parallel()
		require.False(t, CheckStream(received(""), hist).Clean(false))
	})
}

func TestCheckWebhook(t *testing.T) {
	t.Parallel()
	hist := history(5)
	ids := func(cursors ...string) []string {
		out := make([]string, len(cursors))
		for i, c := range cursors {
			out[i] = "id-" + c
		}
		return out
	}
	tests := []struct {
		name                                  string
		got                                   []string
		through                               string
		missing, dups, unexpected, outOfOrder int
	}{
		{name: "exact", got: ids("c01", "c02", "c03", "c04", "c05")},
		{name: "through a cursor", got: ids("c01", "c02", "c03"), through: "c03"},
		{name: "a repeat is allowed", got: ids("c01", "c02", "c02", "c03", "c01", "c04", "c05"), dups: 2},
		{name: "missing", got: ids("c01", "c03", "c04", "c05"), missing: 1},
		{name: "short of the target", got: ids("c01", "c02"), through: "c03", missing: 1},
		{name: "out of order", got: ids("c01", "c03", "c02", "c04", "c05"), outOfOrder: 1},
		{name: "not stored", got: append(ids("c01", "c02", "c03", "c04", "c05"), "id-x"), unexpected: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := CheckWebhook("hook", Sub{ID: "sub"}, tt.got, hist, tt.through)
			require.Equal(t, tt.missing, v.Missing, "missing: %s", v)
			require.Equal(t, tt.dups, v.Duplicates, "duplicates: %s", v)
			require.Equal(t, tt.unexpected, v.Unexpected, "unexpected: %s", v)
			require.Equal(t, tt.outOfOrder, v.OutOfOrder, "out of order: %s", v)
			require.Equal(t, tt.missing+tt.unexpected+tt.outOfOrder == 0, v.Clean(true), "%s", v)
		})
	}
}
