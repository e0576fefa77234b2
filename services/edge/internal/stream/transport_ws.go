package stream

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// wsTransport is a [Transport] over the network connection of an upgraded
// WebSocket. It frames what it writes and parses what it reads itself
// (transport_ws_read.go), so it keeps nothing of gorilla's connection,
// which did the handshake: an idle stream does not hold its state and
// buffers.
type wsTransport struct {
	// nc is the WebSocket's network connection: every frame is written
	// to it in one Write, and a queue's worth of text frames in one
	// (gorilla writes, and so makes a system call for, each message on
	// its own). The sender writes; the reader writes only the close
	// frame of a protocol error; a net.Conn never interleaves two
	// Writes' bytes.
	nc           net.Conn
	writeTimeout time.Duration
	// deadline is the write deadline last set on nc by the sender: it is
	// moved only when less than half the write timeout is left, so a
	// busy stream sets it once in a while, not per write.
	deadline    time.Time
	frames      *sync.Pool    // of *[]byte, shared by the hub's streams
	readTimeout time.Duration // ping interval + pong timeout
	closeWait   time.Duration
	// readDone is closed by the reader when ReadFrame fails, so Close can
	// stop waiting for the peer's close frame.
	readDone chan struct{}
	// onPing is called by the reader with a ping's payload; the sender
	// answers it, because only the sender writes. Set before the reader
	// starts.
	onPing func(payload []byte)

	// Reader only (transport_ws_read.go): the socket's readiness wait
	// (nil when the connection has none), its callback, and the parse.
	raw     syscall.RawConn
	peek    func(fd uintptr) bool
	peekBuf [1]byte
	peekErr error
	fs      frameState
}

func (t *wsTransport) setPingHandler(f func([]byte)) { t.onPing = f }

// wsTransportConfig holds what newWSTransport needs; every duration is
// already defaulted by the hub.
type wsTransportConfig struct {
	WriteTimeout time.Duration
	ReadTimeout  time.Duration
	CloseWait    time.Duration
	// Frames is the hub's pool of frame buffers (newFramePool).
	Frames *sync.Pool
}

// newWSTransport returns the transport of the upgraded ws; the stream does
// not use ws itself afterwards.
func newWSTransport(ws *websocket.Conn, cfg wsTransportConfig) *wsTransport {
	t := &wsTransport{
		nc:           ws.NetConn(),
		writeTimeout: cfg.WriteTimeout,
		readTimeout:  cfg.ReadTimeout,
		closeWait:    cfg.CloseWait,
		frames:       cfg.Frames,
		readDone:     make(chan struct{}),
	}
	// The reader parses the client's frames off the socket itself
	// (transport_ws_read.go); gorilla's reader is never used.
	if sc, ok := t.nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			t.raw = raw
			t.peek = t.peekReady
		}
	}
	_ = t.nc.SetReadDeadline(time.Now().Add(t.readTimeout))
	return t
}

// maxClientFrame is the largest frame a client may send (docs/api.md: 4 KiB);
// a larger one ends the stream with 1009.
const maxClientFrame = 4 << 10

func (t *wsTransport) WriteText(msgs [][]byte) error {
	if err := t.refreshDeadline(); err != nil {
		return err
	}
	// The buffer is pooled: an idle stream holds none.
	bp := t.frames.Get().(*[]byte)
	b := (*bp)[:0]
	var err error
	for _, m := range msgs {
		b = appendTextFrame(b, m)
		if len(b) >= frameFlushSize {
			if _, err = t.nc.Write(b); err != nil {
				break
			}
			b = b[:0]
		}
	}
	if err == nil && len(b) > 0 {
		_, err = t.nc.Write(b)
	}
	if cap(b) <= framePoolMaxCap {
		*bp = b[:0]
		t.frames.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("stream: write: %w", err)
	}
	return nil
}

// refreshDeadline moves the write deadline before a write of the sender. A
// write may take between half and all of the write timeout before it
// fails: the deadline is refreshed only when less than half is left.
func (t *wsTransport) refreshDeadline() error {
	if now := time.Now(); t.deadline.Sub(now) < t.writeTimeout/2 {
		t.deadline = now.Add(t.writeTimeout)
		if err := t.nc.SetWriteDeadline(t.deadline); err != nil {
			return fmt.Errorf("stream: write deadline: %w", err)
		}
	}
	return nil
}

// Sizes of the frame buffers: a batch is written whenever it passes
// frameFlushSize, and a buffer that grew past framePoolMaxCap (one large
// message) is left to the collector rather than kept in the pool.
const (
	frameFlushSize  = 32 << 10
	framePoolMaxCap = 64 << 10
)

// newFramePool returns the pool of buffers WriteText frames a batch into,
// one per hub.
func newFramePool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, 4<<10)
		return &b
	}}
}

// appendTextFrame appends msg as one unmasked, final text frame (RFC 6455
// 5.2: a server's frames are not masked).
func appendTextFrame(b, msg []byte) []byte {
	const finText = 0x81
	switch n := len(msg); {
	case n < 126:
		b = append(b, finText, byte(n))
	case n <= 0xffff:
		b = append(b, finText, 126, byte(n>>8), byte(n))
	default:
		b = append(b, finText, 127,
			byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, msg...)
}

func (t *wsTransport) WriteControl(messageType int, payload []byte) error {
	if err := t.refreshDeadline(); err != nil {
		return err
	}
	if err := t.writeControl(messageType, payload); err != nil {
		return fmt.Errorf("stream: write control: %w", err)
	}
	return nil
}

// writeControl writes one control frame in one Write, so it never lands
// inside another frame (RFC 6455 5.4 allows it between frames only).
func (t *wsTransport) writeControl(messageType int, payload []byte) error {
	if len(payload) > maxControlPayload {
		return errControlTooLong
	}
	bp := t.frames.Get().(*[]byte)
	b := append((*bp)[:0], 0x80|byte(messageType), byte(len(payload)))
	b = append(b, payload...)
	_, err := t.nc.Write(b)
	*bp = b[:0]
	t.frames.Put(bp)
	return err
}

// maxControlPayload is the most a control frame carries (RFC 6455 5.5).
const maxControlPayload = 125

var errControlTooLong = errors.New("stream: control frame payload over 125 bytes")

func (t *wsTransport) Close(d Disconnect) {
	if t.writeClose(d.frame()) == nil {
		timer := time.NewTimer(t.closeWait)
		select {
		case <-t.readDone:
		case <-timer.C:
		}
		timer.Stop()
	}
	_ = t.nc.Close()
}

// writeClose writes a close frame with payload. The frame may not make it
// (dead or stalled peer): the close wait bounds the attempt.
func (t *wsTransport) writeClose(payload []byte) error {
	if err := t.nc.SetWriteDeadline(time.Now().Add(t.closeWait)); err != nil {
		return err
	}
	return t.writeControl(websocket.CloseMessage, payload)
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
