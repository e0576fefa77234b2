package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"time"
)

// Key is a new API key. The edge shows Key once; it stores only a hash.
type Key struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Key    string `json:"key"`
}

// CreateKey makes a key for tenant (1 to 63 of a-z, 0-9, _ and -). Only
// the admin key may call it.
func (c *Client) CreateKey(ctx context.Context, tenant string) (*Key, error) {
	var k Key
	if err := c.do(ctx, "POST", "/v1/keys", nil, map[string]string{"tenant": tenant}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeKey revokes the key with id keyID at once: its calls fail and its
// streams close with 1008. Only the admin key may call it; a second
// revoke is [ErrNotFound].
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	return c.do(ctx, "DELETE", "/v1/keys/"+pathID(keyID), nil, nil, nil)
}

// Webhook is where the server POSTs a subscription's events. Secret is
// write-only: the server returns it only when it generated it, in the
// response to the create or update that set the webhook without one.
type Webhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// WebhookDisabled says why the server stopped sending events to a
// subscription's webhook: its receiver answered 410 Gone (StatusCode) to
// the delivery DeliveryID, at At. A manual retry of a delivery or a
// replay (the REST deliveries API), or an update to another URL, enables
// the webhook again.
type WebhookDisabled struct {
	URL        string    `json:"url"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"`
	StatusCode int       `json:"status_code"`
	DeliveryID string    `json:"delivery_id"`
}

// Backfill is the progress of a subscription created with a start block in
// the past.
type Backfill struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	Done bool  `json:"done"`
}

// Subscription is a subscription as the server returns it. Addresses is
// filled by create, get and update; a list leaves it empty (AddressCount
// says how many there are, and [Client.ListAddresses] pages through them).
type Subscription struct {
	ID            string   `json:"id"`
	Label         string   `json:"label"`
	Addresses     []string `json:"addresses,omitempty"`
	Contracts     []string `json:"contracts"`
	Kinds         []string `json:"kinds"`
	Direction     string   `json:"direction"`
	MinAmount     *string  `json:"min_amount"`
	MaxAmount     *string  `json:"max_amount"`
	OnlySuccess   bool     `json:"only_success"`
	Confirmations int      `json:"confirmations"`
	// Finality is "confirmations" (deliver at Confirmations) or
	// "solidified" (once the block is irreversible; never retracted).
	Finality string `json:"finality"`
	// ExcludeFlags drops transfers carrying any of these flags;
	// OnlyVerified drops token transfers of tokens not on the network's
	// well-known list.
	ExcludeFlags []string       `json:"exclude_flags"`
	OnlyVerified bool           `json:"only_verified"`
	StartBlock   *int64         `json:"start_block"`
	All          bool           `json:"all"`
	Webhook      *Webhook       `json:"webhook"`
	Metadata     map[string]any `json:"metadata"`
	Status       string         `json:"status"`
	AddressCount int64          `json:"address_count"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Backfill     *Backfill      `json:"backfill,omitempty"`
	// WebhookDisabled is set while the webhook is disabled, nil
	// otherwise.
	WebhookDisabled *WebhookDisabled `json:"webhook_disabled"`
}

// CreateRequest is the body of [Client.CreateSubscription]. Every field is
// optional, but the server refuses a subscription with no addresses,
// contracts or kinds unless All is set. Nil pointers leave the server's
// default: direction any, only_success true, confirmations 19.
type CreateRequest struct {
	Label string `json:"label,omitempty"`
	// Addresses takes at most 10,000 entries, base58 or hex; add more
	// with [Client.AddAddresses].
	Addresses     []string `json:"addresses,omitempty"`
	Contracts     []string `json:"contracts,omitempty"`
	Kinds         []string `json:"kinds,omitempty"`
	Direction     string   `json:"direction,omitempty"`
	MinAmount     *string  `json:"min_amount,omitempty"`
	MaxAmount     *string  `json:"max_amount,omitempty"`
	OnlySuccess   *bool    `json:"only_success,omitempty"`
	Confirmations *int     `json:"confirmations,omitempty"`
	// Finality is "confirmations" (the default) or "solidified".
	Finality     string         `json:"finality,omitempty"`
	ExcludeFlags []string       `json:"exclude_flags,omitempty"`
	OnlyVerified bool           `json:"only_verified,omitempty"`
	StartBlock   *int64         `json:"start_block,omitempty"`
	All          bool           `json:"all,omitempty"`
	Webhook      *Webhook       `json:"webhook,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// CreateSubscription creates a subscription and returns it with its id.
func (c *Client) CreateSubscription(ctx context.Context, req CreateRequest) (*Subscription, error) {
	var s Subscription
	if err := c.do(ctx, "POST", "/v1/subscriptions", nil, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetSubscription returns one of the caller's subscriptions; another
// tenant's, a deleted one and an unknown id are all [ErrNotFound].
func (c *Client) GetSubscription(ctx context.Context, id string) (*Subscription, error) {
	var s Subscription
	if err := c.do(ctx, "GET", "/v1/subscriptions/"+pathID(id), nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SubscriptionPage is one page of [Client.ListSubscriptions].
type SubscriptionPage struct {
	Subscriptions []Subscription `json:"subscriptions"`
	// Next is the cursor of the following page; empty at the end.
	Next string `json:"next"`
}

// ListSubscriptions returns one page of the caller's subscriptions, in id
// order.
func (c *Client) ListSubscriptions(ctx context.Context, opts ListOptions) (*SubscriptionPage, error) {
	var p struct {
		Subscriptions []Subscription `json:"subscriptions"`
		Next          *string        `json:"next"`
	}
	if err := c.do(ctx, "GET", "/v1/subscriptions", opts.query(), nil, &p); err != nil {
		return nil, err
	}
	return &SubscriptionPage{Subscriptions: p.Subscriptions, Next: deref(p.Next)}, nil
}

// AllSubscriptions iterates over every subscription of the caller, a page
// of limit at a time (zero: the server's default), from the first. It
// stops at the first error, which it yields.
func (c *Client) AllSubscriptions(ctx context.Context, limit int) iter.Seq2[Subscription, error] {
	return paginate(func(cursor string) ([]Subscription, string, error) {
		p, err := c.ListSubscriptions(ctx, ListOptions{Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return p.Subscriptions, p.Next, nil
	})
}

// UpdateRequest is a PATCH of a subscription: a nil field is left as it
// is. The Clear fields set a nullable field back to null (no bound, no
// webhook, no metadata); setting a value and its Clear together is an
// error. Addresses change with [Client.AddAddresses] and
// [Client.RemoveAddresses], and the start block only at creation.
type UpdateRequest struct {
	Label         *string
	Contracts     *[]string
	Kinds         *[]string
	Direction     *string
	MinAmount     *string
	MaxAmount     *string
	OnlySuccess   *bool
	Confirmations *int
	Finality      *string
	ExcludeFlags  *[]string
	OnlyVerified  *bool
	All           *bool
	Webhook       *Webhook
	Metadata      map[string]any

	ClearMinAmount bool
	ClearMaxAmount bool
	ClearWebhook   bool
	ClearMetadata  bool
}

// MarshalJSON writes only the fields set, and null for the cleared ones.
func (r UpdateRequest) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	set := func(name string, isSet bool, v any) {
		if isSet {
			m[name] = v
		}
	}
	set("label", r.Label != nil, r.Label)
	set("contracts", r.Contracts != nil, r.Contracts)
	set("kinds", r.Kinds != nil, r.Kinds)
	set("direction", r.Direction != nil, r.Direction)
	set("only_success", r.OnlySuccess != nil, r.OnlySuccess)
	set("confirmations", r.Confirmations != nil, r.Confirmations)
	set("finality", r.Finality != nil, r.Finality)
	set("exclude_flags", r.ExcludeFlags != nil, r.ExcludeFlags)
	set("only_verified", r.OnlyVerified != nil, r.OnlyVerified)
	set("all", r.All != nil, r.All)
	for _, f := range []struct {
		name  string
		isSet bool
		v     any
		clear bool
	}{
		{"min_amount", r.MinAmount != nil, r.MinAmount, r.ClearMinAmount},
		{"max_amount", r.MaxAmount != nil, r.MaxAmount, r.ClearMaxAmount},
		{"webhook", r.Webhook != nil, r.Webhook, r.ClearWebhook},
		{"metadata", r.Metadata != nil, r.Metadata, r.ClearMetadata},
	} {
		if f.isSet && f.clear {
			return nil, errors.New("client: " + f.name + " is both set and cleared")
		}
		set(f.name, f.isSet, f.v)
		if f.clear {
			m[f.name] = nil
		}
	}
	return json.Marshal(m)
}

// UpdateSubscription changes a subscription's filters, label, metadata or
// webhook, and returns it as it is now. A concurrent change of the same
// subscription makes it [ErrConflict].
func (c *Client) UpdateSubscription(ctx context.Context, id string, req UpdateRequest) (*Subscription, error) {
	var s Subscription
	if err := c.do(ctx, "PATCH", "/v1/subscriptions/"+pathID(id), nil, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSubscription deletes a subscription; its live streams close with
// 4404. Deleting it again is [ErrNotFound].
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/subscriptions/"+pathID(id), nil, nil, nil)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// paginate turns a page function into an iterator that follows Next
// until it is empty.
func paginate[T any](page func(cursor string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := ""
		for {
			items, next, err := page(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			// A server repeating a cursor would loop forever.
			if next == "" || next == cursor {
				return
			}
			cursor = next
		}
	}
}
