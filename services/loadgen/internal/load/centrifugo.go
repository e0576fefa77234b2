package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mongotron/mongotron/pkg/cursor"
)

// Protocol is the wire protocol the streams speak.
type Protocol string

// Protocols.
const (
	// ProtocolEdge is the edge's: GET /v1/subscriptions/{id}/stream with
	// the API key as a bearer token, then one JSON frame per event.
	ProtocolEdge Protocol = "edge"
	// ProtocolCentrifugo is Centrifugo's bidirectional JSON protocol
	// (v2) on /connection/websocket: a connect command carrying
	// Config.Key as the connection JWT, a subscribe command to the
	// channel Config.Subscriptions names, then publications as pushes,
	// several to a frame separated by newlines, and the server's
	// application-level pings ({}) answered with pongs ({}).
	ProtocolCentrifugo Protocol = "centrifugo"
)

// centrifugoPath is Centrifugo's default bidirectional WebSocket route.
const centrifugoPath = "/connection/websocket"

// The command ids of the handshake; later commands (pongs) carry none.
const (
	centrifugoConnectID   = 1
	centrifugoSubscribeID = 2
)

// centrifugoURL returns the WebSocket URL of the server at base.
func centrifugoURL(base string) string {
	u, _ := url.Parse(base) // checked by Validate
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	return u.JoinPath(centrifugoPath).String()
}

// centrifugoCommand is the part of a client command the handshake sends.
type centrifugoCommand struct {
	ID        uint32               `json:"id"`
	Connect   *centrifugoConnect   `json:"connect,omitempty"`
	Subscribe *centrifugoSubscribe `json:"subscribe,omitempty"`
}

type centrifugoConnect struct {
	Token string `json:"token,omitempty"`
	Name  string `json:"name,omitempty"`
}

type centrifugoSubscribe struct {
	Channel string `json:"channel"`
}

// centrifugoReply is the part of a reply the handshake reads.
type centrifugoReply struct {
	ID    uint32 `json:"id"`
	Error *struct {
		Code    uint32 `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// connectCommand returns the connect command carrying token.
func connectCommand(token string) []byte {
	b, _ := json.Marshal(centrifugoCommand{ID: centrifugoConnectID, Connect: &centrifugoConnect{Token: token, Name: "loadgen"}})
	return b
}

// subscribeCommand returns the subscribe command for channel.
func subscribeCommand(channel string) []byte {
	b, _ := json.Marshal(centrifugoCommand{ID: centrifugoSubscribeID, Subscribe: &centrifugoSubscribe{Channel: channel}})
	return b
}

// errCentrifugoRefused is a command the server answered with an error.
var errCentrifugoRefused = errors.New("load: centrifugo refused")

// parseReply returns nil when msg is the reply to command id, an error
// wrapping errCentrifugoRefused when it is an error reply to it, and
// errNotReply when it is something else (a ping, a push, another reply).
func parseReply(msg []byte, id uint32) error {
	var r centrifugoReply
	if err := json.Unmarshal(msg, &r); err != nil {
		return fmt.Errorf("load: centrifugo reply %q: %w", msg, err)
	}
	if r.ID != id {
		return errNotReply
	}
	if r.Error != nil {
		return fmt.Errorf("%w command %d: %d %s", errCentrifugoRefused, id, r.Error.Code, r.Error.Message)
	}
	return nil
}

var errNotReply = errors.New("load: not the reply")

// centrifugoHandshake connects and subscribes ws to channel, one command
// at a time, and returns once the subscription is confirmed. Nothing is
// published before every stream is up, so the handshake sees only its
// replies (and maybe a ping, answered).
func centrifugoHandshake(ws *websocket.Conn, token, channel string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	_ = ws.SetReadDeadline(deadline)
	_ = ws.SetWriteDeadline(deadline)
	defer func() {
		_ = ws.SetReadDeadline(time.Time{})
		_ = ws.SetWriteDeadline(time.Time{})
	}()
	for _, step := range []struct {
		id  uint32
		cmd []byte
	}{{centrifugoConnectID, connectCommand(token)}, {centrifugoSubscribeID, subscribeCommand(channel)}} {
		if err := ws.WriteMessage(websocket.TextMessage, step.cmd); err != nil {
			return fmt.Errorf("load: centrifugo command %d: %w", step.id, err)
		}
		if err := awaitReply(ws, step.id); err != nil {
			return err
		}
	}
	return nil
}

// awaitReply reads frames until the reply to command id.
func awaitReply(ws *websocket.Conn, id uint32) error {
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("load: centrifugo reply %d: %w", id, err)
		}
		found := false
		var replyErr error
		splitMessages(frame, func(msg []byte) {
			if found {
				return
			}
			if isPing(msg) {
				replyErr = errors.Join(replyErr, ws.WriteMessage(websocket.TextMessage, pong))
				return
			}
			switch err := parseReply(msg, id); {
			case err == nil:
				found = true
			case !errors.Is(err, errNotReply):
				found, replyErr = true, err
			}
		})
		if found || replyErr != nil {
			return replyErr
		}
	}
}

// pong answers a server ping.
var pong = []byte("{}")

func isPing(msg []byte) bool { return bytes.Equal(msg, pong) }

// splitMessages calls fn with each message of a JSON frame: Centrifugo
// puts several in one frame, separated by newlines.
func splitMessages(frame []byte, fn func(msg []byte)) {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			i = len(frame)
		}
		if msg := bytes.TrimSpace(frame[:i]); len(msg) > 0 {
			fn(msg)
		}
		frame = frame[min(i+1, len(frame)):]
	}
}

var (
	pushPrefix = []byte(`{"push":`)
	pubKey     = []byte(`"pub":`)
)

// isPublication says msg is a publication push. The key test is enough:
// the harness's payloads have no "pub" key of their own.
func isPublication(msg []byte) bool {
	return bytes.HasPrefix(msg, pushPrefix) && bytes.Contains(msg, pubKey)
}

// centrifugoFrame counts one frame from Centrifugo: each publication as an
// event (its data is the harness's event, with the cursor and sent_ns
// the edge's events carry), each ping as a heartbeat, answered. It runs
// on the stream's reader, the only goroutine that writes to ws after the
// handshake. A failed pong write is not reported: the next read fails
// too, and counts the close.
func (g *Generator) centrifugoFrame(ws *websocket.Conn, frame []byte, now time.Time, last *[cursor.Len]byte) {
	splitMessages(frame, func(msg []byte) {
		switch {
		case isPublication(msg):
			g.event(msg, now, last)
		case isPing(msg):
			g.heartbeats.Add(1)
			_ = ws.SetWriteDeadline(time.Now().Add(DefaultHandshakeTimeout))
			_ = ws.WriteMessage(websocket.TextMessage, pong)
		default:
			g.others.Add(1)
		}
	})
}

// handshake runs the protocol's opening on a fresh stream i: nothing for
// the edge (the upgrade is all), connect and subscribe for Centrifugo.
func (g *Generator) handshake(ws *websocket.Conn, i int) error {
	if g.cfg.Protocol != ProtocolCentrifugo {
		return nil
	}
	ch := g.cfg.Subscriptions[i%len(g.cfg.Subscriptions)]
	if err := centrifugoHandshake(ws, g.cfg.Key, ch, DefaultHandshakeTimeout); err != nil {
		return err
	}
	// The subscribe reply stands for the edge's hello.
	g.hellos.Add(1)
	g.firstHello.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

// validateProtocol checks Protocol, and that the mode is one Centrifugo
// streams can run: replay and storm rest on the edge's cursors and hello.
func (c Config) validateProtocol() error {
	switch c.Protocol {
	case "", ProtocolEdge:
		return nil
	case ProtocolCentrifugo:
		if c.Mode != "" && c.Mode != ModeFanout && c.Mode != ModeIdle {
			return fmt.Errorf("load: mode %q is not fanout or idle, the modes of the centrifugo protocol", c.Mode)
		}
		return nil
	}
	return fmt.Errorf("load: protocol %q is not edge or centrifugo", c.Protocol)
}
