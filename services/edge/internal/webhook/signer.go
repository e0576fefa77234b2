package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Headers of a webhook request.
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
	// "<t>.<body>")>". The timestamp is signed so a receiver can refuse
	// an old request replayed by someone who recorded it.
	HeaderSignature = "Mongotron-Signature"
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
	// userAgent identifies the sender.
	userAgent = "Mongotron-Webhook/1"
)

// Sign returns the Mongotron-Signature header value of body sent at unix
// time t with secret.
func Sign(secret []byte, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
