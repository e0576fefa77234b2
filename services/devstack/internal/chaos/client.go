package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults of [ClientConfig]'s zero values.
const (
	DefaultBackoff     = 200 * time.Millisecond
	DefaultReadTimeout = 45 * time.Second
)

// CodeDialFailed and CodeReadTimeout stand in a [Session]'s Code for ends
// that carry no close code: the dial failed, or nothing at all (not even
// a heartbeat) arrived within the read timeout.
const (
	CodeDialFailed  = -1
	CodeReadTimeout = -2
)

// errFinal marks a client's end that it must not resume from.
var errFinal = errors.New("final")

// finalCodes are the close codes a client does not resume after
// (docs/api.md): the subscription is gone, or the key is not good.
var finalCodes = map[int]bool{4404: true, 4004: true, websocket.ClosePolicyViolation: true}

// ClientConfig configures a [Client].
type ClientConfig struct {
	// Name names the client in reports and logs.
	Name string
	// Sub is the subscription to stream, and its key.
	Sub Sub
	// Edges are the edges' base URLs; the client dials Edges[Edge]
	// first.
	Edges []string
	Edge  int
	// After is the cursor the first stream starts after; "" means live
	// events only.
	After string
	// Sticky makes the client resume on the edge it lost rather than on
	// the next one.
	Sticky bool
	// Backoff is the wait before a resume, plus up to as much again at
	// random. Zero means [DefaultBackoff].
	Backoff time.Duration
	// ReadTimeout is how long the client waits for any frame before it
	// gives the stream up as stalled. Zero means [DefaultReadTimeout],
	// three heartbeats of the edge's default.
	ReadTimeout time.Duration
	// Logs receives the client's reconnects. Nil logs nothing.
	Logs *Logs
}

// Received is one event a client received.
type Received struct {
	Cursor string
	// Prev is its prev_cursor, nil when it had none.
	Prev  *string
	ID    string
	Block int64
	// Session is the index of the stream, in [Client.Sessions], that
	// delivered it.
	Session int
	At      time.Time
}

// Session is one stream of a client, from the dial to its end.
type Session struct {
	Edge  int
	After string
	Start time.Time
	// End is zero while the stream is open.
	End time.Time
	// Hello is true once the hello frame came; Resumed is its resumed.
	Hello, Resumed bool
	// Events is the number of events it delivered.
	Events int
	// Code is the close code the stream ended with: a server's close
	// frame, 1006 for a connection lost without one, or
	// [CodeDialFailed] or [CodeReadTimeout]. Zero while open.
	Code int
	// Err describes the end, and anomalies seen before it (a hello
	// with resumed:false for a cursor given, an undecodable frame).
	Err string
	// Stopped is true when [Client.Stop] ended it.
	Stopped bool
}

// Client is a WebSocket stream client as a careful user writes one: it
// records every event it receives, in order, and never deduplicates;
// when a stream ends with anything but a final code (4404, 4004, 1008) it
// resumes after the last cursor it received, after a short backoff, on
// the next edge (or the same one, if Sticky).
type Client struct {
	cfg    ClientConfig
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	events   []Received
	sessions []Session
	conn     *websocket.Conn
	last     string
	final    error
}

// StartClient starts a client; [Client.Stop] ends it.
func StartClient(cfg ClientConfig) *Client {
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}), last: cfg.After}
	go c.run()
	return c
}

// Name is the client's name.
func (c *Client) Name() string { return c.cfg.Name }

// Sub is the client's subscription.
func (c *Client) Sub() Sub { return c.cfg.Sub }

// StartAfter is the cursor the client's first stream started after.
func (c *Client) StartAfter() string { return c.cfg.After }

// Stop ends the client and waits until its goroutine has.
func (c *Client) Stop() {
	c.cancel()
	c.mu.Lock()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Unlock()
	<-c.done
}

// Events returns a copy of every event received, in order.
func (c *Client) Events() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Received(nil), c.events...)
}

// Count is the number of events received.
func (c *Client) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// Last is the cursor of the last event received (StartAfter before any).
func (c *Client) Last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// LastEvent is the last event received; ok is false before any.
func (c *Client) LastEvent() (r Received, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return Received{}, false
	}
	return c.events[len(c.events)-1], true
}

// Sessions returns a copy of the client's streams, in order.
func (c *Client) Sessions() []Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Session(nil), c.sessions...)
}

// Ends returns the streams that ended (other than by Stop), in order.
func (c *Client) Ends() []Session {
	var out []Session
	for _, s := range c.Sessions() {
		if !s.End.IsZero() && !s.Stopped {
			out = append(out, s)
		}
	}
	return out
}

// Live reports whether the client's current stream is open and past its
// hello, and on which edge.
func (c *Client) Live() (edge int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.sessions); n > 0 {
		s := c.sessions[n-1]
		return s.Edge, s.End.IsZero() && s.Hello
	}
	return -1, false
}

// Final is why the client stopped for good (a final close code, or a
// refused dial), or nil.
func (c *Client) Final() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

func (c *Client) logf(format string, args ...any) {
	if c.cfg.Logs != nil {
		c.cfg.Logs.Logf("client", "%s: %s", c.cfg.Name, fmt.Sprintf(format, args...))
	}
}

func (c *Client) run() {
	defer close(c.done)
	edge := c.cfg.Edge
	for {
		if c.session(edge) || c.ctx.Err() != nil {
			return
		}
		if !c.cfg.Sticky {
			edge = (edge + 1) % len(c.cfg.Edges)
		}
		wait := c.cfg.Backoff + rand.N(c.cfg.Backoff+1)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// frame is what the client reads of a server frame.
type frame struct {
	Event
	Resumed bool `json:"resumed"`
}

// session runs one stream on edge and reports whether the client is done
// for good.
func (c *Client) session(edge int) (final bool) {
	c.mu.Lock()
	after := c.last
	idx := len(c.sessions)
	c.sessions = append(c.sessions, Session{Edge: edge, After: after, Start: time.Now()})
	c.mu.Unlock()

	q := url.Values{"token": {c.cfg.Sub.Key}}
	if after != "" {
		q.Set("after", after)
	}
	u := strings.Replace(c.cfg.Edges[edge], "http://", "ws://", 1) + "/v1/subscriptions/" + c.cfg.Sub.ID + "/stream?" + q.Encode()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(c.ctx, u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			err = fmt.Errorf("%w (HTTP %d: %s)", err, status, strings.TrimSpace(string(body)))
		}
		if c.ctx.Err() != nil {
			c.stopped(idx)
			return true
		}
		c.end(idx, CodeDialFailed, "dial: "+err.Error())
		// Refused before the upgrade for auth or an unknown
		// subscription: resuming would only be refused again.
		if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound {
			c.setFinal(fmt.Errorf("chaos: %s: stream refused on edge-%d: %w: %w", c.cfg.Name, edge+1, errFinal, err))
			return true
		}
		return false
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		_ = ws.Close()
		c.stopped(idx)
		return true
	}
	c.conn = ws
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
		_ = ws.Close()
	}()
	ws.SetReadLimit(8 << 20)
	for first := true; ; first = false {
		_ = ws.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout))
		_, data, err := ws.ReadMessage()
		if err != nil {
			if c.ctx.Err() != nil {
				c.stopped(idx)
				return true
			}
			code, why := closeCode(err)
			c.end(idx, code, why)
			if finalCodes[code] {
				c.setFinal(fmt.Errorf("chaos: %s: stream on edge-%d closed with %d: %w", c.cfg.Name, edge+1, code, errFinal))
				return true
			}
			return false
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.note(idx, "undecodable frame: "+err.Error())
			continue
		}
		switch f.Type {
		case "hello":
			c.mu.Lock()
			c.sessions[idx].Hello, c.sessions[idx].Resumed = true, f.Resumed
			c.mu.Unlock()
			c.logf("hello on edge-%d after %q (resumed %v)", edge+1, after, f.Resumed)
			if after != "" && !f.Resumed {
				c.note(idx, "hello says resumed:false for cursor "+after)
			}
		case "event":
			if first {
				c.note(idx, "an event before the hello")
			}
			c.mu.Lock()
			c.events = append(c.events, Received{Cursor: f.Cursor, Prev: f.PrevCursor, ID: f.ID, Block: f.Block.Number, Session: idx, At: time.Now()})
			c.sessions[idx].Events++
			n, began := c.sessions[idx].Events, c.sessions[idx].Start
			c.last = f.Cursor
			c.mu.Unlock()
			if n == 1 {
				c.logf("first event of the stream on edge-%d: %s, %s after the dial", edge+1, f.Cursor, time.Since(began).Round(time.Millisecond))
			}
		}
	}
}

// end records how session idx ended.
func (c *Client) end(idx, code int, why string) {
	c.mu.Lock()
	s := &c.sessions[idx]
	s.End, s.Code = time.Now(), code
	if s.Err != "" {
		why = s.Err + "; " + why
	}
	s.Err = why
	edge, after, events, hello := s.Edge, s.After, s.Events, s.Hello
	c.mu.Unlock()
	c.logf("stream on edge-%d after %q ended with %d after %d events (hello %v): %s", edge+1, after, code, events, hello, why)
}

// stopped records that Stop ended session idx.
func (c *Client) stopped(idx int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.sessions[idx]
	s.End, s.Stopped = time.Now(), true
}

// note records an anomaly of session idx, reported with its end.
func (c *Client) note(idx int, what string) {
	c.mu.Lock()
	s := &c.sessions[idx]
	if s.Err != "" {
		s.Err += "; "
	}
	s.Err += what
	c.mu.Unlock()
	c.logf("%s", what)
}

func (c *Client) setFinal(err error) {
	c.mu.Lock()
	c.final = err
	c.mu.Unlock()
}

// closeCode turns a read error into a close code and a description.
func closeCode(err error) (int, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CodeReadTimeout, "read timeout: " + err.Error()
	}
	return websocket.CloseAbnormalClosure, err.Error()
}
