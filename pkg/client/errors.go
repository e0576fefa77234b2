package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels that [*APIError] and [*CloseError] match with errors.Is.
var (
	// ErrInvalid matches a refused request: 400 and 422.
	ErrInvalid = errors.New("client: invalid request")
	// ErrUnauthorized matches a missing, unknown or revoked key: 401,
	// and a stream closed with 1008.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden matches a key not allowed to make the call: 403 (a
	// tenant key on /v1/keys, the admin key elsewhere).
	ErrForbidden = errors.New("client: forbidden")
	// ErrNotFound matches 404, and a stream closed with 4004.
	ErrNotFound = errors.New("client: not found")
	// ErrConflict matches 409: the subscription changed during the call;
	// read it again and retry.
	ErrConflict = errors.New("client: conflict")
	// ErrRateLimited matches 429; [APIError.RetryAfter] says when to
	// retry.
	ErrRateLimited = errors.New("client: rate limited")
	// ErrServer matches 5xx answers.
	ErrServer = errors.New("client: server error")
	// ErrSubscriptionDeleted matches a stream closed with 4404: the
	// subscription is gone, and reconnecting cannot help.
	ErrSubscriptionDeleted = errors.New("client: subscription deleted")
	// ErrStreamClosed is what [Stream.Next] returns after [Stream.Close].
	ErrStreamClosed = errors.New("client: stream closed")
)

// APIError is an error answer of the REST API: its HTTP status and the
// body {"error": {"code", "message"}} of docs/api.md.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the machine-readable snake_case code ("not_found",
	// "invalid_address", "rate_limited", …); empty when the answer had
	// no JSON error body (a proxy's page, say).
	Code string
	// Message is the server's human text.
	Message string
	// RetryAfter is the Retry-After header of a 429 or 503; zero when
	// absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("client: HTTP %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("client: HTTP %d %s: %s", e.Status, e.Code, msg)
}

// Is matches the sentinel of e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// temporary reports whether the same request may succeed later.
func (e *APIError) temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == http.StatusRequestTimeout
}

// readAPIError turns a non-2xx answer into an *APIError.
func readAPIError(resp *http.Response) error {
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) < 200 {
		e.Message = s
	}
	return e
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// Close codes of the stream (docs/api.md).
const (
	CloseNormal              = 1000
	CloseGoingAway           = 1001
	ClosePolicyViolation     = 1008
	CloseMessageTooBig       = 1009
	CloseInternalError       = 1011
	CloseServiceRestart      = 1012
	CloseUnknownSubscription = 4004
	CloseSlowConsumer        = 4008
	CloseTooManyConnections  = 4029
	CloseSubscriptionDeleted = 4404
)

// CloseError is why the server ended a stream for good: the close code
// and reason of its close frame. Codes a [Stream] recovers from by
// reconnecting never reach the caller.
type CloseError struct {
	// Code is the WebSocket close code (the Close* constants).
	Code int
	// Reason is the server's text.
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("client: stream closed by the server with %d: %s", e.Code, e.Reason)
}

// Is matches [ErrSubscriptionDeleted] for 4404, [ErrNotFound] for 4004
// and [ErrUnauthorized] for 1008.
func (e *CloseError) Is(target error) bool {
	switch target {
	case ErrSubscriptionDeleted:
		return e.Code == CloseSubscriptionDeleted
	case ErrNotFound:
		return e.Code == CloseUnknownSubscription
	case ErrUnauthorized:
		return e.Code == ClosePolicyViolation
	}
	return false
}

// permanentClose reports whether a stream closed with code must not
// reconnect: the subscription is gone or unknown, the key no longer works,
// or the client broke the protocol. Every other code (1000, 1001, 1011,
// 1012, 4008, 4029 and codes this version does not know) reconnects with
// the last cursor: 1000 included, since the caller of [Client.Stream]
// still wants events, and an unknown code is safe to retry because a
// subscription that is really gone is refused at the next handshake.
func permanentClose(code int) bool {
	switch code {
	case ClosePolicyViolation, CloseMessageTooBig, CloseUnknownSubscription, CloseSubscriptionDeleted,
		1002, 1003, 1007: // protocol error, unsupported data, invalid payload
		return true
	}
	return false
}
