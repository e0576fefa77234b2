package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mongotron/mongotron/pkg/client"
)

// lastOf is a ChainStore holding one cursor for every subscription.
type lastOf string

func (l lastOf) LastCursor(context.Context, string) (string, error) { return string(l), nil }

// FuzzParseEvent feeds webhook bodies, which come from outside the
// receiver's process, to ParseEvent and VerifyChain: neither may panic,
// an event always follows its own prev_cursor, and a break names the
// event's own cursors.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"type":"event","cursor":"0000000000000002000000000000000a","prev_cursor":"00000000000000020000000000000009","id":"ab:0","subscription_id":"sub_1","kind":"trx_transfer","block":{"number":1,"id":"00","timestamp":"2025-01-01T00:00:00Z"},"amount":"1"}`))
	f.Add([]byte(`{"cursor":"b","prev_cursor":""}`))
	f.Add([]byte(`{"cursor":"b"}`))
	f.Add([]byte(`{"prev_cursor":1}`))
	f.Add([]byte(`{"memo":"\"prev_cursor\":\"x\""}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := client.ParseEvent(body)
		if err != nil {
			return
		}
		if ev.Linked() && ev.PrevCursor != "" && ev.Cursor > ev.PrevCursor {
			if err := client.VerifyChain(t.Context(), lastOf(ev.PrevCursor), ev); err != nil {
				t.Fatalf("an event does not follow its own prev_cursor %q: %v", ev.PrevCursor, err)
			}
		}
		err = client.VerifyChain(t.Context(), lastOf("0"), ev)
		if gap, ok := errors.AsType[*client.MissingEventsError](err); ok {
			if gap.Before != ev.Cursor || gap.Prev != ev.PrevCursor {
				t.Fatalf("break names %q/%q, want the event's %q/%q", gap.Before, gap.Prev, ev.Cursor, ev.PrevCursor)
			}
		}
	})
}
