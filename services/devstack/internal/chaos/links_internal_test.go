package chaos

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// linkedHistory returns stored events c01 … cNN, each naming the one
// before as its predecessor.
func linkedHistory(n int) []Event {
	out := history(n)
	prev := ""
	for i := range out {
		p := prev
		out[i].PrevCursor = &p
		prev = out[i].Cursor
	}
	return out
}

// linkedReceived is received with each event's link: prev[i] for the
// i-th, "-" for none.
func linkedReceived(cursors, prevs []string) *Client {
	c := received("", cursors...)
	for i := range c.events {
		if prevs[i] != "-" {
			p := prevs[i]
			c.events[i].Prev = &p
		}
	}
	return c
}

func TestCheckHistoryLinks(t *testing.T) {
	t.Parallel()
	require.True(t, CheckHistoryLinks(Sub{ID: "s"}, linkedHistory(6)).Clean(false))

	deleted := linkedHistory(6)
	deleted = append(deleted[:3], deleted[4:]...) // c04 is gone
	v := CheckHistoryLinks(Sub{ID: "s"}, deleted)
	require.False(t, v.Clean(false))
	require.Contains(t, fmt.Sprint(v), `BROKEN LINK c05 (block 0, id id-c05) names "c04" as its predecessor; the history has "c03" before it`)

	unlinked := linkedHistory(3)
	unlinked[1].PrevCursor = nil
	require.False(t, CheckHistoryLinks(Sub{ID: "s"}, unlinked).Clean(false))

	late := linkedHistory(3)
	first := "c00" // the subscription's first event must name none
	late[0].PrevCursor = &first
	require.False(t, CheckHistoryLinks(Sub{ID: "s"}, late).Clean(false))
}

func TestCheckLinks(t *testing.T) {
	t.Parallel()
	hist := linkedHistory(6)
	tests := []struct {
		name        string
		got, prevs  []string
		clean       bool
		wantProblem string
	}{
		{name: "exact", got: []string{"c02", "c03", "c04"}, prevs: []string{"c01", "c02", "c03"}, clean: true},
		{name: "the first event", got: []string{"c01", "c02"}, prevs: []string{"", "c01"}, clean: true},
		{name: "a wrong link", got: []string{"c02", "c03"}, prevs: []string{"c01", "c01"}, wantProblem: `BROKEN LINK c03`},
		{name: "no link", got: []string{"c02", "c03"}, prevs: []string{"c01", "-"}, wantProblem: `UNLINKED c03`},
		{name: "not stored: CheckStream's", got: []string{"c02", "c02x"}, prevs: []string{"c01", "c02"}, clean: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := CheckLinks(linkedReceived(tt.got, tt.prevs), hist)
			require.Equal(t, tt.clean, v.Clean(false), "%s", v)
			if tt.wantProblem != "" {
				require.Contains(t, fmt.Sprint(v), tt.wantProblem)
			}
		})
	}
}
