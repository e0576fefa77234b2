package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongotron/mongotron/pkg/bus"
)

// Sources of a replay, the label of mongotron_edge_stream_replays_total.
const (
	sourceJetStream = "jetstream"
	sourceMongoDB   = "mongodb"
	// sourceBoth: the stream served the start, MongoDB the rest.
	sourceBoth = "jetstream_then_mongodb"
)

// errChainBroken says the events stream cannot vouch for what follows.
var errChainBroken = errors.New("stream: events stream chain broken")

// streamNextWait bounds the wait for the next message of a stream replay
// that the stream said was there; past it the replay reads MongoDB.
const streamNextWait = 5 * time.Second

// jetstreamHistory is a [History] that serves a resume from the events
// stream the ingest publishes through (bus.EventsStream, the last hour),
// and reads the fallback (MongoDB) from wherever the stream cannot vouch
// for the rest.
//
// Why: nearly every resume is of a client that was away for seconds or
// minutes, and an edge restart makes all its clients resume at once. The
// stream holds those events in publish order per subject and hands them
// over at memory speed, where MongoDB needs a sorted query (and FerretDB,
// in the dev stack, reads the whole collection for it).
//
// Why it is exact: the ingest links every event to the subscription's
// previous event (its prev_cursor, and bus.PrevCursorHeader on its
// message; see messageLink). A stream message is sent only when it links
// to the last event sent, starting from the client's cursor, so what the
// stream serves has no gap by construction;
// a message at or below the last cursor sent is a repeat (a step published
// again after a failure) and is skipped. The first message that neither
// links nor repeats — an event published out of order, one discarded by
// the stream's limits, or one from an ingest that did not know the link —
// ends the stream's part, and MongoDB, where every event is stored before
// it is published, serves the rest in cursor order.
type jetstreamHistory struct {
	js       jetstream.JetStream
	stream   string
	fallback History
	log      *slog.Logger
	replays  *prometheus.CounterVec

	mu sync.Mutex
	st jetstream.Stream // cached once found; nil until then
}

// handle returns the events stream, looked up once: a lookup is a round
// trip to the server, and a reconnect storm makes thousands of replays.
func (h *jetstreamHistory) handle(ctx context.Context) (jetstream.Stream, error) {
	h.mu.Lock()
	st := h.st
	h.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := h.js.Stream(ctx, h.stream)
	if err != nil {
		return nil, fmt.Errorf("events stream: %w", err)
	}
	h.mu.Lock()
	h.st = st
	h.mu.Unlock()
	return st, nil
}

// forget drops the cached stream after an error, which may mean it is
// gone (deleted, or recreated with other settings).
func (h *jetstreamHistory) forget() {
	h.mu.Lock()
	h.st = nil
	h.mu.Unlock()
}

func (h *jetstreamHistory) Retained(ctx context.Context, subscriptionID, after string) (bool, error) {
	if h.isNewest(ctx, subscriptionID, after) {
		return true, nil
	}
	return retainedByPoint(ctx, h.fallback, subscriptionID, after)
}

// isNewest reports whether after is the cursor of the newest message of
// the subscription in the events stream. A client that was up to date
// resumes there: every client of an edge that restarted, all at once.
// The event being in the stream, there is nothing after it to lose, so
// the resume is whole, and the newest-first scan ends at once too: such
// a resume costs two stream requests and no MongoDB read, where MongoDB
// would be read twice per client.
func (h *jetstreamHistory) isNewest(ctx context.Context, subscriptionID, after string) bool {
	st, err := h.handle(ctx)
	if err != nil {
		return false
	}
	m, err := st.GetLastMsgForSubject(ctx, bus.EventsSubject(subscriptionID))
	return err == nil && messageCursor(m.Data) == after
}

func (h *jetstreamHistory) Newest(ctx context.Context, subscriptionID, atLeast string) (string, error) {
	st, err := h.handle(ctx)
	if err == nil {
		var m *jetstream.RawStreamMsg
		m, err = st.GetLastMsgForSubject(ctx, bus.EventsSubject(subscriptionID))
		switch {
		case err == nil:
			if c := messageCursor(m.Data); c != "" && c >= atLeast {
				return c, nil
			}
		case errors.Is(err, jetstream.ErrMsgNotFound):
			if atLeast == "" {
				// Nothing within the stream's window: the newest event is
				// older, and so is its subscription's head, which the
				// ingest writes after publishing.
				return newestByHead(ctx, h.fallback, subscriptionID)
			}
		default:
			h.forget()
			h.log.Debug("stream: newest event from MongoDB", "subscription_id", subscriptionID, "reason", err)
		}
	}
	return h.fallback.Newest(ctx, subscriptionID, atLeast)
}

func (h *jetstreamHistory) Scan(ctx context.Context, subscriptionID, after string, batch int, fn func([]Record) error) error {
	if after == "" {
		// From the oldest: only MongoDB has it all.
		h.replays.WithLabelValues(sourceMongoDB).Inc()
		return h.fallback.Scan(ctx, subscriptionID, after, batch, fn)
	}
	last, err := h.scanStream(ctx, subscriptionID, after, batch, fn)
	var fe fnError
	switch {
	case err == nil:
		h.replays.WithLabelValues(sourceJetStream).Inc()
		return nil
	case errors.As(err, &fe):
		return fe.err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	source := sourceMongoDB
	if last != after {
		source = sourceBoth
	}
	h.replays.WithLabelValues(source).Inc()
	h.log.Debug("stream: replay continues from MongoDB", "subscription_id", subscriptionID, "after", last, "reason", err)
	return h.fallback.Scan(ctx, subscriptionID, last, batch, fn)
}

// fnError carries an error of Scan's callback through scanStream, so it
// ends the replay instead of sending it to the fallback.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// scanStream sends the stream's linked events after after to fn. It
// returns the last cursor fn received (after if none), and nil once it
// reached the end of the stream, or why it stopped before.
func (h *jetstreamHistory) scanStream(ctx context.Context, subscriptionID, after string, batch int, fn func([]Record) error) (last string, err error) {
	last = after
	st, err := h.handle(ctx)
	if err != nil {
		return last, err
	}
	subject := bus.EventsSubject(subscriptionID)
	// The newest message first: a resume with nothing newer in the
	// stream, the commonest, costs one request before MongoDB.
	newest, err := st.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return last, fmt.Errorf("%w: no event in the stream", errChainBroken)
	case err != nil:
		h.forget()
		return last, fmt.Errorf("events stream last message: %w", err)
	case messageCursor(newest.Data) == after:
		// The client's own event is the newest published: anything
		// after it is published after the topic's live subscription
		// started (it started before this read), and reaches the stream
		// live, linked to after.
		return last, nil
	case messageCursor(newest.Data) < after:
		// Which does not say nothing happened since: it may be older
		// than the stream keeps, or not published yet.
		return last, fmt.Errorf("%w: nothing after %s", errChainBroken, after)
	}
	start, err := seekAfter(ctx, st, subject, after, 1, newest.Sequence)
	if err != nil {
		h.forget()
		return last, err
	}
	if start == 0 {
		return last, fmt.Errorf("%w: nothing after %s found", errChainBroken, after)
	}
	cons, err := h.js.CreateConsumer(ctx, h.stream, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return last, fmt.Errorf("events stream consumer: %w", err)
	}
	defer func() {
		// The inactive threshold removes it too; deleting it now keeps a
		// reconnect storm from piling consumers up on the server.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = h.js.DeleteConsumer(dctx, h.stream, cons.CachedInfo().Name)
	}()
	it, err := cons.Messages(jetstream.PullMaxMessages(batch))
	if err != nil {
		return last, fmt.Errorf("events stream messages: %w", err)
	}
	defer it.Stop()

	recs := make([]Record, 0, batch)
	tail := after // last cursor taken into recs
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if err := fn(recs); err != nil {
			return fnError{err}
		}
		last = recs[len(recs)-1].Cursor
		recs = make([]Record, 0, batch)
		return nil
	}
	for {
		nctx, cancel := context.WithTimeout(ctx, streamNextWait)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ferr := flush(); ferr != nil {
				return last, ferr
			}
			return last, fmt.Errorf("events stream next: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return last, errors.Join(flush(), fmt.Errorf("events stream metadata: %w", err))
		}
		c := messageCursor(msg.Data())
		switch {
		case c == "":
			return last, errors.Join(flush(), fmt.Errorf("%w: message %d has no cursor", errChainBroken, md.Sequence.Stream))
		case c <= tail:
			// A repeat: at or below a cursor the chain already covers.
		case messageLink(msg.Data(), msg.Headers().Get(bus.PrevCursorHeader)) == tail:
			recs = append(recs, Record{Cursor: c, JSON: msg.Data()})
			tail = c
		default:
			if err := flush(); err != nil {
				return last, err
			}
			return last, fmt.Errorf("%w: message %d (%s) does not follow %s", errChainBroken, md.Sequence.Stream, c, tail)
		}
		if md.NumPending == 0 {
			// The end of the stream as of this message; what comes later
			// arrives on the live subscription, active since before.
			return last, flush()
		}
		if len(recs) == batch {
			if err := flush(); err != nil {
				return last, err
			}
		}
	}
}

// seekAfter returns the sequence of the first message on subject, among
// sequences lo to hi, whose cursor is above after, or 0 when it finds none.
// Cursors grow along a subject's sequences (repeats and rare out-of-order
// publishes aside), so it bisects; landing past the true first message
// only costs a fallback, since that message must link to after.
func seekAfter(ctx context.Context, st jetstream.Stream, subject, after string, lo, hi uint64) (uint64, error) {
	var found uint64
	for lo <= hi && lo > 0 {
		mid := lo + (hi-lo)/2
		m, err := st.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// No message on subject from mid on.
			hi = mid - 1
			continue
		case err != nil:
			return 0, fmt.Errorf("events stream get %d: %w", mid, err)
		}
		if messageCursor(m.Data) > after {
			found = m.Sequence
			hi = mid - 1
		} else {
			lo = m.Sequence + 1
		}
	}
	return found, nil
}
