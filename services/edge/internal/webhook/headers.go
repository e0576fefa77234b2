package webhook

import (
	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/webhooksig"
)

// Headers of a webhook request (docs/api.md, "Webhooks").
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
	// "<t>.<body>")>", made by package webhooksig, whose Verify (and
	// pkg/client's VerifyWebhook) receivers check it with.
	HeaderSignature = webhooksig.Header
	// HeaderEventID is the event's id (<tx_id>:<index>): the same on
	// every attempt, for the receiver's de-duplication.
	HeaderEventID = "Mongotron-Event-Id"
	// HeaderSubscriptionID is the subscription the event matched.
	HeaderSubscriptionID = "Mongotron-Subscription-Id"
	// HeaderDeliveryID is the delivery's id, also the same on every
	// attempt; unlike the event id it tells a retraction (removed: true)
	// apart from the delivery it retracts.
	HeaderDeliveryID = "Mongotron-Delivery-Id"
	// HeaderAttempt counts attempts of the delivery from 1.
	HeaderAttempt = "Mongotron-Delivery-Attempt"
	// HeaderPrevCursor is the cursor of the subscription's event before
	// this one, the event's prev_cursor, so that a receiver can tell a
	// delivery it never got. It is absent for the subscription's first
	// event. The ingest's messages carry the same link under the same
	// name (bus.PrevCursorHeader).
	HeaderPrevCursor = bus.PrevCursorHeader
	// userAgent identifies the sender.
	userAgent = "Mongotron-Webhook/1"
)
