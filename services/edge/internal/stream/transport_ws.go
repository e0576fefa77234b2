package stream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// wsTransport is a [Transport] over a gorilla/websocket connection.
type wsTransport struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	readTimeout  time.Duration // ping interval + pong timeout
	closeWait    time.Duration
	// readDone is closed by the reader when ReadFrame fails, so Close can
	// stop waiting for the peer's close frame.
	readDone chan struct{}
	// onPing is called by the reader with a ping's payload; the sender
	// answers it, because only the sender writes. Set before the reader
	// starts.
	onPing func(payload []byte)
}

func (t *wsTransport) setPingHandler(f func([]byte)) { t.onPing = f }

// wsTransportConfig holds what newWSTransport needs; every duration is
// already defaulted by the hub.
type wsTransportConfig struct {
	WriteTimeout time.Duration
	ReadTimeout  time.Duration
	CloseWait    time.Duration
}

func newWSTransport(ws *websocket.Conn, cfg wsTransportConfig) *wsTransport {
	t := &wsTransport{
		ws:           ws,
		writeTimeout: cfg.WriteTimeout,
		readTimeout:  cfg.ReadTimeout,
		closeWait:    cfg.CloseWait,
		readDone:     make(chan struct{}),
	}
	ws.SetReadLimit(maxClientFrame)
	_ = ws.SetReadDeadline(time.Now().Add(t.readTimeout))
	// The handlers run inside NextReader, on the reader goroutine; none of
	// them writes (gorilla's defaults would, behind the sender's back).
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(t.readTimeout))
	})
	ws.SetPingHandler(func(data string) error {
		if t.onPing != nil {
			t.onPing([]byte(data))
		}
		return ws.SetReadDeadline(time.Now().Add(t.readTimeout))
	})
	ws.SetCloseHandler(func(int, string) error { return nil })
	return t
}

// maxClientFrame is the largest frame a client may send (docs/api.md: 4 KiB);
// a larger one ends the stream with 1009.
const maxClientFrame = 4 << 10

func (t *wsTransport) WriteText(msgs [][]byte) error {
	if err := t.ws.SetWriteDeadline(time.Now().Add(t.writeTimeout)); err != nil {
		return fmt.Errorf("stream: write deadline: %w", err)
	}
	for _, m := range msgs {
		if err := t.ws.WriteMessage(websocket.TextMessage, m); err != nil {
			return fmt.Errorf("stream: write: %w", err)
		}
	}
	return nil
}

func (t *wsTransport) WriteControl(messageType int, payload []byte) error {
	if err := t.ws.WriteControl(messageType, payload, time.Now().Add(t.writeTimeout)); err != nil {
		return fmt.Errorf("stream: write control: %w", err)
	}
	return nil
}

func (t *wsTransport) ReadFrame() error {
	_, r, err := t.ws.NextReader()
	if err == nil {
		// Any frame shows the peer is alive.
		_ = t.ws.SetReadDeadline(time.Now().Add(t.readTimeout))
		_, err = io.Copy(io.Discard, r)
	}
	if err != nil {
		close(t.readDone)
		return fmt.Errorf("stream: read: %w", err)
	}
	return nil
}

func (t *wsTransport) Close(d Disconnect) {
	// The close frame may not make it (dead or stalled peer): the deadline
	// bounds the attempt, and the TCP drop below happens regardless.
	if err := t.ws.WriteControl(websocket.CloseMessage, d.frame(), time.Now().Add(t.closeWait)); err == nil {
		timer := time.NewTimer(t.closeWait)
		select {
		case <-t.readDone:
		case <-timer.C:
		}
		timer.Stop()
	}
	_ = t.ws.Close()
}

// readDisconnect maps the error that ended a reader to the reason the
// stream closes with.
func readDisconnect(err error) Disconnect {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return DisconnectMessageTooBig
	case errors.As(err, &ce):
		return DisconnectNormal
	case errors.As(err, &ne) && ne.Timeout():
		return DisconnectPongTimeout
	default:
		return DisconnectConnectionLost
	}
}
