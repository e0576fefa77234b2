package stream

import (
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// dialSmallWindow dials with a 4 KiB receive buffer, so a client that
// stops reading backs the server up quickly.
func (s *server) dialSmallWindow(tb testing.TB, sub string) *client {
	tb.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}).DialContext}
	ws, resp, err := d.Dial(s.url+"/?"+url.Values{"sub": {sub}, "key": {"k"}}.Encode(), nil)
	require.NoError(tb, err)
	_ = resp.Body.Close()
	tb.Cleanup(func() { _ = ws.Close() })
	return &client{ws: ws}
}

func TestHub_SlowConsumerIsolated(t *testing.T) {
	t.Parallel()
	readers := 200
	if testing.Short() {
		readers = 20
	}
	e := newEnv(t)
	// The stalled stream's sender sits in a blocked write from well before
	// its eviction until the test reads again; on a loaded machine that can
	// pass the default 10 s write timeout, which would end the socket as
	// lost (1006) instead of delivering the 4008 close frame this test pins.
	s := startHubSndBuf(t, e, Config{QueueMaxMessages: 64, QueueMaxBytes: 256 << 10, WriteTimeout: 2 * time.Minute}, 4096)
	p := &publisher{env: e, sub: randomID("sub_"), pad: 2048}

	stalled := s.dialSmallWindow(t, p.sub)
	stalled.hello(t)
	clients := make([]*client, readers)
	for i := range clients {
		clients[i] = s.dial(t, p.sub, "k", "")
		clients[i].hello(t)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := make([][]string, readers)
	for i, c := range clients {
		wg.Go(func() {
			for {
				// A failed read ends a gorilla connection, so readers stop
				// when the test closes their sockets.
				f, err := c.next(time.Minute)
				if err != nil {
					return
				}
				if f.Type == "event" {
					mu.Lock()
					got[i] = append(got[i], f.Cursor)
					mu.Unlock()
				}
			}
		})
	}
	// Publish in bursts, paced, until the stalled stream is evicted.
	for s.hub.closing() == 0 {
		require.Less(t, len(p.all), 20000, "the stalled stream was never evicted")
		p.publish(t, 20)
		time.Sleep(5 * time.Millisecond)
	}
	// Evicted while its sender waits in a write: once it reads again, it
	// gets what the socket held, then the 4008 close frame.
	require.Equal(t, 4008, stalled.closeCode(10*time.Second))
	p.publish(t, 20)
	total := len(p.all)
	requireEventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range clients {
			if len(got[i]) < total {
				return false
			}
		}
		return true
	})
	for _, c := range clients {
		_ = c.ws.Close()
	}
	wg.Wait()
	for i := range clients {
		require.Equal(t, p.all, got[i], "reader %d", i)
	}
}
