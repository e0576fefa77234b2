package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader is the header that carries a webhook's signature.
const WebhookSignatureHeader = "Mongotron-Signature"

// DefaultWebhookTolerance is how far a webhook's timestamp may be from now
// when [VerifyWebhook] is given a zero tolerance.
const DefaultWebhookTolerance = 5 * time.Minute

// Errors of [VerifyWebhook].
var (
	// ErrWebhookHeader: the signature header is missing or malformed.
	ErrWebhookHeader = errors.New("client: malformed webhook signature header")
	// ErrWebhookSignature: no signature matches the body and the secret.
	ErrWebhookSignature = errors.New("client: webhook signature mismatch")
	// ErrWebhookTimestamp: the timestamp is outside the tolerance, so
	// the request may be a replay.
	ErrWebhookTimestamp = errors.New("client: webhook timestamp outside the tolerance")
)

// SignWebhook returns the Mongotron-Signature header of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks that body came from Mongotron: header (the
// Mongotron-Signature value, "t=<unix>,v1=<hex>[,v1=<hex>…]") must hold a
// v1 signature of "<t>.<body>" under secret, and t must be within
// tolerance of now. Several v1 values are accepted so that a secret can
// be rotated: any one matching is enough. Unknown schemes (v0, v2) are
// ignored. A zero tolerance means [DefaultWebhookTolerance]; a negative one
// skips the time check. Verify the raw body, before decoding it.
func VerifyWebhook(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return errors.New("client: empty webhook secret")
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrWebhookHeader, clipString(part))
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrWebhookHeader)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // cannot match; another v1 may
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t= timestamp", ErrWebhookHeader)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrWebhookHeader, clipString(ts))
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1= signature", ErrWebhookHeader)
	}
	want := webhookMAC(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// Every candidate is compared, in constant time each, so timing
		// tells nothing of which one was close.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrWebhookSignature
	}
	if tolerance == 0 {
		tolerance = DefaultWebhookTolerance
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: sent at %s, %s from now", ErrWebhookTimestamp, time.Unix(unix, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
		}
	}
	return nil
}

func clipString(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
