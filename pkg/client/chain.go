package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Every event names the cursor of the previous event of its subscription
// (its PrevCursor, "" for the subscription's first event), so a consumer
// can check by itself that it holds every event: each event it takes must
// name the last one it took. [Stream] checks this on every event and
// mends a break by resuming; webhook receivers use [VerifyChain] and
// [Client.FetchMissing] (docs/api.md, "Checking you have every event").

// ErrChainBroken matches a [*MissingEventsError].
var ErrChainBroken = errors.New("client: events are missing")

// ErrAlreadyProcessed is what [VerifyChain] returns for an event at or
// below the last one the receiver processed: a redelivery (webhooks are at
// least once, a manual retry or a replay sends again, an event fetched
// with [Client.FetchMissing] may still arrive). Skip it and answer 2xx.
var ErrAlreadyProcessed = errors.New("client: event already processed")

// MissingEventsError names events a consumer did not get: those of
// SubscriptionID after cursor After and before cursor Before, the event
// that showed the break, which names Prev as its predecessor. It matches
// [ErrChainBroken].
type MissingEventsError struct {
	SubscriptionID string
	// After is the cursor of the last event the consumer holds, "" when
	// it holds none.
	After string
	// Before is the cursor of the event that did not link to After.
	Before string
	// Prev is Before's prev_cursor: the last of the missing events ("" when
	// Before claims to be the subscription's first event).
	Prev string
}

func (e *MissingEventsError) Error() string {
	return fmt.Sprintf("client: subscription %s: events missing after cursor %s, before cursor %s (which follows %s)",
		e.SubscriptionID, orNone(e.After), e.Before, orNone(e.Prev))
}

// Is matches [ErrChainBroken].
func (e *MissingEventsError) Is(target error) bool { return target == ErrChainBroken }

func orNone(c string) string {
	if c == "" {
		return `""`
	}
	return c
}

var prevKey = []byte(`"prev_cursor":`)

// Linked reports whether e carries its link, prev_cursor: every event does
// but those stored before the field existed, which cannot be checked. An
// Event built by hand (no Raw) counts as linked.
func (e Event) Linked() bool {
	// Quotes inside a JSON string are escaped, so a memo cannot fake
	// the key.
	return e.Raw == nil || bytes.Contains(e.Raw, prevKey)
}

// ParseEvent decodes an event's JSON, a webhook body for instance (verify
// it first with [VerifyWebhook]), keeping its bytes as Raw.
func ParseEvent(body []byte) (Event, error) { return decodeEvent(body) }

// ChainStore is where a webhook receiver keeps, per subscription, the
// cursor of the last event it processed, saved in the same transaction as
// what processing the event changed.
type ChainStore interface {
	// LastCursor returns the cursor of the last event of subscriptionID
	// the receiver processed, "" before the first.
	LastCursor(ctx context.Context, subscriptionID string) (string, error)
}

// VerifyChain checks an incoming event against the last event of its
// subscription the receiver processed, as store keeps it:
//
//   - nil: ev follows it (or the receiver holds none yet, or ev is too old
//     to carry a link): process ev, then store its cursor;
//   - [ErrAlreadyProcessed]: ev is at or below it: skip ev, answer 2xx;
//   - a [*MissingEventsError]: events between it and ev never reached the
//     receiver. Fetch them with [Client.FetchMissing], process them in
//     order, then ev.
//
// Processing must be idempotent by event id (and removed: a retraction
// has the same id as the event it takes back), since an event fetched
// from history may also arrive later as a webhook.
func VerifyChain(ctx context.Context, store ChainStore, ev Event) error {
	last, err := store.LastCursor(ctx, ev.SubscriptionID)
	if err != nil {
		return fmt.Errorf("client: last cursor of %s: %w", ev.SubscriptionID, err)
	}
	return checkLink(last, ev)
}

// checkLink is VerifyChain's check of ev against last.
func checkLink(last string, ev Event) error {
	switch {
	case last != "" && !cursorAfter(ev.Cursor, last):
		return fmt.Errorf("%w: %s at or below %s", ErrAlreadyProcessed, ev.Cursor, last)
	case last == "", !ev.Linked(), ev.PrevCursor == last:
		return nil
	}
	return &MissingEventsError{SubscriptionID: ev.SubscriptionID, After: last, Before: ev.Cursor, Prev: ev.PrevCursor}
}

// FetchMissing reads the events gap names from the subscription's
// history, in cursor order: those after gap.After and before gap.Before,
// the last of which must be gap.Prev. It checks that they chain from
// gap.After to gap.Prev. When history lacks some of them (older than
// its retention, or never stored) it returns the ones it found and a
// [*MissingEventsError] naming what is still missing.
func (c *Client) FetchMissing(ctx context.Context, gap *MissingEventsError) ([]Event, error) {
	var out []Event
	last := gap.After
	for ev, err := range c.AllHistory(ctx, gap.SubscriptionID, HistoryOptions{After: gap.After, Limit: 1000}) {
		if err != nil {
			return out, err
		}
		if !cursorAfter(gap.Before, ev.Cursor) {
			break
		}
		if err := checkLink(last, ev); err != nil {
			return out, err
		}
		out = append(out, ev)
		last = ev.Cursor
	}
	if last != gap.Prev {
		return out, &MissingEventsError{SubscriptionID: gap.SubscriptionID, After: last, Before: gap.Before, Prev: gap.Prev}
	}
	return out, nil
}
