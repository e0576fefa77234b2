package webhook

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
)

// TestEventHead_link: the intake takes an event's link from its own
// prev_cursor, and from its message's header only for an event published
// before the field existed.
func TestEventHead_link(t *testing.T) {
	t.Parallel()
	a, b := cursor.Cursor{Step: 2}.String(), cursor.Cursor{Step: 1}.String()
	tests := []struct {
		name, body, header, want string
	}{
		{"the field", `{"cursor":"` + a + `","prev_cursor":"` + b + `"}`, "", b},
		{"the field over the header", `{"cursor":"` + a + `","prev_cursor":"` + b + `"}`, a, b},
		{"a subscription's first event", `{"cursor":"` + a + `","prev_cursor":""}`, b, ""},
		{"no field: the header", `{"cursor":"` + a + `"}`, b, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ev eventHead
			require.NoError(t, json.Unmarshal([]byte(tt.body), &ev))
			require.Equal(t, tt.want, ev.link(tt.header))
		})
	}
}
