// Package webhooksig signs and verifies webhook requests: the one
// implementation of the Mongotron-Signature header, used by the edge that
// sends the requests and by [github.com/mongotron/mongotron/pkg/client]'s
// VerifyWebhook that receivers call (docs/api.md, "Webhooks").
//
// The header is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
// The timestamp is part of what is signed, so that a receiver can refuse
// a recorded request replayed later.
package webhooksig

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

// Header is the HTTP header that carries the signature.
const Header = "Mongotron-Signature"

// DefaultTolerance is how far a request's timestamp may be from now when
// [Verify] is given a zero tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors of [Verify].
var (
	// ErrHeader: the signature header is missing or malformed.
	ErrHeader = errors.New("webhooksig: malformed webhook signature header")
	// ErrSignature: no signature matches the body and the secret.
	ErrSignature = errors.New("webhooksig: webhook signature mismatch")
	// ErrTimestamp: the timestamp is outside the tolerance, so the
	// request may be a replay.
	ErrTimestamp = errors.New("webhooksig: webhook timestamp outside the tolerance")
	// ErrEmptySecret: an HMAC under an empty key proves nothing.
	ErrEmptySecret = errors.New("webhooksig: empty webhook secret")
)

// Sign returns the signature header of body sent at t under secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that body was signed by someone holding secret: header
// ("t=<unix>,v1=<hex>[,v1=<hex>…]") must hold a v1 signature of
// "<t>.<body>" under secret, and t must be within tolerance of now.
// Several v1 values are accepted so that a secret can be rotated: any one
// matching is enough. Unknown schemes (v0, v2) are ignored. A zero
// tolerance means [DefaultTolerance]; a negative one skips the time check.
// Verify the raw body, before decoding it.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if len(secret) == 0 {
		return ErrEmptySecret
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrHeader, clip(part))
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrHeader)
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
		return fmt.Errorf("%w: no t= timestamp", ErrHeader)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrHeader, clip(ts))
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1= signature", ErrHeader)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// Every candidate is compared, in constant time each, so timing
		// tells nothing of which one was close.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignature
	}
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance > 0 {
		sent := time.Unix(unix, 0)
		if d := now.Sub(sent); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: sent at %s, %s from now", ErrTimestamp, sent.UTC().Format(time.RFC3339), d.Round(time.Second))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
