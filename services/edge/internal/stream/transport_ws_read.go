package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The reader parses what the client sends itself, straight off the socket,
// rather than through gorilla's NextReader: a reader parked in NextReader
// sits at the bottom of a deep call chain and needs a 4 KiB stack, while
// one parked in a readiness wait (syscall.RawConn.Read) fits the smallest
// stack, and holds no read buffer. Clients send only control frames and
// the odd small message, all of it discarded, so the parser is small: it
// checks what RFC 6455 asks of a client's frames, answers pings through
// the sender, and ends the stream on a close frame, a protocol error or a
// message over maxClientFrame.

// frameState is where the parse of the client's frames stands between
// reads.
type frameState struct {
	hdr     [14]byte // the frame header read so far
	hn      int      // bytes in hdr
	inFrame bool     // the header is read; rem payload bytes follow
	rem     uint64
	op      byte
	mask    [4]byte
	mpos    int
	ctrl    [125]byte // a control frame's payload, unmasked
	cn      int
	msgLen  uint64 // bytes of the data message in progress
	frag    bool   // a fragmented data message is in progress
}

// errProtocol marks a frame that breaks RFC 6455.
var errProtocol = errors.New("stream: client broke the websocket protocol")

// ReadFrame waits for what the client sends next and handles it: every
// complete frame in it moves the read deadline, a ping is passed to the
// sender to answer, data is discarded.
func (t *wsTransport) ReadFrame() error {
	if err := t.readFrames(); err != nil {
		close(t.readDone)
		return fmt.Errorf("stream: read: %w", err)
	}
	return nil
}

func (t *wsTransport) readFrames() error {
	if t.raw != nil {
		// Wait until the socket is readable on this shallow stack; the
		// read below then returns at once.
		if err := t.raw.Read(t.peek); err != nil {
			return err
		}
		if t.peekErr != nil && !errors.Is(t.peekErr, syscall.EAGAIN) {
			return t.peekErr
		}
	}
	bp := t.frames.Get().(*[]byte)
	defer t.frames.Put(bp)
	b := (*bp)[:cap(*bp)]
	n, err := t.nc.Read(b)
	if n > 0 {
		if perr := t.parse(b[:n]); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	return nil
}

// peekReady is the callback of the readiness wait: it peeks one byte and
// asks to wait while there is none.
func (t *wsTransport) peekReady(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), t.peekBuf[:], syscall.MSG_PEEK)
	t.peekErr = err
	return !errors.Is(err, syscall.EAGAIN)
}

// parse consumes b, which continues the client's frames.
func (t *wsTransport) parse(b []byte) error {
	s := &t.fs
	for len(b) > 0 {
		if !s.inFrame {
			want := 2
			if s.hn >= 2 {
				want = headerLen(s.hdr[1])
			}
			k := copy(s.hdr[s.hn:want], b)
			s.hn += k
			b = b[k:]
			if s.hn == 2 {
				if s.hdr[1]&0x80 == 0 {
					// Without the mask bit the header's length is
					// not what headerLen says: stop here.
					return t.protocolError("client frame not masked")
				}
				continue // now the header's length is known
			}
			if s.hn < want {
				return nil
			}
			if err := t.beginFrame(); err != nil {
				return err
			}
			if s.rem > 0 {
				continue
			}
		} else {
			k := int(min(s.rem, uint64(len(b))))
			if s.op >= 8 {
				for i, c := range b[:k] {
					s.ctrl[s.cn+i] = c ^ s.mask[(s.mpos+i)&3]
				}
				s.cn += k
				s.mpos += k
			}
			b = b[k:]
			s.rem -= uint64(k)
			if s.rem > 0 {
				return nil
			}
		}
		if err := t.endFrame(); err != nil {
			return err
		}
	}
	return nil
}

// headerLen is the length of a client frame header from its second byte.
func headerLen(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2 + 2 + 4
	case 127:
		return 2 + 8 + 4
	}
	return 2 + 4
}

// beginFrame checks the complete header in t.fs.hdr and starts its payload.
func (t *wsTransport) beginFrame() error {
	s := &t.fs
	h := s.hdr[:s.hn]
	s.hn = 0
	fin, op := h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 {
		return t.protocolError("reserved bits set")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(h[2:10])
	}
	copy(s.mask[:], h[len(h)-4:])
	switch op {
	case websocket.CloseMessage, websocket.PingMessage, websocket.PongMessage:
		if !fin || n > 125 {
			return t.protocolError("bad control frame")
		}
	case 0: // continuation
		if !s.frag {
			return t.protocolError("continuation without a message")
		}
		s.msgLen += n
		s.frag = !fin
	case websocket.TextMessage, websocket.BinaryMessage:
		if s.frag {
			return t.protocolError("message inside a fragmented message")
		}
		s.msgLen, s.frag = n, !fin
	default:
		return t.protocolError("unknown opcode")
	}
	if op < 8 && s.msgLen > maxClientFrame {
		return websocket.ErrReadLimit
	}
	// Any frame shows the peer is alive.
	if err := t.nc.SetReadDeadline(time.Now().Add(t.readTimeout)); err != nil {
		return err
	}
	s.inFrame, s.rem, s.op, s.cn, s.mpos = true, n, op, 0, 0
	return nil
}

// endFrame acts on the frame whose payload is complete.
func (t *wsTransport) endFrame() error {
	s := &t.fs
	s.inFrame = false
	switch s.op {
	case websocket.PingMessage:
		if t.onPing != nil {
			t.onPing(append([]byte(nil), s.ctrl[:s.cn]...))
		}
	case websocket.CloseMessage:
		code := websocket.CloseNoStatusReceived
		if s.cn >= 2 {
			code = int(binary.BigEndian.Uint16(s.ctrl[:2]))
		}
		return &websocket.CloseError{Code: code, Text: string(s.ctrl[min(2, s.cn):s.cn])}
	}
	return nil
}

// protocolError closes the stream with 1002, as gorilla's reader did for
// a frame breaking RFC 6455, and returns the error that ends the reader.
func (t *wsTransport) protocolError(what string) error {
	_ = t.writeClose(websocket.FormatCloseMessage(websocket.CloseProtocolError, what))
	return fmt.Errorf("%w: %s", errProtocol, what)
}
