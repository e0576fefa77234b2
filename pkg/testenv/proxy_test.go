package testenv_test

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
)

// echoServer answers each line with tag, a colon and the line, and stops
// on cleanup with all its goroutines.
func echoServer(tb testing.TB, tag string) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, tag+":"+line); err != nil {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// roundTrip sends line on c and returns the answer, or an error if none
// comes within 5 s.
func roundTrip(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return s[:len(s)-1], nil
}

// dialEcho dials addr and makes one round trip.
func dialEcho(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return roundTrip(c, line)
}

func TestProxy_CutAndRestore(t *testing.T) {
	t.Parallel()
	p := testenv.RunProxy(t, echoServer(t, "a"))

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	got, err := roundTrip(c, "1")
	require.NoError(t, err)
	require.Equal(t, "a:1", got, "forwards both ways")
	require.Equal(t, 1, p.Accepted())
	require.Equal(t, 1, p.Active())

	p.Cut()
	start := time.Now()
	_, err = roundTrip(c, "2")
	require.Error(t, err, "an open connection is dropped")
	require.Less(t, time.Since(start), 2*time.Second, "dropped at once, not timed out: %v", err)
	require.Equal(t, 0, p.Active())
	for range 3 {
		_, err := dialEcho(p.Addr(), "3")
		require.Error(t, err, "new connections are turned away")
	}
	require.Equal(t, 1, p.Accepted(), "turned-away connections do not count")

	p.Restore()
	got, err = dialEcho(p.Addr(), "4")
	require.NoError(t, err)
	require.Equal(t, "a:4", got)
	require.Equal(t, 2, p.Accepted())
}

func TestProxy_CutForRestoresByItself(t *testing.T) {
	t.Parallel()
	p := testenv.RunProxy(t, echoServer(t, "a"))
	p.CutFor(300 * time.Millisecond)
	_, err := dialEcho(p.Addr(), "1")
	require.Error(t, err)
	require.Eventually(t, func() bool {
		got, err := dialEcho(p.Addr(), "2")
		return err == nil && got == "a:2"
	}, 5*time.Second, 20*time.Millisecond)

	// A Cut after CutFor is not undone by the earlier timer.
	p.CutFor(100 * time.Millisecond)
	p.Cut()
	time.Sleep(300 * time.Millisecond) // past the CutFor deadline, to show nothing happens
	_, err = dialEcho(p.Addr(), "3")
	require.Error(t, err)
	p.Restore()

	// Close ends a pending restore's goroutine; goleak in TestMain checks.
	p.CutFor(time.Hour)
}

func TestProxy_SetTargetMovesNewConnections(t *testing.T) {
	t.Parallel()
	p := testenv.RunProxy(t, echoServer(t, "a"))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = roundTrip(c, "1")
	require.NoError(t, err)

	p.SetTarget(echoServer(t, "b"))
	got, err := dialEcho(p.Addr(), "2")
	require.NoError(t, err)
	require.Equal(t, "b:2", got, "new connections go to the new target")
	got, err = roundTrip(c, "3")
	require.NoError(t, err)
	require.Equal(t, "a:3", got, "open ones stay")
}

func TestProxy_TargetDownFailsTheClient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	p := testenv.RunProxy(t, dead)
	_, err = dialEcho(p.Addr(), "1")
	require.Error(t, err)
	require.Eventually(t, func() bool { return p.Active() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestProxy_CloseEndsOpenConnections(t *testing.T) {
	t.Parallel()
	p, err := testenv.StartProxy(echoServer(t, "a"))
	require.NoError(t, err)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = roundTrip(c, "1")
	require.NoError(t, err)
	p.Close()
	p.Close()
	_, err = roundTrip(c, "2")
	require.Error(t, err)
	_, err = dialEcho(p.Addr(), "3")
	require.Error(t, err)
}

// TestProxy_NATSClientReconnectsThroughIt is the use the proxy is for: a
// client whose link is cut notices, and reconnects through the proxy once
// the link is back.
func TestProxy_NATSClientReconnectsThroughIt(t *testing.T) {
	t.Parallel()
	n := testenv.RunNATS(t)
	p := testenv.RunProxy(t, n.Server.Addr().String())
	disconnected := make(chan struct{}, 1)
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect("nats://"+p.Addr(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnected <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }),
	)
	require.NoError(t, err)
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	p.Cut()
	select {
	case <-disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not notice the cut")
	}
	time.Sleep(100 * time.Millisecond) // a few reconnect attempts against the cut link
	require.Equal(t, 1, p.Accepted())
	p.Restore()
	select {
	case <-reconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not reconnect")
	}
	require.Equal(t, 2, p.Accepted(), "the reconnect came through the proxy")
	require.NoError(t, nc.Publish("x", []byte("after")))
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err, "the subscription was restored on the new connection")
	require.Equal(t, "after", string(m.Data))
}
