package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/mongotron/mongotron/pkg/cursor"
)

// Generator opens the streams of one [Config] and measures them. Create it
// with [New], call [Generator.Run] once, then read [Generator.Summary].
type Generator struct {
	cfg     Config
	dialers []*websocket.Dialer
	header  http.Header
	bufs    sync.Pool

	hist       Histogram
	delivered  atomic.Uint64
	hellos     atomic.Uint64
	heartbeats atomic.Uint64
	others     atomic.Uint64
	bad        atomic.Uint64
	disorder   atomic.Uint64
	connected  atomic.Int64
	failed     atomic.Int64
	open       atomic.Int64
	firstHello atomic.Int64 // unix ns
	firstEvent atomic.Int64
	lastEvent  atomic.Int64
	// storm tracks a storm's rounds (ModeStorm only, else nil).
	storm *storm
	// expected is closed once a replay has received Config.Expect events.
	expected     chan struct{}
	expectedOnce sync.Once

	mu        sync.Mutex
	conns     map[*websocket.Conn]struct{}
	cut       map[*websocket.Conn]struct{} // by a Drop, loss not yet recorded
	stopping  bool
	closes    map[string]int // close code or error class → streams
	dialErr   error          // one dial error, as an example
	started   time.Time
	readyAt   time.Time
	perSecond []uint64
}

// New checks cfg and returns a generator.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Generator{
		cfg:      cfg,
		header:   http.Header{"Authorization": {"Bearer " + cfg.Key}},
		expected: make(chan struct{}),
		conns:    make(map[*websocket.Conn]struct{}),
		cut:      make(map[*websocket.Conn]struct{}),
		closes:   make(map[string]int),
	}
	g.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	if cfg.Mode == ModeStorm {
		g.storm = newStorm(time.Now)
	}
	n := max(cfg.LocalAddrs, 1)
	for i := range n {
		nd := &net.Dialer{}
		if cfg.LocalAddrs > 0 {
			nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
		}
		g.dialers = append(g.dialers, &websocket.Dialer{
			// Small buffers: the edge's figures matter, but twenty
			// thousand clients in one process should not need gigabytes.
			ReadBufferSize:   1024,
			WriteBufferSize:  256,
			HandshakeTimeout: DefaultHandshakeTimeout,
			NetDialContext:   nd.DialContext,
		})
	}
	return g, nil
}

// RaiseOpenFiles lifts the soft RLIMIT_NOFILE to the hard limit (every
// stream is a descriptor) and returns the limit now in force.
func RaiseOpenFiles() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("load: getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("load: setrlimit: %w", err)
		}
	}
	return l.Cur, nil
}

func (g *Generator) streamURL(i int) string {
	if g.cfg.Protocol == ProtocolCentrifugo {
		return centrifugoURL(g.cfg.URL)
	}
	u, _ := url.Parse(g.cfg.URL) // checked by Validate
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u = u.JoinPath("v1", "subscriptions", g.cfg.Subscriptions[i%len(g.cfg.Subscriptions)], "stream")
	if g.cfg.After != "" {
		u.RawQuery = url.Values{"after": {g.cfg.After}}.Encode()
	}
	return u.String()
}

// Run opens the streams at the configured rate, runs the mode until
// Duration has passed since every stream was up (or a replay got its
// events, or ctx ended), then closes them. It returns an error only when
// no stream could be opened.
func (g *Generator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.mu.Lock()
	g.started = time.Now()
	g.mu.Unlock()

	var streams sync.WaitGroup
	ready := make(chan struct{})
	var readyOnce sync.Once
	settled := func() {
		if g.connected.Load()+g.failed.Load() == int64(g.cfg.Streams) {
			readyOnce.Do(func() { close(ready) })
		}
	}
	var dialing sync.WaitGroup
	dialing.Go(func() {
		lim := rate.NewLimiter(rate.Limit(g.cfg.ConnectRate), g.cfg.ConnectConcurrency)
		sem := make(chan struct{}, g.cfg.ConnectConcurrency)
		for i := range g.cfg.Streams {
			if lim.Wait(ctx) != nil {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			streams.Go(func() {
				ws, err := g.dial(ctx, i)
				<-sem
				if err != nil {
					g.failed.Add(1)
					g.noteDialError(err)
					settled()
					return
				}
				g.connected.Add(1)
				settled()
				g.read(ctx, ws)
				for g.storm != nil && ctx.Err() == nil {
					if ws = g.redial(ctx, i); ws == nil {
						return
					}
					g.read(ctx, ws)
				}
			})
		}
	})

	progress := time.NewTicker(g.cfg.ProgressInterval)
	defer progress.Stop()
	var done <-chan time.Time
	var rounds <-chan StormRound
	if g.storm != nil {
		rounds = g.storm.done
	}
	lastDelivered := uint64(0)
	lastTick := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.expected:
			break loop
		case <-done:
			break loop
		case r := <-rounds:
			b, _ := json.Marshal(r)
			fmt.Fprintf(g.cfg.Progress, "%s%s\n", StormLinePrefix, b)
		case <-ready:
			ready = nil
			now := time.Now()
			g.mu.Lock()
			g.readyAt = now
			elapsed := now.Sub(g.started)
			g.mu.Unlock()
			fmt.Fprintf(g.cfg.Progress, "loadgen: ready connected=%d failed=%d in %s\n",
				g.connected.Load(), g.failed.Load(), elapsed.Round(time.Millisecond))
			if g.connected.Load() == 0 {
				break loop
			}
			if g.storm != nil {
				g.storm.setTarget(int(g.connected.Load()))
			}
			if g.cfg.Duration > 0 {
				done = time.After(g.cfg.Duration)
			}
		case now := <-progress.C:
			d := g.delivered.Load()
			rate := float64(d-lastDelivered) / now.Sub(lastTick).Seconds()
			g.mu.Lock()
			g.perSecond = append(g.perSecond, d-lastDelivered)
			g.mu.Unlock()
			lastDelivered, lastTick = d, now
			fmt.Fprintf(g.cfg.Progress, "loadgen: open=%d connected=%d failed=%d delivered=%d rate=%.0f/s p50=%s p99=%s\n",
				g.open.Load(), g.connected.Load(), g.failed.Load(), d, rate,
				g.hist.Quantile(0.5).Round(time.Microsecond), g.hist.Quantile(0.99).Round(time.Microsecond))
		}
	}
	cancel()
	dialing.Wait()
	g.closeAll()
	streams.Wait()
	if g.connected.Load() == 0 {
		g.mu.Lock()
		err := g.dialErr
		g.mu.Unlock()
		return fmt.Errorf("load: no stream opened: %w", err)
	}
	return nil
}

func (g *Generator) noteDialError(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dialErr == nil {
		g.dialErr = err
	}
	g.closes["dial_failed"]++
}

func (g *Generator) dial(ctx context.Context, i int) (*websocket.Conn, error) {
	u := g.streamURL(i)
	d := g.dialers[i%len(g.dialers)]
	var err error
	for attempt := range g.cfg.DialAttempts {
		if attempt > 0 {
			// A burst of dials can overflow the edge's accept backlog.
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var ws *websocket.Conn
		var resp *http.Response
		ws, resp, err = d.DialContext(ctx, u, g.header)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err == nil {
			if err := g.handshake(ws, i); err != nil {
				_ = ws.Close()
				return nil, err
			}
			if !g.track(ws) {
				return nil, context.Canceled
			}
			return ws, nil
		}
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("load: dial %s: HTTP %d: %w", u, resp.StatusCode, err)
		}
	}
	return nil, fmt.Errorf("load: dial %s: %w", u, err)
}

// track registers ws as open; false (and ws closed) once the generator
// is stopping.
func (g *Generator) track(ws *websocket.Conn) bool {
	g.mu.Lock()
	if g.stopping {
		g.mu.Unlock()
		_ = ws.Close()
		return false
	}
	g.conns[ws] = struct{}{}
	g.mu.Unlock()
	g.open.Add(1)
	return true
}

// closeAll drops every open stream, which ends its reader.
func (g *Generator) closeAll() {
	g.mu.Lock()
	g.stopping = true
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for ws := range conns {
		_ = ws.Close()
	}
}

var (
	eventPrefix     = []byte(`{"type":"event"`)
	helloPrefix     = []byte(`{"type":"hello"`)
	heartbeatPrefix = []byte(`{"type":"heartbeat"`)
	sentKey         = []byte(`"sent_ns":`)
	cursorKey       = []byte(`"cursor":"`)
)

// read is one stream's reader; gorilla's default ping handler answers the
// edge's pings from here, the only goroutine that touches the socket.
func (g *Generator) read(ctx context.Context, ws *websocket.Conn) {
	defer func() {
		g.mu.Lock()
		delete(g.conns, ws) // nil after closeAll: a no-op
		g.mu.Unlock()
		_ = ws.Close()
		g.open.Add(-1)
	}()
	ws.SetReadLimit(1 << 20)
	var last [cursor.Len]byte
	streamed := false
	ended := func(err error) {
		g.noteClose(ctx, err)
		g.mu.Lock()
		_, cut := g.cut[ws]
		delete(g.cut, ws)
		if g.storm != nil && ctx.Err() == nil {
			g.storm.lost(closeKey(err), streamed, cut)
		}
		g.mu.Unlock()
	}
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			ended(err)
			return
		}
		bp := g.bufs.Get().(*[]byte)
		msg, err := readInto(r, (*bp)[:0])
		if err != nil {
			*bp = msg
			g.bufs.Put(bp)
			ended(err)
			return
		}
		now := time.Now()
		switch {
		case g.cfg.Protocol == ProtocolCentrifugo:
			g.centrifugoFrame(ws, msg, now, &last)
		case bytes.HasPrefix(msg, eventPrefix):
			g.event(msg, now, &last)
		case bytes.HasPrefix(msg, helloPrefix):
			g.hellos.Add(1)
			g.firstHello.CompareAndSwap(0, now.UnixNano())
			if g.storm != nil && !streamed {
				streamed = true
				g.storm.hello()
			}
		case bytes.HasPrefix(msg, heartbeatPrefix):
			g.heartbeats.Add(1)
		default:
			g.others.Add(1)
		}
		*bp = msg
		g.bufs.Put(bp)
	}
}

func (g *Generator) event(msg []byte, now time.Time, last *[cursor.Len]byte) {
	if i := bytes.Index(msg, cursorKey); i >= 0 && len(msg) >= i+len(cursorKey)+cursor.Len {
		c := msg[i+len(cursorKey) : i+len(cursorKey)+cursor.Len]
		if bytes.Compare(c, last[:]) <= 0 {
			g.disorder.Add(1)
		}
		copy(last[:], c)
	} else {
		g.bad.Add(1)
	}
	if g.cfg.Mode == ModeFanout {
		if sent, ok := sentNanos(msg); ok {
			g.hist.Record(time.Duration(now.UnixNano() - sent))
		} else {
			g.bad.Add(1)
		}
	}
	ns := now.UnixNano()
	g.firstEvent.CompareAndSwap(0, ns)
	for {
		l := g.lastEvent.Load()
		if ns <= l || g.lastEvent.CompareAndSwap(l, ns) {
			break
		}
	}
	if n := g.delivered.Add(1); g.cfg.Expect > 0 && n >= uint64(g.cfg.Expect) {
		g.expectedOnce.Do(func() { close(g.expected) })
	}
}

// sentNanos reads the publish time the harness puts in an event's data.
func sentNanos(msg []byte) (int64, bool) {
	i := bytes.Index(msg, sentKey)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(sentKey):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// readInto reads a whole message into b, growing it as needed.
func readInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// noteClose counts why a stream ended, unless the generator ended it.
func (g *Generator) noteClose(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	g.closes[closeKey(err)]++
	g.mu.Unlock()
}

// closeKey classifies why a stream ended: its close code, or an error
// class (client_drop for a [Generator.Drop]).
func closeKey(err error) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Code)
	case errors.Is(err, net.ErrClosed):
		return "client_drop"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "eof"
	}
	return "error"
}
