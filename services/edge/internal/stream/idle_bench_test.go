package stream

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dialIdle opens a stream over a bare TCP connection and returns it after
// the handshake: the client holds no goroutine and no buffer, so what the
// process holds per stream is nearly all the server's.
func dialIdle(tb testing.TB, addr string, i int) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%50))}}
	var c net.Conn
	var err error
	for range 5 { // a burst of dials may overflow the accept backlog
		if c, err = d.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(tb, err)
	_, err = fmt.Fprintf(c, "GET /?sub=sub_idle&key=k HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	require.NoError(tb, err)
	// One byte at a time, so nothing after the response's header is read.
	br := bufio.NewReaderSize(oneByteReader{c}, 16)
	status, err := br.ReadString('\n')
	require.NoError(tb, err)
	require.True(tb, strings.HasPrefix(status, "HTTP/1.1 101"), status)
	for {
		line, err := br.ReadString('\n')
		require.NoError(tb, err)
		if line == "\r\n" {
			return c
		}
	}
}

type oneByteReader struct{ c net.Conn }

func (r oneByteReader) Read(p []byte) (int, error) { return r.c.Read(p[:1]) }

// BenchmarkHub_IdleAfterBeats opens MONGOTRON_BENCH_IDLE_BEATS idle
// streams (default 5,000), lets each write heartbeats and pings and read a
// pong, and reports what the process holds per stream: goroutine stacks
// (4 KiB when both of a stream's goroutines are back at 2 KiB after
// writing) and the Go heap. The hub runs on the memory broker and history,
// with heartbeats and pings sped up.
func BenchmarkHub_IdleAfterBeats(b *testing.B) {
	raiseNoFile(b)
	n := envInt("MONGOTRON_BENCH_IDLE_BEATS", 5000)
	const beat = 500 * time.Millisecond
	h, err := newHub(Config{HeartbeatInterval: beat, PingInterval: 2 * beat, PongTimeout: time.Minute, MaxConns: -1},
		newMemoryBroker(), newMemoryHistory())
	require.NoError(b, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, Request{SubscriptionID: r.URL.Query().Get("sub"), Tenant: "t", KeyID: r.URL.Query().Get("key")})
	}))
	b.Cleanup(func() {
		srv.Close()
		h.Close()
	})
	addr := strings.TrimPrefix(srv.URL, "http://")
	pong := clientFrame(true, 0xa, nil, false)
	for range b.N {
		// Warm up the paths (pools, the topic) before measuring.
		warm := dialIdle(b, addr, 0)
		time.Sleep(4 * beat)
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dialIdle(b, addr, i)
		}
		for _, c := range conns {
			_, err := c.Write(pong)
			require.NoError(b, err)
		}
		// Every stream writes heartbeats and pings in this time.
		time.Sleep(6 * beat)
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		g1 := runtime.NumGoroutine()
		perConn := func(after, before uint64) float64 { return (float64(after) - float64(before)) / 1024 / float64(n) }
		b.ReportMetric(perConn(ms1.StackInuse, ms0.StackInuse), "stack-KiB/conn")
		b.ReportMetric(perConn(ms1.HeapInuse, ms0.HeapInuse), "heap-KiB/conn")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/conn")
		for _, c := range conns {
			_ = c.Close()
		}
		_ = warm.Close()
		requireEventuallyFor(b, time.Minute, func() bool { return h.count() == 0 })
	}
}
