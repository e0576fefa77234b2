package load

import (
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// A reconnect storm (ModeStorm): every stream resumes with a cursor,
// redials as soon as it ends (the edge restarted, or [Generator.Drop] cut
// it), and counts as streaming again once the edge's hello arrives: the
// edge sends it after the subscription check and the resume-cursor
// check, so a hello means the edge has accepted the stream and is
// replaying or live.

// StormRound is one storm: from the first stream lost (or the drop) until
// every stream that was up streams again.
type StormRound struct {
	// Round counts storms; 0 is the first connect of every stream.
	Round int `json:"round"`
	// Streams is how many streams were up before the storm, and are
	// waited for.
	Streams int `json:"streams"`
	// StartNs is when the round began (unix ns): the first stream lost,
	// the drop, or for round 0 the generator's start.
	StartNs int64 `json:"start_ns"`
	// AllNs is when the last stream had its hello again (unix ns); zero
	// while the round is not complete.
	AllNs int64 `json:"all_streaming_ns"`
	// FirstNs is when the first stream was accepted again (unix ns).
	FirstNs int64 `json:"first_redial_ns,omitempty"`
	// Redials counts the streams accepted again.
	Redials int `json:"redials"`
	// Failures counts failed redial attempts by class: http_<status>,
	// refused, reset, timeout, eof, error.
	Failures map[string]int `json:"failures,omitempty"`
	// Closes counts why streams ended in this round, as
	// [Summary.Closes] does.
	Closes map[string]int `json:"closes,omitempty"`
}

// storm tracks which streams stream (have had their hello on their
// current connection) and the round in progress. All methods are safe for
// concurrent use.
type storm struct {
	now func() time.Time

	mu     sync.Mutex
	target int // streams up at the first connect; -1 until known
	live   int
	// cutting is how many streams a drop cut whose loss is not recorded
	// yet: the round waits for them, or a stream that redials fast would
	// find the others still counted live.
	cutting int
	inRound bool
	cur     StormRound
	rounds  []StormRound
	// done receives each completed round.
	done chan StormRound
}

func newStorm(now func() time.Time) *storm {
	return &storm{now: now, target: -1, inRound: true, done: make(chan StormRound, 16),
		cur: StormRound{StartNs: now().UnixNano(), Failures: map[string]int{}, Closes: map[string]int{}}}
}

// setTarget fixes how many streams each round waits for: those the first
// connect opened.
func (s *storm) setTarget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target = n
	s.cur.Streams = n
	s.checkLocked()
}

// hello records a stream streaming (again).
func (s *storm) hello() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live++
	s.checkLocked()
}

// redialed records a stream accepted again.
func (s *storm) redialed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Redials++; s.cur.FirstNs == 0 {
		s.cur.FirstNs = s.now().UnixNano()
	}
}

// failed records a failed redial attempt of class.
func (s *storm) failed(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Failures[class]++
}

// lost records a stream ending for reason; streamed says it had its
// hello, cut that a drop cut it. The first loss after a complete round
// starts the next.
func (s *storm) lost(reason string, streamed, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if streamed {
		s.live--
	}
	if cut && s.cutting > 0 {
		s.cutting--
	}
	s.startLocked()
	s.cur.Closes[reason]++
	s.checkLocked()
}

// cut starts a round now unless one is in progress (a drop of n streams),
// and holds it open until the n losses are recorded.
func (s *storm) cut(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
	s.cutting += n
}

func (s *storm) startLocked() {
	if s.inRound {
		return
	}
	s.inRound = true
	s.cur = StormRound{Round: len(s.rounds), Streams: s.target, StartNs: s.now().UnixNano(),
		Failures: map[string]int{}, Closes: map[string]int{}}
}

func (s *storm) checkLocked() {
	if !s.inRound || s.target < 0 || s.live < s.target || s.cutting > 0 {
		return
	}
	s.inRound = false
	s.cur.AllNs = s.now().UnixNano()
	r := s.cur
	r.Failures, r.Closes = maps.Clone(r.Failures), maps.Clone(r.Closes)
	s.rounds = append(s.rounds, r)
	select {
	case s.done <- r:
	default: // nobody reads: Summary still has it
	}
}

// snapshot returns the completed rounds and the one in progress, if any.
func (s *storm) snapshot() []StormRound {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]StormRound(nil), s.rounds...)
	if s.inRound {
		r := s.cur
		r.Failures, r.Closes = maps.Clone(r.Failures), maps.Clone(r.Closes)
		out = append(out, r)
	}
	return out
}

// dialFailure classifies a failed handshake for [StormRound.Failures].
func dialFailure(resp *http.Response, err error) string {
	var ne net.Error
	switch {
	case resp != nil:
		return "http_" + strconv.Itoa(resp.StatusCode)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "error"
}

// redialDelay is how long a stream waits before redial attempt n (0 is
// the first, at once): doubling from 50 ms up to maxDelay, drawn between
// half and all of it so that the redials spread out.
func redialDelay(n int, maxDelay time.Duration, rnd func(int64) int64) time.Duration {
	if n == 0 {
		return 0
	}
	d := 50 * time.Millisecond << min(n-1, 16)
	d = min(d, maxDelay)
	half := int64(d / 2)
	return time.Duration(half + rnd(half+1))
}

func randInt64N(n int64) int64 { return rand.Int64N(n) }

// StormLinePrefix starts the progress line written as each storm round
// completes, followed by the [StormRound] as JSON; round 0 is the first
// connect. The edgebench harness waits for these lines.
const StormLinePrefix = "loadgen: all-streaming "

// redial opens stream i again, retrying until it is accepted or ctx ends
// (nil then).
func (g *Generator) redial(ctx context.Context, i int) *websocket.Conn {
	u := g.streamURL(i)
	d := g.dialers[i%len(g.dialers)]
	for attempt := 0; ; attempt++ {
		select {
		case <-time.After(redialDelay(attempt, g.cfg.RedialMax, randInt64N)):
		case <-ctx.Done():
			return nil
		}
		ws, resp, err := d.DialContext(ctx, u, g.header)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if ctx.Err() != nil {
			if ws != nil {
				_ = ws.Close()
			}
			return nil
		}
		if err != nil {
			g.storm.failed(dialFailure(resp, err))
			continue
		}
		if !g.track(ws) {
			return nil
		}
		g.storm.redialed()
		return ws
	}
}

// Drop cuts every open stream at once (their TCP connections, without a
// close frame), starting a storm round: each stream redials at once. It
// does nothing outside ModeStorm.
func (g *Generator) Drop() {
	if g.storm == nil {
		return
	}
	g.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(g.conns))
	for ws := range g.conns {
		conns = append(conns, ws)
		g.cut[ws] = struct{}{}
	}
	// Under g.mu: a reader records its loss only after taking it.
	g.storm.cut(len(conns))
	g.mu.Unlock()
	for _, ws := range conns {
		_ = ws.NetConn().Close()
	}
}
