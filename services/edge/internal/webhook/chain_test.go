package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
)

// fakeMsg is a JetStream message for tests of the filing; it records how
// it was settled.
type fakeMsg struct {
	subject   string
	data      []byte
	hdr       nats.Header
	seq       uint64
	delivered uint64

	mu      sync.Mutex
	settled []string
}

// newFakeMsg returns the message of a subscription's event at step i,
// linked to step prev (0: no link), at stream sequence seq.
func newFakeMsg(tb testing.TB, subID string, i, prev int, seq uint64) *fakeMsg {
	tb.Helper()
	m := &fakeMsg{subject: bus.EventsSubject(subID), data: eventDoc(tb, subID, i).JSON, seq: seq, delivered: 1}
	if prev > 0 {
		m.hdr = nats.Header{bus.PrevCursorHeader: []string{cur(prev)}}
	}
	return m
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: m.delivered}, nil
}
func (m *fakeMsg) Data() []byte                     { return m.data }
func (m *fakeMsg) Headers() nats.Header             { return m.hdr }
func (m *fakeMsg) Subject() string                  { return m.subject }
func (m *fakeMsg) Reply() string                    { return "" }
func (m *fakeMsg) Ack() error                       { return m.record("ack") }
func (m *fakeMsg) DoubleAck(context.Context) error  { return m.record("ack") }
func (m *fakeMsg) Nak() error                       { return m.record("nak") }
func (m *fakeMsg) NakWithDelay(time.Duration) error { return m.record("nak") }
func (m *fakeMsg) InProgress() error                { return nil }
func (m *fakeMsg) Term() error                      { return m.record("term") }
func (m *fakeMsg) TermWithReason(string) error      { return m.record("term") }
func (m *fakeMsg) record(how string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settled = append(m.settled, how)
	return nil
}

func (m *fakeMsg) settlements() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.settled...)
}

// cur returns the cursor of step i, as eventDoc makes it.
func cur(i int) string { return cursor.Cursor{Step: uint64(i)}.String() }

// stepOf returns the step of a cursor eventDoc made.
func stepOf(tb testing.TB, c string) int {
	tb.Helper()
	cc, err := cursor.Parse(c)
	require.NoError(tb, err)
	return int(cc.Step)
}

// inboxView is how a test sees an inbox entry: its step, and where it
// came from.
type inboxView struct {
	step int
	// seq is its message's stream sequence, 0 for an event filled from
	// history that got no message.
	seq    uint64
	check  bool
	repeat bool
}

func (d *Deliverer) inboxOf(tb testing.TB, subID string) []inboxView {
	tb.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []inboxView
	for _, it := range d.inbox[subID] {
		v := inboxView{step: stepOf(tb, it.dl.Cursor), check: it.check, repeat: it.repeat}
		if it.dl.msg != nil {
			v.seq = streamSeq(it.dl.msg)
		}
		require.True(tb, it.dl.held, "step %d held", v.step)
		out = append(out, v)
	}
	return out
}

// storeRecord records a finished delivery of a subscription's event at
// step i, as a lane does, with the lane's tenure.
func (e *env) storeRecord(subID string, i int) {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := e.db.Collection(DeliveriesCollection).InsertOne(ctx, &Delivery{
		ID: DeliveryID(subID, cur(i)), SubscriptionID: subID, EventID: eventIDs(i, 1)[0], Cursor: cur(i),
		Status: StatusSucceeded, Attempts: 1, RoundAttempts: 1, Log: []Attempt{}, CreatedAt: now, UpdatedAt: now,
	})
	require.NoError(e.t, err)
	_, err = e.db.Collection(LanesCollection).InsertOne(ctx, bson.M{"_id": lease.TenureID(subID, 1), "subscription_id": subID, "epoch": int64(1), "lease_until": now})
	if !mongo.IsDuplicateKeyError(err) {
		require.NoError(e.t, err)
	}
}

func TestDeliverer_file_followsLinks(t *testing.T) {
	t.Parallel()
	type msg struct {
		step, prev int
		delivered  uint64
	}
	tests := []struct {
		name string
		// chain is the subscription's chain before, its tail a step
		// (0: none).
		state chainState
		tail  int
		// stored are the steps in the events collection, old those
		// stored longer ago than the stream keeps events; recorded and
		// queued the deliveries recorded and queued.
		stored, old, recorded, queued []int
		msgs                          []msg
		// want is the inbox after, by step; seq is the message's index
		// in msgs + 1, 0 for an event filled from history.
		want         []inboxView
		wantTail     int
		gaps, filled float64
	}{
		{
			name: "a message linked to the tail continues the chain", state: chainKnown, tail: 2,
			msgs:     []msg{{step: 3, prev: 2}, {step: 4, prev: 3}},
			want:     []inboxView{{step: 3, seq: 1}, {step: 4, seq: 2}},
			wantTail: 4,
		},
		{
			name: "a broken link is mended from history before the message", state: chainKnown, tail: 2, stored: []int{3, 4},
			msgs:     []msg{{step: 5, prev: 4}},
			want:     []inboxView{{step: 3, check: true}, {step: 4, check: true}, {step: 5, seq: 1}},
			wantTail: 5, gaps: 1, filled: 2,
		},
		{
			name: "the late message joins its filled delivery", state: chainKnown, tail: 2, stored: []int{3},
			msgs:     []msg{{step: 4, prev: 3}, {step: 3, prev: 2}},
			want:     []inboxView{{step: 3, seq: 2, check: true}, {step: 4, seq: 1}},
			wantTail: 4, gaps: 1, filled: 1,
		},
		{
			name: "a repeat of an event taken before is filed to be checked", state: chainKnown, tail: 5,
			msgs:     []msg{{step: 3, prev: 2}, {step: 5, prev: 4}, {step: 6, prev: 5}},
			want:     []inboxView{{step: 3, seq: 1, check: true, repeat: true}, {step: 5, seq: 2, check: true, repeat: true}, {step: 6, seq: 3}},
			wantTail: 6,
		},
		{
			name: "no link and nothing missing is no gap", state: chainKnown, tail: 2,
			msgs:     []msg{{step: 3}},
			want:     []inboxView{{step: 3, seq: 1}},
			wantTail: 3,
		},
		{
			name: "no link and events missing is a gap", state: chainKnown, tail: 2, stored: []int{3},
			msgs:     []msg{{step: 4}},
			want:     []inboxView{{step: 3, check: true}, {step: 4, seq: 1}},
			wantTail: 4, gaps: 1, filled: 1,
		},
		{
			name: "a message JetStream delivered before is checked", state: chainKnown, tail: 2,
			msgs:     []msg{{step: 3, prev: 2, delivered: 2}},
			want:     []inboxView{{step: 3, seq: 1, check: true}},
			wantTail: 3,
		},
		{
			name: "an unknown tail is the last delivery stored", recorded: []int{1, 2}, stored: []int{3},
			msgs:     []msg{{step: 4, prev: 3}},
			want:     []inboxView{{step: 3, check: true}, {step: 4, seq: 1}},
			wantTail: 4, gaps: 1, filled: 1,
		},
		{
			name: "a link to a stored delivery is the tail", recorded: []int{1, 2, 3}, stored: []int{3},
			msgs:     []msg{{step: 4, prev: 3}},
			want:     []inboxView{{step: 4, seq: 1}},
			wantTail: 4,
		},
		{
			name: "a queued delivery counts as stored", queued: []int{2, 3},
			msgs:     []msg{{step: 5, prev: 4}},
			stored:   []int{4},
			want:     []inboxView{{step: 4, check: true}, {step: 5, seq: 1}},
			wantTail: 5, gaps: 1, filled: 1,
		},
		{
			name: "after a bootstrap, events older than the stream's window are passed over", recorded: []int{2}, old: []int{3, 4}, stored: []int{5},
			msgs:     []msg{{step: 6, prev: 5}},
			want:     []inboxView{{step: 5, check: true}, {step: 6, seq: 1}},
			wantTail: 6, gaps: 1, filled: 1,
		},
		{
			name: "after a bootstrap, a message at or below the stored tail is a repeat", recorded: []int{3},
			msgs:     []msg{{step: 3, prev: 2}, {step: 4, prev: 3}},
			want:     []inboxView{{step: 3, seq: 1, check: true, repeat: true}, {step: 4, seq: 2}},
			wantTail: 4,
		},
		{
			name: "with nothing stored the first message starts the chain", stored: []int{5},
			msgs:     []msg{{step: 6, prev: 5}, {step: 7, prev: 6}},
			want:     []inboxView{{step: 6, seq: 1}, {step: 7, seq: 2}},
			wantTail: 7,
		},
		{
			name: "pinned anew, what this edge filed is a floor", state: chainUnknown, tail: 5, recorded: []int{2}, stored: []int{3, 4, 5},
			msgs:     []msg{{step: 6, prev: 5}},
			want:     []inboxView{{step: 6, seq: 1}},
			wantTail: 6,
		},
		{
			name: "an open chain takes the next message as is", state: chainOpen, stored: []int{3},
			msgs:     []msg{{step: 4, prev: 3}},
			want:     []inboxView{{step: 4, seq: 1}},
			wantTail: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			d, err := New(testConfig(e, "c"))
			require.NoError(t, err)
			sub := e.createSub("http://127.0.0.1:9/hook", "k")
			var docs []store.EventDoc
			for _, i := range tc.stored {
				docs = append(docs, eventDoc(t, sub, i))
			}
			for _, i := range tc.old {
				doc := eventDoc(t, sub, i)
				doc.CreatedAt = doc.CreatedAt.Add(-2 * time.Hour)
				docs = append(docs, doc)
			}
			e.storeEvents(docs...)
			for _, i := range tc.recorded {
				e.storeRecord(sub, i)
			}
			for _, i := range tc.queued {
				require.NoError(t, d.store.insertNew(context.Background(), []any{&Delivery{
					ID: DeliveryID(sub, cur(i)), SubscriptionID: sub, Cursor: cur(i), Status: StatusPending, Log: []Attempt{},
				}}))
			}
			if tc.state != chainUnknown || tc.tail > 0 {
				ch := &chain{state: tc.state}
				if tc.tail > 0 {
					ch.tail = cur(tc.tail)
				}
				d.chains[sub] = ch
			}
			var msgs []jetstream.Msg
			var fakes []*fakeMsg
			for i, m := range tc.msgs {
				f := newFakeMsg(t, sub, m.step, m.prev, uint64(i+1))
				if m.delivered > 0 {
					f.delivered = m.delivered
				}
				fakes = append(fakes, f)
				msgs = append(msgs, f)
			}
			subs, err := d.file(context.Background(), msgs)
			require.NoError(t, err)
			require.Equal(t, []string{sub}, subs)
			require.Equal(t, tc.want, d.inboxOf(t, sub))
			require.Equal(t, cur(tc.wantTail), d.chains[sub].tail)
			require.Equal(t, chainKnown, d.chains[sub].state)
			for i, f := range fakes {
				require.Empty(t, f.settlements(), "message %d is settled with its delivery", i+1)
			}
			require.InDelta(t, tc.gaps, testutil.ToFloat64(d.m.gaps), 0, "gaps")
			require.InDelta(t, tc.filled, testutil.ToFloat64(d.m.filled), 0, "events filled")
		})
	}
}

func TestDeliverer_file_fillsALargeGapInParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, err := New(testConfig(e, "c"))
	require.NoError(t, err)
	sub := e.createSub("http://127.0.0.1:9/hook", "k")
	const last = maxFill + 4 // steps 2 … last-1 are missing
	var docs []store.EventDoc
	for i := 2; i < last; i++ {
		docs = append(docs, eventDoc(t, sub, i))
	}
	e.storeEvents(docs...)
	d.chains[sub] = &chain{tail: cur(1), state: chainKnown}

	a, b := newFakeMsg(t, sub, last, last-1, 1), newFakeMsg(t, sub, last+1, last, 2)
	_, err = d.file(context.Background(), []jetstream.Msg{a, b})
	require.NoError(t, err)
	in := d.inboxOf(t, sub)
	require.Len(t, in, maxFill, "one part filled")
	require.Equal(t, 2, in[0].step)
	require.Equal(t, maxFill+1, in[len(in)-1].step)
	require.Equal(t, []string{"nak"}, a.settlements(), "the message showing the gap waits for the next part")
	require.Equal(t, []string{"nak"}, b.settlements(), "and so does what follows it")
	require.Equal(t, cur(maxFill+1), d.chains[sub].tail)

	// JetStream hands them out again.
	a, b = newFakeMsg(t, sub, last, last-1, 1), newFakeMsg(t, sub, last+1, last, 2)
	_, err = d.file(context.Background(), []jetstream.Msg{a, b})
	require.NoError(t, err)
	in = d.inboxOf(t, sub)
	require.Len(t, in, last)
	for k, v := range in {
		require.Equal(t, k+2, v.step, "in cursor order, no gap")
	}
	require.Equal(t, uint64(1), in[len(in)-2].seq)
	require.Equal(t, uint64(2), in[len(in)-1].seq)
	require.InDelta(t, 2.0, testutil.ToFloat64(d.m.gaps), 0)
	require.InDelta(t, float64(last-2), testutil.ToFloat64(d.m.filled), 0)
}

func TestDeliverer_file_pausedWebhookDoesNotGetThePausesEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, err := New(testConfig(e, "c"))
	require.NoError(t, err)
	sub := e.createSub("http://127.0.0.1:9/hook", "k")
	d.chains[sub] = &chain{tail: cur(2), state: chainKnown}
	e.storeEvents(eventDoc(t, sub, 3), eventDoc(t, sub, 4))
	setHook := func(v any) {
		_, err := e.db.Collection(store.Subscriptions).UpdateOne(context.Background(), bson.M{"_id": sub}, bson.M{"$set": bson.M{"webhook": v}})
		require.NoError(t, err)
		d.hooks.invalidate(sub)
	}

	setHook(nil)
	skipped := newFakeMsg(t, sub, 3, 2, 1)
	_, err = d.file(context.Background(), []jetstream.Msg{skipped})
	require.NoError(t, err)
	require.Equal(t, []string{"ack"}, skipped.settlements())
	require.Empty(t, d.inboxOf(t, sub))

	setHook(bson.M{"url": "http://127.0.0.1:9/hook", "secret": "k"})
	// 4 is lost on the way: it is not filled either, since the chain
	// started anew with 5.
	m := newFakeMsg(t, sub, 5, 4, 3)
	_, err = d.file(context.Background(), []jetstream.Msg{m})
	require.NoError(t, err)
	require.Equal(t, []inboxView{{step: 5, seq: 3}}, d.inboxOf(t, sub))
	require.Zero(t, testutil.ToFloat64(d.m.gaps))
}

func TestDeliverer_rewind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, err := New(testConfig(e, "c"))
	require.NoError(t, err)
	sub := e.createSub("http://127.0.0.1:9/hook", "k")
	e.storeEvents(eventDoc(t, sub, 2))
	d.chains[sub] = &chain{tail: cur(1), state: chainKnown}
	held := newFakeMsg(t, sub, 3, 2, 1)
	_, err = d.file(context.Background(), []jetstream.Msg{held})
	require.NoError(t, err)
	require.Equal(t, []inboxView{{step: 2, check: true}, {step: 3, seq: 1}}, d.inboxOf(t, sub))

	// A filing begins, then a lane hands events back.
	l, err := d.link(context.Background(), sub, cur(4), cur(3), time.Now())
	require.NoError(t, err)
	late := newFakeMsg(t, sub, 4, 3, 2)
	l.add(incoming{dl: &Delivery{ID: DeliveryID(sub, cur(4)), Cursor: cur(4), held: true, msg: late}})
	d.rewind(sub)
	require.Equal(t, []string{"nak"}, held.settlements(), "what the inbox held goes back")
	require.Empty(t, d.inboxOf(t, sub))
	require.Equal(t, chain{state: chainUnknown, epoch: 1}, *d.chains[sub])

	d.commit([]string{sub}, map[string]*link{sub: l}, nil)
	require.Equal(t, []string{"nak"}, late.settlements(), "a filing begun before goes back too")
	require.Empty(t, d.inboxOf(t, sub))
	require.Equal(t, chainUnknown, d.chains[sub].state)
}

// Deliveries filled from history have no JetStream message: their
// outcomes, their queueing and the checks of repeats stand on their own.
func TestDeliverer_record_deliveryWithoutMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d, err := New(testConfig(e, "c"))
	require.NoError(t, err)
	ctx := context.Background()
	sub := "sub_nomsg"
	filled := func(i int) *Delivery {
		return &Delivery{ID: DeliveryID(sub, cur(i)), SubscriptionID: sub, Cursor: cur(i), Status: StatusPending, Log: []Attempt{}, held: true, check: true}
	}

	var ops writeOps
	dl := filled(1)
	v := d.classify(dl, result{code: http.StatusServiceUnavailable, err: fmt.Errorf("503"), class: "5xx"})
	require.Equal(t, StatusPending, v.status)
	d.record(&ops, dl, v)
	require.Empty(t, ops.updates, "not in the queue: no update")
	require.Len(t, ops.pending, 1, "queued for its retry")
	require.Empty(t, ops.acks)
	dl = filled(2)
	v = d.classify(dl, result{code: http.StatusOK, class: "2xx"})
	require.Equal(t, StatusSucceeded, v.status)
	d.record(&ops, dl, v)
	require.Len(t, ops.finished, 1)
	require.Empty(t, ops.acks)
	// Spilled: one recorded already (another edge sent it), one finished
	// by these same ops, one new.
	e.storeRecord(sub, 3)
	d.spillOps(&ops, []incoming{{dl: filled(2), check: true}, {dl: filled(3), check: true}, {dl: filled(4), check: true}})
	require.Empty(t, ops.acks)
	require.NoError(t, d.writer.write(ctx, ops))
	ops.settle(true)

	var queued []string
	for _, dl := range e.deliveries(sub) {
		if dl.Status == StatusPending {
			queued = append(queued, dl.Cursor)
		}
	}
	require.Equal(t, []string{cur(1), cur(4)}, queued, "the retry and the new one are queued, the settled ones are not")
	require.Equal(t, 2, e.countStatus(sub, StatusSucceeded))
}

// patientConfig is testConfig with timeouts no busy machine's prompt
// answer exceeds, for tests counting requests: an attempt timed out is
// sent again.
func patientConfig(e *env, consumer string) Config {
	cfg := testConfig(e, consumer)
	cfg.Timeout, cfg.LeaseDuration = 2*time.Second, 15*time.Second
	return cfg
}

// outOfOrder describes events published to the stream in an order of
// their own.
type outOfOrder struct {
	name string
	// n events, steps 1 … n, are stored; order is the stream's order of
	// their steps (a step twice is published twice), each linked to its
	// predecessor unless noLinks.
	n       int
	order   []int
	noLinks bool
	// failFirst: the receiver answers the first attempt of this step 503.
	failFirst int
	// gaps, filled and repeats are the intake's counts.
	gaps, filled, repeats float64
}

func TestDeliverer_Run_outOfOrderStreamDeliversInCursorOrder(t *testing.T) {
	t.Parallel()
	tests := []outOfOrder{
		{name: "next before previous", n: 5, order: []int{1, 2, 4, 3, 5}, gaps: 1, filled: 1, repeats: 1},
		{name: "a run arriving late", n: 8, order: []int{1, 2, 6, 7, 8, 3, 4, 5}, gaps: 1, filled: 3, repeats: 3},
		{name: "an event never on the stream", n: 5, order: []int{1, 2, 4, 5}, gaps: 1, filled: 1},
		{name: "a run never on the stream", n: 7, order: []int{1, 5, 6, 7}, gaps: 1, filled: 3},
		{name: "no links", n: 5, order: []int{1, 3, 2, 4, 5}, noLinks: true, gaps: 1, filled: 1, repeats: 1},
		{name: "published twice", n: 4, order: []int{1, 2, 3, 2, 3, 4, 1}, repeats: 3},
		{name: "a filled event retried", n: 5, order: []int{1, 2, 4, 5}, failFirst: 3, gaps: 1, filled: 1},
		{name: "a late event's delivery retried", n: 5, order: []int{1, 2, 4, 3, 5}, failFirst: 3, gaps: 1, filled: 1, repeats: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rc := newReceiver(t, "k")
			if tc.failFirst > 0 {
				var failed sync.Once
				id := eventIDs(tc.failFirst, 1)[0]
				rc.setRespond(func(r *http.Request, _ int) int {
					status := http.StatusOK
					if r.Header.Get(HeaderEventID) == id {
						failed.Do(func() { status = http.StatusServiceUnavailable })
					}
					return status
				})
			}
			consumer := "c_" + randHex(4)
			d, _ := start(t, patientConfig(e, consumer))
			sub := e.createSub(rc.srv.URL, "k")
			docs := make([]store.EventDoc, tc.n+1)
			for i := 1; i <= tc.n; i++ {
				docs[i] = eventDoc(t, sub, i)
			}
			e.storeEvents(docs[1:]...)
			var msgs []streamMsg
			for _, i := range tc.order {
				m := streamMsg{doc: docs[i]}
				if i > 1 && !tc.noLinks {
					m.prev = docs[i-1].Cursor
				}
				msgs = append(msgs, m)
			}
			e.send(msgs...)

			testenv.WaitFor(t, 30*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == tc.n }, "%d delivered", tc.n)
			testenv.WaitFor(t, 30*time.Second, func() bool {
				info, err := e.js.Consumer(context.Background(), bus.EventsStream, consumer)
				if err != nil {
					return false
				}
				ci, err := info.Info(context.Background())
				return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
			}, "every message acknowledged")
			require.Equal(t, eventIDs(1, tc.n), rc.accepted(), "in cursor order, once each")
			want := tc.n
			if tc.failFirst > 0 {
				want++
			}
			require.Len(t, rc.requests(), want, "no event sent twice")
			require.InDelta(t, tc.gaps, testutil.ToFloat64(d.m.gaps), 0, "gaps")
			require.InDelta(t, tc.filled, testutil.ToFloat64(d.m.filled), 0, "events filled")
			// JetStream may hand a message out again on a busy machine:
			// one more repeat, never one less.
			require.GreaterOrEqual(t, testutil.ToFloat64(d.m.intake.WithLabelValues("repeat")), tc.repeats, "repeats")
			n, err := e.db.Collection(QueueCollection).CountDocuments(context.Background(), bson.M{})
			require.NoError(t, err)
			require.Zero(t, n, "queue empty")
		})
	}
}

func TestDeliverer_Run_restartedEdgeBootstrapsFromStoredDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	consumer := "c_" + randHex(4)
	_, stopA := start(t, patientConfig(e, consumer))
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 3)
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 3 }, "edge A delivered")
	stopA()

	// Event 4 is stored but its message never reaches the stream; 5,
	// linked to it, does.
	four, five := eventDoc(t, sub, 4), eventDoc(t, sub, 5)
	e.storeEvents(four, five)
	e.send(streamMsg{doc: five, prev: four.Cursor})
	b, _ := start(t, patientConfig(e, consumer))
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 5 }, "edge B delivered")
	require.Equal(t, eventIDs(1, 5), rc.accepted(), "in cursor order, once each")
	require.InDelta(t, 1.0, testutil.ToFloat64(b.m.gaps), 0)
	require.InDelta(t, 1.0, testutil.ToFloat64(b.m.filled), 0)
	for _, dl := range e.deliveries(sub) {
		require.True(t, strings.HasPrefix(dl.ID, "dlv_"))
		require.Equal(t, 1, dl.Attempts, dl.ID)
	}
}
