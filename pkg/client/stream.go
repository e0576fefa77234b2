package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mongotron/mongotron/pkg/backoff"
)

// Defaults of [StreamOptions].
const (
	// DefaultMinBackoff is the first reconnection delay, before jitter.
	DefaultMinBackoff = 250 * time.Millisecond
	// DefaultMaxBackoff caps the reconnection delay.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultIdleTimeout is how long a connection may stay silent before
	// its hello says how often the server sends heartbeats.
	DefaultIdleTimeout = 60 * time.Second
	// handshakeTimeout bounds the WebSocket handshake.
	handshakeTimeout = 15 * time.Second
	// maxMessageBytes bounds one server message; an event is a few KB.
	maxMessageBytes = 8 << 20
	// closeWait bounds writing our close frame when the stream stops.
	closeWait = time.Second
)

// StreamOptions configures [Client.Stream].
type StreamOptions struct {
	// After is the cursor of the last event already processed: the
	// stream starts with the events after it. Empty means live events
	// only, from now.
	After string
	// StateHandler, when not nil, is told of every change of the
	// stream's connection and of every heartbeat, from the stream's
	// goroutine: it must return quickly and must not call [Stream.Next].
	StateHandler func(State)
	// MinBackoff is the first reconnection delay; each failed attempt
	// doubles it, up to MaxBackoff, and the delay waited is drawn at
	// random between half of it and all of it, so that clients cut off
	// together do not come back together. Zero means
	// [DefaultMinBackoff].
	MinBackoff time.Duration
	// MaxBackoff caps the reconnection delay. Zero means
	// [DefaultMaxBackoff].
	MaxBackoff time.Duration
	// MaxAttempts is how many connection attempts in a row may fail
	// before [Stream.Next] returns the last failure. Zero means no limit:
	// the stream retries until it is closed, its context ends or the
	// server refuses it for good.
	MaxAttempts int
	// IdleTimeout is how long the stream waits for any message before it
	// deems the connection dead and reconnects. Zero means three
	// heartbeat intervals as the server's hello announces them
	// ([DefaultIdleTimeout] until the hello).
	IdleTimeout time.Duration
}

// Status is the state of a [Stream]'s connection.
type Status int

// The statuses a [State] reports.
const (
	// StatusConnecting: a connection attempt starts.
	StatusConnecting Status = iota
	// StatusConnected: the server's hello arrived.
	StatusConnected
	// StatusHeartbeat: a heartbeat arrived; the connection is alive.
	StatusHeartbeat
	// StatusReconnecting: the connection ended or an attempt failed,
	// for a reason that may pass; the stream waits Delay, then connects
	// again with the last cursor.
	StatusReconnecting
	// StatusStopped: the stream ended for good; Err says why.
	StatusStopped
	// StatusChainBroken: an event did not name the last event handed
	// out as its predecessor (Break says which): events were lost on the
	// way. The event is held back and the stream resumes at once after
	// the last event handed out, so the server sends the missing events
	// first. When the server sends the same break again (its history
	// lacks them too), Gap is true and the event is handed out: the
	// events of Break are lost to this stream.
	StatusChainBroken
	// StatusChainRecovered: after a break, the missing events came: the
	// chain is whole again.
	StatusChainRecovered
)

func (s Status) String() string {
	switch s {
	case StatusConnecting:
		return "connecting"
	case StatusConnected:
		return "connected"
	case StatusHeartbeat:
		return "heartbeat"
	case StatusReconnecting:
		return "reconnecting"
	case StatusStopped:
		return "stopped"
	case StatusChainBroken:
		return "chain broken"
	case StatusChainRecovered:
		return "chain recovered"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// State is one change of a stream's connection, for [StreamOptions]'s
// StateHandler. Fields that do not apply to Status are zero.
type State struct {
	Status Status
	// Attempt counts the connection attempts that failed in a row.
	Attempt int
	// Err is why the connection ended (StatusReconnecting) or why the
	// stream stopped (StatusStopped).
	Err error
	// Delay is the wait before the next attempt (StatusReconnecting).
	Delay time.Duration
	// Resumed is the hello's: the server resumed after the cursor asked
	// for (StatusConnected).
	Resumed bool
	// Gap is true when the stream asked to resume after a cursor and the
	// server could not (the cursor is older than its retention): events
	// between that cursor and the first one delivered next may be
	// missing; [Client.History] cannot fill them either. With
	// StatusChainBroken, it says that resuming did not mend the break.
	Gap bool
	// Break names the missing events (StatusChainBroken, and
	// StatusChainRecovered for the break it mended).
	Break *MissingEventsError
	// Heartbeat is the server's heartbeat interval (StatusConnected).
	Heartbeat time.Duration
	// HeadBlock, SolidifiedBlock and Time are the chain head, the
	// solidified (irreversible) block and the server's clock of a
	// heartbeat (StatusHeartbeat).
	HeadBlock       int64
	SolidifiedBlock int64
	Time            time.Time
	// Cursor is the cursor of the last event delivered.
	Cursor string
}

// Stream is a subscription's live events, delivered once each, in cursor
// order, across reconnections. Read it with [Stream.Next] from one
// goroutine; [Stream.Close] may be called from any.
type Stream struct {
	c      *Client
	subID  string
	opts   StreamOptions
	events chan Event
	done   chan struct{}
	cancel context.CancelFunc
	closed atomic.Bool

	// sent is the cursor of the last event handed to Next; only run
	// touches it, so resuming and dropping replays never race with the
	// caller reading Cursor.
	sent string
	// linked says the next event must name sent as its predecessor:
	// false until the stream holds a position (a live-only start), and
	// after a resume the server could not make (hello resumed:false).
	linked bool
	// mending is the break the stream resumed to mend, nil when none.
	mending *MissingEventsError

	mu     sync.Mutex
	cursor string // of the last event Next returned
	err    error  // set before done is closed
	chain  ChainStats
}

// ChainStats counts what a [Stream]'s check of the events' links found.
type ChainStats struct {
	// Breaks counts the events that did not name the last event handed
	// out: events were lost on the way to this stream.
	Breaks int
	// Recovered counts the breaks that resuming mended: the missing
	// events were handed out, in order, before the rest.
	Recovered int
	// Unrecovered counts the breaks the server could not mend (its
	// history lacks the events): see StatusChainBroken.
	Unrecovered int
}

// ChainStats returns what the stream's check of the events' links found
// so far. Every event names its predecessor, and the stream checks each
// one against the last it handed out (see [StatusChainBroken]).
func (s *Stream) ChainStats() ChainStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chain
}

// Stream opens a subscription's event stream, connecting in the
// background, and returns at once: errors come from [Stream.Next]. The
// stream reconnects with jittered exponential backoff after network
// failures, silence past the idle timeout, and closes with 1000, 1001,
// 1011, 1012, 4008 (it read too slowly) and 4029 (too many connections),
// resuming after the last event delivered and dropping any event at or
// before it, so the caller sees neither a gap nor a duplicate. It checks
// that each event names the last one delivered as its predecessor: on a
// break it holds the event back and resumes at once after the last one
// delivered, so the server sends the missing events first
// ([StatusChainBroken], [Stream.ChainStats]). It stops
// for good on 4404 ([ErrSubscriptionDeleted]), 4004 ([ErrNotFound]), 1008
// ([ErrUnauthorized]), 1009, and on a handshake refused with 400, 401,
// 403 or 404 ([*APIError]). It ends when ctx does or on [Stream.Close];
// call Close in every case to release it.
func (c *Client) Stream(ctx context.Context, subID string, opts StreamOptions) *Stream {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{
		c: c, subID: subID, opts: opts,
		events: make(chan Event),
		done:   make(chan struct{}),
		cancel: cancel,
		cursor: opts.After,
		sent:   opts.After,
		linked: opts.After != "",
	}
	go s.run(ctx)
	return s
}

// Next returns the next event, waiting for it until ctx ends (which
// leaves the stream usable). After the stream stopped it returns why:
// a [*CloseError] or [*APIError] the server ended it with, the last
// failure after MaxAttempts, the stream's context error, or
// [ErrStreamClosed] after Close.
func (s *Stream) Next(ctx context.Context) (Event, error) {
	select {
	case ev := <-s.events:
		// Set here, not by the sender after the hand-off, so Cursor
		// already names this event when Next returns it.
		if ev.Cursor != "" {
			s.mu.Lock()
			s.cursor = ev.Cursor
			s.mu.Unlock()
		}
		return ev, nil
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return Event{}, s.err
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Cursor returns the cursor of the last event [Stream.Next] returned (the
// After it was opened with before the first one). Store it to resume
// later with StreamOptions.After.
func (s *Stream) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

// Done is closed when the stream has stopped for good.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Close stops the stream, closing its connection with 1000, and waits for
// its goroutine. It is safe to call more than once.
func (s *Stream) Close() error {
	s.closed.Store(true)
	s.cancel()
	<-s.done
	return nil
}

func (s *Stream) state(st State) {
	if s.opts.StateHandler == nil {
		return
	}
	st.Cursor = s.Cursor()
	s.opts.StateHandler(st)
}

// run connects, reads and reconnects until the stream stops. It is the
// only goroutine that touches a connection, apart from the close that
// ctx's end triggers.
func (s *Stream) run(ctx context.Context) {
	var err error
	defer func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		s.state(State{Status: StatusStopped, Err: err})
		close(s.done)
	}()
	attempt := 0
	for {
		s.state(State{Status: StatusConnecting, Attempt: attempt})
		res := s.session(ctx)
		if ctx.Err() != nil {
			err = s.stopErr(ctx)
			return
		}
		if res.permanent {
			err = res.err
			return
		}
		if res.chainBreak != nil {
			// Resume at once after the last event handed out: the
			// server sends what is missing first.
			attempt = 0
			s.state(State{Status: StatusReconnecting, Err: res.err})
			continue
		}
		if res.healthy {
			attempt = 0
		}
		attempt++
		if s.opts.MaxAttempts > 0 && attempt >= s.opts.MaxAttempts {
			err = fmt.Errorf("client: stream %s: gave up after %d failed attempts: %w", s.subID, attempt, res.err)
			return
		}
		delay := max(s.backoff(attempt), res.retryAfter)
		s.state(State{Status: StatusReconnecting, Attempt: attempt, Err: res.err, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			err = s.stopErr(ctx)
			return
		case <-t.C:
		}
	}
}

func (s *Stream) stopErr(ctx context.Context) error {
	if s.closed.Load() {
		return ErrStreamClosed
	}
	return fmt.Errorf("client: stream %s: %w", s.subID, context.Cause(ctx))
}

// backoff returns the delay before attempt (from 1): MinBackoff doubled
// per attempt up to MaxBackoff, then drawn between half and all of it.
func (s *Stream) backoff(attempt int) time.Duration {
	return backoff.Policy{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff}.Delay(attempt)
}

// sessionResult is how one connection ended.
type sessionResult struct {
	err error
	// permanent means reconnecting cannot help.
	permanent bool
	// healthy means the connection worked (it delivered an event, or
	// lived past MaxBackoff), so the backoff starts over.
	healthy bool
	// retryAfter is the least wait the server asked for.
	retryAfter time.Duration
	// chainBreak is the break the connection was ended for.
	chainBreak *MissingEventsError
}

func (s *Stream) url() string {
	u := *s.c.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	str := u.String() + "/v1/subscriptions/" + pathID(s.subID) + "/stream"
	if s.sent != "" {
		str += "?" + url.Values{"after": {s.sent}}.Encode()
	}
	return str
}

func (s *Stream) dialer() *websocket.Dialer {
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: handshakeTimeout}
	if t, ok := s.c.opts.hc.Transport.(*http.Transport); ok {
		d.Proxy = t.Proxy
		d.TLSClientConfig = t.TLSClientConfig
		d.NetDialContext = t.DialContext
	}
	return d
}

// session runs one connection: it dials, then reads until the connection
// ends, delivering events after the last cursor.
func (s *Stream) session(ctx context.Context) sessionResult {
	header := http.Header{}
	s.c.setHeaders(header)
	after := s.sent
	conn, resp, err := s.dialer().DialContext(ctx, s.url(), header)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			apiErr := readAPIError(resp)
			_ = resp.Body.Close()
			var ae *APIError
			errors.As(apiErr, &ae)
			return sessionResult{err: apiErr, permanent: !ae.temporary(), retryAfter: ae.RetryAfter}
		}
		return sessionResult{err: fmt.Errorf("client: stream %s: dial: %w", s.subID, err)}
	}
	// The session is over when this returns: a failed close has nothing
	// left to lose or report.
	defer func() { _ = conn.Close() }()
	// The read below blocks; ending ctx must end it, and tell the server
	// why on the way.
	stop := context.AfterFunc(ctx, func() {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, "client closed"), time.Now().Add(closeWait))
		_ = conn.Close()
	})
	defer stop()

	started := time.Now()
	res := sessionResult{}
	defer func() {
		res.healthy = res.healthy || time.Since(started) > s.opts.MaxBackoff
	}()
	idle := s.opts.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	conn.SetReadLimit(maxMessageBytes)
	_ = conn.SetReadDeadline(time.Now().Add(idle))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(closeWait))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				cerr := &CloseError{Code: ce.Code, Reason: ce.Text}
				res.err, res.permanent = cerr, permanentClose(ce.Code)
				if ce.Code == CloseTooManyConnections {
					// Another edge may have room; this one will not
					// soon.
					res.retryAfter = 2 * s.opts.MinBackoff
				}
				return res
			}
			res.err = fmt.Errorf("client: stream %s: %w", s.subID, err)
			return res
		}
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		var head struct {
			Type       string    `json:"type"`
			Cursor     string    `json:"cursor"`
			Resumed    bool      `json:"resumed"`
			HeartbeatS int64     `json:"heartbeat_s"`
			HeadBlock  int64     `json:"head_block"`
			Solidified int64     `json:"solidified_block"`
			Time       time.Time `json:"time"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			res.err = fmt.Errorf("client: stream %s: malformed message: %w", s.subID, err)
			return res
		}
		switch head.Type {
		case "hello":
			hb := time.Duration(head.HeartbeatS) * time.Second
			if s.opts.IdleTimeout <= 0 && hb > 0 {
				idle = 3 * hb
				_ = conn.SetReadDeadline(time.Now().Add(idle))
			}
			if after != "" && !head.Resumed {
				// The gap is reported below; the chain starts again
				// with the next event.
				s.linked, s.mending = false, nil
			}
			s.state(State{Status: StatusConnected, Resumed: head.Resumed, Gap: after != "" && !head.Resumed, Heartbeat: hb})
		case "heartbeat":
			s.state(State{Status: StatusHeartbeat, HeadBlock: head.HeadBlock, SolidifiedBlock: head.Solidified, Time: head.Time})
		case "event":
			if head.Cursor != "" && !cursorAfter(head.Cursor, s.sent) {
				continue // replayed at the seam: already delivered
			}
			ev, err := decodeEvent(msg)
			if err != nil {
				res.err = err
				return res
			}
			if brk := s.check(ev); brk != nil {
				// Never hand out an event before the ones it shows
				// missing: resume after the last one handed out.
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, "events missing, resuming"), time.Now().Add(closeWait))
				res.err, res.chainBreak, res.healthy = brk, brk, true
				return res
			}
			select {
			case s.events <- ev:
			case <-ctx.Done():
				return res
			}
			res.healthy = true
			if head.Cursor != "" {
				s.sent, s.linked = head.Cursor, true
			}
		default:
			// A message type this version does not know: clients
			// ignore what they do not understand.
		}
	}
}

// check checks ev's link against the last event handed out. It returns
// the break to resume for; nil when ev may be handed out, after telling
// the state handler of a break mended, or of one resuming could not mend.
func (s *Stream) check(ev Event) *MissingEventsError {
	if !s.linked || !ev.Linked() {
		s.mending = nil
		return nil
	}
	if ev.PrevCursor == s.sent {
		if m := s.mending; m != nil {
			s.mending = nil
			s.count(func(c *ChainStats) { c.Recovered++ })
			s.state(State{Status: StatusChainRecovered, Break: m})
		}
		return nil
	}
	brk := &MissingEventsError{SubscriptionID: s.subID, After: s.sent, Before: ev.Cursor, Prev: ev.PrevCursor}
	if s.mending == nil {
		s.mending = brk
		s.count(func(c *ChainStats) { c.Breaks++ })
		s.state(State{Status: StatusChainBroken, Break: brk, Err: brk})
		return brk
	}
	// The resume sent a break again: the server lacks the events too.
	s.mending = nil
	s.count(func(c *ChainStats) { c.Unrecovered++ })
	s.state(State{Status: StatusChainBroken, Break: brk, Err: brk, Gap: true})
	return nil
}

func (s *Stream) count(f func(*ChainStats)) {
	s.mu.Lock()
	f(&s.chain)
	s.mu.Unlock()
}

// cursorAfter reports whether cursor a comes after b in delivery order.
// Cursors are fixed-width hex, so string order is delivery order; a
// longer one is taken as later should the format ever grow.
func cursorAfter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}
