package stream

import (
	"strconv"

	"github.com/gorilla/websocket"
)

// Disconnect is why the server closes a stream: the WebSocket close code
// and a short reason, both sent in the close frame. It is an error, so code
// that decides to end a stream returns or passes it like any other error
// and the connection is closed with exactly this code.
type Disconnect struct {
	// Code is the close code (docs/api.md "Close codes").
	Code int
	// Reason is human text for logs and the close frame; it must stay
	// under 123 bytes, the room a close frame has for it.
	Reason string
}

// Error implements error.
func (d Disconnect) Error() string {
	return "stream: disconnect " + strconv.Itoa(d.Code) + ": " + d.Reason
}

// frame returns the payload of the close frame for d.
func (d Disconnect) frame() []byte {
	reason := d.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	return websocket.FormatCloseMessage(d.Code, reason)
}

// maxReasonLen is the most a close frame can carry after its 2-byte code
// (control frames hold 125 bytes).
const maxReasonLen = 122

// Every close code the stream uses (docs/api.md). The comment on each says
// whether a client should reconnect.
var (
	// DisconnectNormal: the stream ended normally (the client closed it).
	// Reconnect only if the client still wants events.
	DisconnectNormal = Disconnect{Code: websocket.CloseNormalClosure, Reason: "normal closure"}
	// DisconnectGoingAway: the edge is stopping without a restart, or the
	// peer stopped answering pings. Reconnect with the last cursor.
	DisconnectGoingAway = Disconnect{Code: websocket.CloseGoingAway, Reason: "going away"}
	// DisconnectPongTimeout: the peer stopped answering pings (1001). The
	// client, if alive, should reconnect with the last cursor.
	DisconnectPongTimeout = Disconnect{Code: websocket.CloseGoingAway, Reason: "no pong within the pong timeout"}
	// DisconnectConnectionLost: the socket failed under us (1001); the
	// close frame rarely reaches anyone. Reconnect with the last cursor.
	DisconnectConnectionLost = Disconnect{Code: websocket.CloseGoingAway, Reason: "connection lost"}
	// DisconnectKeyRevoked: the API key was revoked (policy violation).
	// Do not reconnect with the same key.
	DisconnectKeyRevoked = Disconnect{Code: websocket.ClosePolicyViolation, Reason: "api key revoked"}
	// DisconnectMessageTooBig: the client sent a frame over 4 KiB. Do not
	// reconnect before fixing the client.
	DisconnectMessageTooBig = Disconnect{Code: websocket.CloseMessageTooBig, Reason: "client frames are limited to 4 KiB"}
	// DisconnectInternal: the edge failed (history or broker error).
	// Reconnect with the last cursor, with backoff.
	DisconnectInternal = Disconnect{Code: websocket.CloseInternalServerErr, Reason: "internal error"}
	// DisconnectServiceRestart: the edge is restarting. Reconnect with the
	// last cursor (another edge will serve it).
	DisconnectServiceRestart = Disconnect{Code: websocket.CloseServiceRestart, Reason: "service restart, reconnect with your last cursor"}
	// DisconnectBrokerLost: the edge lost NATS for longer than it waits
	// for a reconnect (1012). Reconnect with the last cursor; another edge
	// (or this one, once it is ready again) replays what was missed.
	DisconnectBrokerLost = Disconnect{Code: websocket.CloseServiceRestart, Reason: "event broker unreachable, reconnect with your last cursor"}
	// DisconnectUnmendable: live events were lost on the way to this edge
	// and history could not be read to fill the gap in time (1012).
	// Reconnect with the last cursor: the resume replays the gap.
	DisconnectUnmendable = Disconnect{Code: websocket.CloseServiceRestart, Reason: "events could not be delivered in order, reconnect with your last cursor"}
	// DisconnectUnknownSubscription: the subscription does not exist. Do
	// not reconnect.
	DisconnectUnknownSubscription = Disconnect{Code: 4004, Reason: "unknown subscription"}
	// DisconnectSlowConsumer: the client read too slowly and its queue
	// passed the limit. Reconnect with the last cursor; the missed events
	// are replayed.
	DisconnectSlowConsumer = Disconnect{Code: 4008, Reason: "slow consumer: queue over its limit"}
	// DisconnectTooManyConnections: the edge is at its connection limit.
	// Reconnect later, with backoff (possibly reaching another edge).
	DisconnectTooManyConnections = Disconnect{Code: 4029, Reason: "too many connections"}
	// DisconnectSubscriptionDeleted: the subscription was deleted. Do not
	// reconnect.
	DisconnectSubscriptionDeleted = Disconnect{Code: 4404, Reason: "subscription deleted"}
)
