package stream

import (
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// clientFrame builds a client frame: masked unless unmasked is set.
func clientFrame(fin bool, op byte, payload []byte, unmasked bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	maskBit := byte(0x80)
	if unmasked {
		maskBit = 0
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n <= 0xffff:
		b = append(b, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if unmasked {
		return append(b, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func closePayload(code int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// readResult is what the server side of a frame test saw.
type readResult struct {
	pings [][]byte
	err   error
}

// readFramesFrom upgrades one connection, sends the client the raw bytes
// of wire in chunks of chunk bytes, and returns what the transport's
// reader made of them once it stopped.
func readFramesFrom(t *testing.T, wire []byte, chunk int) readResult {
	t.Helper()
	res := make(chan readResult, 1)
	frames := newFramePool()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u websocket.Upgrader
		ws, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		tr := newWSTransport(ws, wsTransportConfig{WriteTimeout: time.Second, ReadTimeout: 5 * time.Second, CloseWait: 100 * time.Millisecond, Frames: frames})
		var mu sync.Mutex
		var out readResult
		tr.setPingHandler(func(p []byte) {
			mu.Lock()
			out.pings = append(out.pings, p)
			mu.Unlock()
		})
		go func() {
			for {
				if err := tr.ReadFrame(); err != nil {
					mu.Lock()
					out.err = err
					mu.Unlock()
					_ = ws.Close()
					res <- out
					return
				}
			}
		}()
	}))
	defer srv.Close()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	defer c.Close()
	nc := c.NetConn()
	for i := 0; len(wire) > 0; i++ {
		k := min(chunk, len(wire))
		if _, err := nc.Write(wire[:k]); err != nil {
			break // the reader stopped before the end: its result says why
		}
		wire = wire[k:]
		if chunk < 16 && i < 64 {
			// Let the reader see the first pieces one by one (headers
			// split over reads); the rest may arrive as it will.
			time.Sleep(time.Millisecond)
		}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("reader did not stop")
		return readResult{}
	}
}

func TestWSTransport_ReadFrame(t *testing.T) {
	t.Parallel()
	join := func(frames ...[]byte) []byte {
		var b []byte
		for _, f := range frames {
			b = append(b, f...)
		}
		return b
	}
	long := []byte(strings.Repeat("x", 300))
	cases := []struct {
		name      string
		wire      []byte
		pings     []string
		closeCode int   // a close frame ended the reader with this code
		wantErr   error // or this error did
	}{
		{
			name:      "pings are passed on and a close frame ends the reader",
			wire:      join(clientFrame(true, websocket.PingMessage, []byte("hi"), false), clientFrame(true, websocket.PingMessage, nil, false), clientFrame(true, websocket.CloseMessage, closePayload(1000), false)),
			pings:     []string{"hi", ""},
			closeCode: 1000,
		},
		{
			name: "data, fragmented and with a 16-bit length, is discarded",
			wire: join(clientFrame(false, websocket.TextMessage, []byte("ab"), false), clientFrame(true, websocket.PongMessage, nil, false),
				clientFrame(true, 0, []byte("cd"), false), clientFrame(true, websocket.BinaryMessage, long, false),
				clientFrame(true, websocket.PingMessage, []byte("p"), false), clientFrame(true, websocket.CloseMessage, nil, false)),
			pings:     []string{"p"},
			closeCode: websocket.CloseNoStatusReceived,
		},
		{
			name:    "a message over 4 KiB is refused",
			wire:    clientFrame(true, websocket.TextMessage, make([]byte, maxClientFrame+1), false),
			wantErr: websocket.ErrReadLimit,
		},
		{
			name:    "fragments adding up to over 4 KiB are refused",
			wire:    join(clientFrame(false, websocket.TextMessage, make([]byte, maxClientFrame), false), clientFrame(true, 0, []byte("y"), false)),
			wantErr: websocket.ErrReadLimit,
		},
		{name: "an unmasked frame breaks the protocol", wire: clientFrame(true, websocket.TextMessage, []byte("a"), true), wantErr: errProtocol},
		{name: "a fragmented ping breaks the protocol", wire: clientFrame(false, websocket.PingMessage, nil, false), wantErr: errProtocol},
		{name: "a continuation without a message breaks the protocol", wire: clientFrame(true, 0, []byte("a"), false), wantErr: errProtocol},
		{name: "an unknown opcode breaks the protocol", wire: clientFrame(true, 3, nil, false), wantErr: errProtocol},
	}
	for _, tc := range cases {
		for _, chunk := range []int{1, 7, 1 << 16} {
			t.Run(tc.name, func(t *testing.T) {
				got := readFramesFrom(t, tc.wire, chunk)
				var pings []string
				for _, p := range got.pings {
					pings = append(pings, string(p))
				}
				require.Equal(t, tc.pings, pings, "chunk %d", chunk)
				if tc.wantErr != nil {
					require.ErrorIs(t, got.err, tc.wantErr, "chunk %d", chunk)
					return
				}
				var ce *websocket.CloseError
				require.ErrorAs(t, got.err, &ce, "chunk %d", chunk)
				require.Equal(t, tc.closeCode, ce.Code)
			})
		}
	}
}

// FuzzReadFrames feeds the reader whatever a client could send: it must
// stop with an error (never panic, never hang) and pass on only pings of
// at most 125 bytes.
func FuzzReadFrames(f *testing.F) {
	f.Add(clientFrame(true, websocket.PingMessage, []byte("hi"), false), 7)
	f.Add(append(clientFrame(false, websocket.TextMessage, []byte("ab"), false), clientFrame(true, 0, []byte("cd"), false)...), 1)
	f.Add(clientFrame(true, websocket.CloseMessage, closePayload(1000), false), 64)
	f.Add(clientFrame(true, websocket.TextMessage, []byte("a"), true), 3)
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, 2)
	f.Fuzz(func(t *testing.T, wire []byte, chunk int) {
		if chunk <= 0 || chunk > 1<<16 {
			chunk = 1 << 16
		}
		got := readFramesFrom(t, wire, chunk)
		require.Error(t, got.err)
		for _, p := range got.pings {
			require.LessOrEqual(t, len(p), 125)
		}
	})
}
