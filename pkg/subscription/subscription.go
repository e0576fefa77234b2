// Package subscription defines a subscription as the edge stores it in
// MongoDB and returns it over REST, and as the ingest matches against it.
// Values in a stored Subscription are normalised: addresses base58, kinds
// known, amounts canonical integer strings.
package subscription

import (
	"time"
)

// IDPrefix starts every subscription id.
const IDPrefix = "sub_"

// Defaults of docs/api.md and the README.
const (
	// DefaultConfirmations is solidified: 19 blocks on top.
	DefaultConfirmations = 19
	// MaxConfirmations is the deepest level; deeper is solidified anyway.
	MaxConfirmations = 19
	// MaxAddresses bounds one subscription's address set.
	MaxAddresses = 100_000
	// MaxAddressesPerCall bounds a bulk add or remove.
	MaxAddressesPerCall = 10_000
)

// Statuses of a subscription.
const (
	StatusActive      = "active"
	StatusBackfilling = "backfilling"
	// StatusDeleted marks a tombstone: the document stays so that a late
	// control message cannot bring the subscription back, and GET answers
	// 404.
	StatusDeleted = "deleted"
)

// Finalities of a subscription.
const (
	// FinalityConfirmations delivers an event once its block has the
	// subscription's number of confirmations (0 to 19); at fewer than
	// 19 it may be retracted by a removed event.
	FinalityConfirmations = "confirmations"
	// FinalitySolidified delivers an event once the node reports its
	// block solidified (irreversible): never followed by a removed event.
	// Confirmations is then ignored.
	FinalitySolidified = "solidified"
)

// Directions of a filter.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
	DirectionAny = "any"
)

// Webhook is where events are POSTed.
type Webhook struct {
	URL    string `json:"url" bson:"url"`
	Secret string `json:"secret,omitempty" bson:"secret,omitempty"`
}

// WebhookDisabled says that a subscription's webhook is disabled, and why:
// its receiver answered 410 Gone. One 410 is enough, whatever came before
// it; other failures are retried and dead-lettered, and never disable a
// webhook. While it is set, events are not sent to the webhook; a manual
// retry, a replay, or a PATCH to another URL (or no webhook) enables the
// webhook again and clears it.
type WebhookDisabled struct {
	// URL is the webhook URL that answered. A webhook moved to another
	// URL since is not disabled, whatever an older document says.
	URL string `json:"url" bson:"url"`
	// At is when the webhook was disabled.
	At time.Time `json:"at" bson:"at"`
	// Reason says why, for people.
	Reason string `json:"reason" bson:"reason"`
	// StatusCode is the HTTP status that disabled it: 410.
	StatusCode int `json:"status_code" bson:"status_code"`
	// DeliveryID is the delivery whose attempt got that answer; empty in
	// documents written before it was recorded.
	DeliveryID string `json:"delivery_id" bson:"delivery_id,omitempty"`
}

// Backfill is the progress of a subscription created with a start_block in
// the past: blocks From..To are replayed for it, Done once caught up.
type Backfill struct {
	From int64 `json:"from" bson:"from"`
	To   int64 `json:"to" bson:"to"`
	Done bool  `json:"done" bson:"done"`
}

// Subscription is one stored subscription. Its address set lives in its own
// collection (it may hold 100,000 entries) and is counted in AddressCount.
type Subscription struct {
	ID     string `json:"id" bson:"_id"`
	Tenant string `json:"-" bson:"tenant"`

	Label         string   `json:"label" bson:"label"`
	Contracts     []string `json:"contracts" bson:"contracts"`
	Kinds         []string `json:"kinds" bson:"kinds"`
	Direction     string   `json:"direction" bson:"direction"`
	MinAmount     *string  `json:"min_amount" bson:"min_amount"`
	MaxAmount     *string  `json:"max_amount" bson:"max_amount"`
	OnlySuccess   bool     `json:"only_success" bson:"only_success"`
	Confirmations int      `json:"confirmations" bson:"confirmations"`
	// Finality is FinalityConfirmations (empty in documents stored before
	// it existed) or FinalitySolidified.
	Finality string `json:"finality" bson:"finality,omitempty"`
	// ExcludeFlags drops transfer events carrying any of these flags
	// (event.Flag values).
	ExcludeFlags []string `json:"exclude_flags" bson:"exclude_flags,omitempty"`
	// OnlyVerified drops token transfers (TRC20, TRC10) of tokens not on
	// the network's well-known list; TRX transfers pass.
	OnlyVerified bool           `json:"only_verified" bson:"only_verified,omitempty"`
	StartBlock   *int64         `json:"start_block" bson:"start_block"`
	All          bool           `json:"all" bson:"all"`
	Webhook      *Webhook       `json:"webhook" bson:"webhook"`
	Metadata     map[string]any `json:"metadata" bson:"metadata"`

	Status       string    `json:"status" bson:"status"`
	AddressCount int64     `json:"address_count" bson:"address_count"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" bson:"updated_at"`
	Backfill     *Backfill `json:"backfill,omitempty" bson:"backfill,omitempty"`
	// WebhookDisabled is set while the webhook is disabled (see
	// [WebhookDisabled]), and null otherwise. The webhook deliverer
	// writes it; PATCH and the deliverer's retry and replay clear it.
	WebhookDisabled *WebhookDisabled `json:"webhook_disabled" bson:"webhook_disabled,omitempty"`

	// Version grows by one with every change of the document or its
	// address set; control messages carry it (bus.SubscriptionChange).
	Version int64 `json:"-" bson:"version"`
}

// Address is one entry of a subscription's address set.
type Address struct {
	// ID is SubscriptionID + ":" + Address, so adding twice is a no-op.
	ID             string    `bson:"_id"`
	SubscriptionID string    `bson:"subscription_id"`
	Address        string    `bson:"address"`
	AddedAt        time.Time `bson:"added_at"`
}

// AddressDocID returns the _id of an address entry.
func AddressDocID(subscriptionID, address string) string { return subscriptionID + ":" + address }

// Solidified reports whether s delivers at the solidified level.
func (s *Subscription) Solidified() bool { return s.Finality == FinalitySolidified }

// DisabledWebhook returns why s's webhook is disabled, or nil when it is
// not: s has no webhook, or WebhookDisabled names another URL than the
// webhook's current one.
func (s *Subscription) DisabledWebhook() *WebhookDisabled {
	if s.Webhook == nil || s.WebhookDisabled == nil || s.WebhookDisabled.URL != s.Webhook.URL {
		return nil
	}
	return s.WebhookDisabled
}
