package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"

	"github.com/mongotron/mongotron/pkg/event"
)

// Event is one event of a subscription, from its history or its stream:
// decoded, and Raw, the JSON exactly as the server sent it (which keeps
// any field this version of the client does not know).
type Event struct {
	event.Event
	// Raw is the event's JSON as received.
	Raw json.RawMessage `json:"-"`
}

// decodeEvent decodes one event message, keeping its bytes.
func decodeEvent(raw []byte) (Event, error) {
	ev := Event{Raw: json.RawMessage(append([]byte(nil), raw...))}
	if err := json.Unmarshal(raw, &ev.Event); err != nil {
		return Event{}, fmt.Errorf("client: decode event: %w", err)
	}
	return ev, nil
}

// HistoryOptions filters and pages [Client.History].
type HistoryOptions struct {
	// After is the cursor of the last event already seen (an event's
	// Cursor, or the Next of the previous page). Empty means from the
	// oldest event kept.
	After string
	// Limit is the page size. Zero means the server's default (100).
	Limit int
	// Kinds keeps only these kinds. Empty means all.
	Kinds []string
	// Address keeps only events involving this address. Empty means all.
	Address string
	// TxID keeps only events of this transaction. Empty means all.
	TxID string
}

func (o HistoryOptions) query() url.Values {
	q := url.Values{}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if len(o.Kinds) > 0 {
		q.Set("kind", strings.Join(o.Kinds, ","))
	}
	if o.Address != "" {
		q.Set("address", o.Address)
	}
	if o.TxID != "" {
		q.Set("tx_id", o.TxID)
	}
	return q
}

// EventPage is one page of [Client.History].
type EventPage struct {
	Events []Event
	// Next is the After of the following page; empty at the end of the
	// history kept so far (new events may come later: ask again with the
	// last event's cursor).
	Next string
}

// History returns one page of a subscription's stored events, in cursor
// order.
func (c *Client) History(ctx context.Context, subID string, opts HistoryOptions) (*EventPage, error) {
	var p struct {
		Events []json.RawMessage `json:"events"`
		Next   *string           `json:"next"`
	}
	if err := c.do(ctx, "GET", "/v1/subscriptions/"+pathID(subID)+"/events", opts.query(), nil, &p); err != nil {
		return nil, err
	}
	out := &EventPage{Events: make([]Event, 0, len(p.Events)), Next: deref(p.Next)}
	for _, raw := range p.Events {
		ev, err := decodeEvent(raw)
		if err != nil {
			return nil, err
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// AllHistory iterates over a subscription's stored events after
// opts.After, page by page, up to the newest. It stops at the first error,
// which it yields.
func (c *Client) AllHistory(ctx context.Context, subID string, opts HistoryOptions) iter.Seq2[Event, error] {
	first := opts.After
	return paginate(func(cursor string) ([]Event, string, error) {
		o := opts
		o.After = first
		if cursor != "" {
			o.After = cursor
		}
		p, err := c.History(ctx, subID, o)
		if err != nil {
			return nil, "", err
		}
		return p.Events, p.Next, nil
	})
}
