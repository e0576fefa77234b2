package client

import (
	"time"

	"github.com/mongotron/mongotron/pkg/webhooksig"
)

// WebhookSignatureHeader is the header that carries a webhook's signature.
const WebhookSignatureHeader = webhooksig.Header

// DefaultWebhookTolerance is how far a webhook's timestamp may be from now
// when [VerifyWebhook] is given a zero tolerance.
const DefaultWebhookTolerance = webhooksig.DefaultTolerance

// Errors of [VerifyWebhook]. They are those of package webhooksig, which
// the edge signs with, so errors.Is matches either name.
var (
	// ErrWebhookHeader: the signature header is missing or malformed.
	ErrWebhookHeader = webhooksig.ErrHeader
	// ErrWebhookSignature: no signature matches the body and the secret.
	ErrWebhookSignature = webhooksig.ErrSignature
	// ErrWebhookTimestamp: the timestamp is outside the tolerance, so
	// the request may be a replay.
	ErrWebhookTimestamp = webhooksig.ErrTimestamp
)

// SignWebhook returns the Mongotron-Signature header of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". It is
// the edge's own signing, for testing a receiver.
func SignWebhook(secret string, t time.Time, body []byte) string {
	return webhooksig.Sign([]byte(secret), t, body)
}

// VerifyWebhook checks that body came from Mongotron: header (the
// Mongotron-Signature value, "t=<unix>,v1=<hex>[,v1=<hex>…]") must hold a
// v1 signature of "<t>.<body>" under secret, and t must be within
// tolerance of now. Several v1 values are accepted so that a secret can
// be rotated: any one matching is enough. Unknown schemes (v0, v2) are
// ignored. A zero tolerance means [DefaultWebhookTolerance]; a negative one
// skips the time check. An empty secret verifies nothing and is an error.
// Verify the raw body, before decoding it.
func VerifyWebhook(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	return webhooksig.Verify([]byte(secret), header, body, tolerance, now)
}
