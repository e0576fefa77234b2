package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/lease"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func eventIDs(first, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%064x:%d", first+i, 0)
	}
	return out
}

func TestDeliverer_Run_signedInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "s3cret")
	start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub(rc.srv.URL+"/hook", "s3cret")
	other := e.createSub(rc.srv.URL+"/other", "s3cret")
	e.publish(sub, 1, 20)
	e.publish(other, 100, 5)

	testenv.WaitFor(t, 20*time.Second, func() bool { return len(rc.accepted()) == 25 }, "25 deliveries")
	var got []string
	for _, r := range rc.requests() {
		require.True(t, r.sigOK, "signature of %s", r.eventID)
		require.Equal(t, 1, r.attempt)
		require.Contains(t, string(r.body), `"id":"`+r.eventID+`"`)
		if r.subID == sub {
			got = append(got, r.eventID)
		}
	}
	require.Equal(t, eventIDs(1, 20), got, "in cursor order, once each")
	testenv.WaitFor(t, 5*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 20 }, "recorded")
	for _, d := range e.deliveries(sub) {
		require.Equal(t, 1, d.Attempts)
		require.Len(t, d.Log, 1)
		require.Equal(t, http.StatusOK, d.Last.StatusCode)
	}
}

func TestDeliverer_Run_skipsSubscriptionsWithoutWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub("", "")
	_, err := e.db.Collection(store.Subscriptions).UpdateOne(context.Background(), bson.M{"_id": sub}, bson.M{"$set": bson.M{"webhook": nil}})
	require.NoError(t, err)
	rc := newReceiver(t, "x")
	marker := e.createSub(rc.srv.URL, "x")
	e.publish(sub, 1, 5)
	e.publish(marker, 10, 1)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(rc.accepted()) == 1 }, "marker delivered")
	require.Empty(t, e.deliveries(sub))
}

func TestDeliverer_Run_receiverDownThenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	up := make(chan struct{})
	rc.setRespond(func(*http.Request, int) int {
		select {
		case <-up:
			return http.StatusOK
		default:
			return http.StatusServiceUnavailable
		}
	})
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.Schedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}
	start(t, cfg)
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 10)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(rc.requests()) >= 3 }, "attempts while down")
	// Held back: while the first delivery is retried, the others wait.
	for _, r := range rc.requests() {
		require.Equal(t, eventIDs(1, 1)[0], r.eventID)
	}
	close(up)
	testenv.WaitFor(t, 20*time.Second, func() bool { return len(rc.accepted()) == 10 }, "all delivered")
	require.Equal(t, eventIDs(1, 10), rc.accepted(), "every event once, in order")
	testenv.WaitFor(t, 5*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 10 }, "recorded")
	first := e.deliveries(sub)[0]
	require.GreaterOrEqual(t, first.Attempts, 4)
	require.Equal(t, http.StatusServiceUnavailable, first.Log[0].StatusCode)
	require.Equal(t, http.StatusOK, first.Last.StatusCode)
}

func TestDeliverer_Run_timeoutResendsSameEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	rc.setRespond(func(r *http.Request, n int) int {
		if n == 1 {
			// Answers only once the deliverer gave up: the outcome is
			// unknown.
			select {
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
			}
		}
		return http.StatusOK
	})
	cfg := testConfig(e, "c_"+randHex(4))
	// Long enough that a busy machine's prompt answer never times out:
	// only the first attempt may.
	cfg.Timeout, cfg.LeaseDuration = time.Second, 15*time.Second
	start(t, cfg)
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 2)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 2 }, "delivered")
	reqs := rc.requests()
	require.Len(t, reqs, 3)
	require.Equal(t, reqs[0].eventID, reqs[1].eventID, "the same event id after a timeout")
	require.Equal(t, reqs[0].deliveryID, reqs[1].deliveryID)
	require.Equal(t, []int{1, 2, 1}, []int{reqs[0].attempt, reqs[1].attempt, reqs[2].attempt})
	d := e.deliveries(sub)[0]
	require.Contains(t, d.Log[0].Error, "no response within")
}

func TestDeliverer_Run_goneDisables(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	rc.setRespond(func(*http.Request, int) int { return http.StatusGone })
	d, _ := start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 3)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusFailed) == 3 }, "all failed")
	require.Len(t, rc.requests(), 1, "no retry after 410, and nothing more to a gone receiver")
	// Recorded where GET shows it (subscription.WebhookDisabled).
	var doc subscription.Subscription
	require.NoError(t, e.db.Collection(store.Subscriptions).FindOne(context.Background(), bson.M{"_id": sub}).Decode(&doc))
	why := doc.DisabledWebhook()
	require.NotNil(t, why)
	require.Equal(t, rc.srv.URL, why.URL)
	require.Equal(t, http.StatusGone, why.StatusCode)
	require.Equal(t, DeliveryID(sub, e.deliveries(sub)[0].Cursor), why.DeliveryID, "the delivery that got the 410")
	require.Contains(t, why.Reason, "410 Gone")
	require.WithinDuration(t, time.Now(), why.At, time.Minute)

	// New events are not even stored while disabled.
	e.publish(sub, 10, 2)
	// A manual retry enables the webhook again.
	rc.setRespond(func(*http.Request, int) int { return http.StatusOK })
	dels := e.deliveries(sub)
	_, err := d.Retry(context.Background(), sub, dels[1].ID)
	require.NoError(t, err)
	doc = subscription.Subscription{}
	require.NoError(t, e.db.Collection(store.Subscriptions).FindOne(context.Background(), bson.M{"_id": sub}).Decode(&doc))
	require.Nil(t, doc.WebhookDisabled, "enabled: the record is cleared")
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 1 }, "retried")
	require.Len(t, e.deliveries(sub), 3)
}

func TestDeliverer_Run_redirectNotFollowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target := newReceiver(t, "k")
	rc := newReceiver(t, "k")
	rc.setRespond(func(*http.Request, int) int { return http.StatusFound })
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.Schedule = []time.Duration{20 * time.Millisecond}
	start(t, cfg)
	sub := e.createSub(redirect.URL, "k")
	e.publish(sub, 1, 1)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusDead) == 1 }, "dead letter")
	require.Empty(t, target.requests(), "redirect followed")
	d := e.deliveries(sub)[0]
	require.Equal(t, 2, d.Attempts)
	require.Equal(t, http.StatusFound, d.Last.StatusCode)
	require.Contains(t, d.Last.Error, "redirect")
}

func TestDeliverer_Run_hugeResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 4096 { // 256 MiB, far more than is read
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)
	start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub(huge.URL, "k")
	e.publish(sub, 1, 3)
	testenv.WaitFor(t, 15*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 3 }, "delivered")
}

func TestDeliverer_Run_privateAddressRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.AllowPrivate = nil
	cfg.AllowHTTPHosts = []string{"127.0.0.1", "localhost"}
	d, _ := start(t, cfg)
	require.ErrorIs(t, d.CheckURL(rc.srv.URL), ErrRefused)
	// A host name resolving to loopback is refused at dial time.
	sub := e.createSub(strings.Replace(rc.srv.URL, "127.0.0.1", "localhost.", 1), "k")
	e.publish(sub, 1, 1)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusFailed) == 1 }, "refused")
	require.Empty(t, rc.requests())
	dl := e.deliveries(sub)[0]
	require.Contains(t, dl.Last.Error, "loopback")
}

func TestDeliverer_Retry_afterDeadLetter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	rc.setRespond(func(*http.Request, int) int { return http.StatusInternalServerError })
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.MaxAttempts = 3
	cfg.Schedule = []time.Duration{20 * time.Millisecond}
	d, _ := start(t, cfg)
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 2)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusDead) == 2 }, "dead letters")
	page, err := d.List(context.Background(), sub, ListQuery{Status: StatusDead, Limit: 1})
	require.NoError(t, err)
	list := page.Deliveries
	require.Len(t, list, 1)
	require.NotEmpty(t, page.Next)
	require.Equal(t, 3, list[0].Attempts)
	require.Len(t, list[0].AttemptsLog, 3)
	require.Nil(t, list[0].NextAttemptAt)

	rc.setRespond(func(*http.Request, int) int { return http.StatusNoContent })
	v, err := d.Retry(context.Background(), sub, list[0].ID)
	require.NoError(t, err)
	require.Equal(t, StatusPending, v.Status)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 1 }, "manual retry")
	_, err = d.Retry(context.Background(), sub, "dlv_nope")
	require.ErrorIs(t, err, ErrNotFound)

	// Replay resends everything after a cursor, dead or not.
	res, err := d.Replay(context.Background(), sub, "")
	require.NoError(t, err)
	require.Equal(t, ReplayResult{Replayed: 2}, res)
	testenv.WaitFor(t, 10*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 2 }, "replayed")
}

func TestDeliverer_Run_otherEdgeFinishesAfterCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	hung := rc.hangFirst() // the edge dies while waiting
	consumer := "c_" + randHex(4)
	// Edge A has its own MongoDB client, cut before it stops: it cannot
	// release its lane, as if it had died.
	clientA := connectMongo(t)
	cfgA := testConfig(e, consumer)
	cfgA.DB = clientA.Database(e.db.Name())
	cfgA.Timeout = 5 * time.Second
	cfgA.LeaseDuration = 12 * time.Second
	a, stopA := start(t, cfgA)
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 5)
	hung(t)
	require.NoError(t, clientA.Disconnect(context.Background()))
	stopA()

	cfgB := testConfig(e, consumer)
	cfgB.LeaseDuration = 2 * time.Second
	b, _ := start(t, cfgB)
	testenv.WaitFor(t, 30*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 5 }, "edge B finished")
	got := rc.accepted()
	require.Equal(t, eventIDs(1, 5), got)
	dl := e.deliveries(sub)[0]
	require.Equal(t, b.owner, dl.Last.Edge)
	require.NotEqual(t, a.owner, b.owner)
}

func TestDeliverer_Run_twoEdgesDeliverInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	consumer := "c_" + randHex(4)
	for range 2 {
		cfg := testConfig(e, consumer)
		cfg.FetchBatch = 16 // small pulls: both edges would take part of every block
		// The production lease: the test's 2 s can run out under -race
		// while a lane writes its outcomes, and a lane taken over sends
		// again what it had not recorded, which is not what this pins.
		cfg.LeaseDuration = 15 * time.Second
		start(t, cfg)
	}
	subs := make([]string, 4)
	for i := range subs {
		subs[i] = e.createSub(rc.srv.URL, "k")
	}
	const blocks, perBlock = 40, 5
	for b := range blocks {
		var reqs []pubReq
		for _, s := range subs {
			reqs = append(reqs, pubReq{subID: s, first: 1 + b*perBlock, n: perBlock})
		}
		e.publishBatch(reqs)
	}
	total := len(subs) * blocks * perBlock
	testenv.WaitFor(t, 60*time.Second, func() bool { return len(rc.accepted()) >= total }, "%d deliveries", total)
	got := map[string][]string{}
	for _, r := range rc.requests() {
		got[r.subID] = append(got[r.subID], r.eventID)
	}
	for _, s := range subs {
		var short []string
		for _, id := range got[s] {
			short = append(short, strings.TrimLeft(id[:64], "0"))
		}
		require.Equal(t, eventIDs(1, blocks*perBlock), got[s], "subscription %s: in cursor order, once each: %v", s, short)
	}
}

func TestDeliverer_Run_upgradesAConsumerWithoutPriorityGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	consumer := "c_" + randHex(4)
	// The consumer as earlier versions made it: every edge pulling.
	_, err := e.js.CreateOrUpdateConsumer(context.Background(), bus.EventsStream, jetstream.ConsumerConfig{
		Durable: consumer, FilterSubject: bus.EventsPrefix + ">", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: minAckWait, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1,
	})
	require.NoError(t, err)
	start(t, testConfig(e, consumer))
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 5)
	testenv.WaitFor(t, 20*time.Second, func() bool { return len(rc.accepted()) == 5 }, "5 deliveries")
	require.Equal(t, eventIDs(1, 5), rc.accepted())
}

func TestDeliverer_Run_successesGoStraightToTheRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	d, _ := start(t, testConfig(e, "c_"+randHex(4)))
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 20)
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 20 }, "recorded")
	require.Equal(t, eventIDs(1, 20), rc.accepted())
	// Attempted from memory: nothing was queued in MongoDB on the way.
	require.Zero(t, testutil.ToFloat64(d.m.spilled))
	n, err := e.db.Collection(QueueCollection).CountDocuments(context.Background(), bson.M{})
	require.NoError(t, err)
	require.Zero(t, n)
	for _, dl := range e.deliveries(sub) {
		require.Equal(t, 1, dl.Attempts)
		require.Equal(t, http.StatusOK, dl.Last.StatusCode)
		require.Contains(t, string(dl.Body), `"id":"`+dl.EventID+`"`)
	}
}

func TestDeliverer_Run_slowReceiverQueuesItsBacklogAndDelaysNoOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	slow, fast := newReceiver(t, "k"), newReceiver(t, "k")
	// The slow receiver's first answer waits until the other
	// subscription got all its events, and past spillAfter, so that the
	// events behind it wait too long in memory.
	var fastDoneFirst atomic.Bool
	slow.setRespond(func(r *http.Request, n int) int {
		if n == 1 {
			deadline := time.Now().Add(spillAfter + 500*time.Millisecond)
			for time.Now().Before(deadline) || len(fast.accepted()) < 10 {
				select {
				case <-r.Context().Done():
					return http.StatusServiceUnavailable
				case <-time.After(20 * time.Millisecond):
				}
			}
			fastDoneFirst.Store(true)
		}
		return http.StatusOK
	})
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.Timeout, cfg.LeaseDuration = 8*time.Second, 20*time.Second
	d, _ := start(t, cfg)
	a := e.createSub(slow.srv.URL, "k")
	b := e.createSub(fast.srv.URL, "k")
	e.publish(a, 1, 10)
	e.publish(b, 100, 10)
	testenv.WaitFor(t, 30*time.Second, func() bool { return e.countStatus(a, StatusSucceeded) == 10 }, "slow subscription delivered")
	require.True(t, fastDoneFirst.Load(), "the other subscription was delivered while the slow receiver held its first event")
	require.Equal(t, eventIDs(1, 10), slow.accepted(), "in order, once each")
	require.Equal(t, eventIDs(100, 10), fast.accepted())
	require.GreaterOrEqual(t, testutil.ToFloat64(d.m.spilled), 9.0, "the events behind the slow one were queued")
	testenv.WaitFor(t, 5*time.Second, func() bool {
		n, err := e.db.Collection(QueueCollection).CountDocuments(context.Background(), bson.M{})
		return err == nil && n == 0
	}, "queue empty")
}

func TestDeliverer_Run_redeliveredEventAlreadyRecordedIsNotSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	consumer := "c_" + randHex(4)
	sub := e.createSub(rc.srv.URL, "k")
	cursors := e.publish(sub, 1, 3)
	// An edge took the three events, recorded the second one's outcome,
	// and stopped before acknowledging any: JetStream hands them out again.
	ctx := context.Background()
	cons, err := e.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable: consumer, FilterSubject: bus.EventsPrefix + ">", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: minAckWait, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1,
	})
	require.NoError(t, err)
	// The stream is shared with the other tests: take messages until
	// this subscription's three were among them, then hand them all back
	// (not during a fetch, which would get them again at once).
	var taken []jetstream.Msg
	for ours := 0; ours < 3; {
		batch, err := cons.FetchNoWait(100)
		require.NoError(t, err)
		n := len(taken)
		for m := range batch.Messages() {
			if m.Subject() == bus.EventsSubject(sub) {
				ours++
			}
			taken = append(taken, m)
		}
		require.Greater(t, len(taken), n, "events of this test not handed out")
	}
	for _, m := range taken {
		require.NoError(t, m.Nak())
	}
	now := time.Now().UTC()
	_, err = e.db.Collection(DeliveriesCollection).InsertOne(ctx, &Delivery{
		ID: DeliveryID(sub, cursors[1]), SubscriptionID: sub, EventID: eventIDs(2, 1)[0], Cursor: cursors[1],
		Status: StatusSucceeded, Attempts: 1, RoundAttempts: 1, Log: []Attempt{{At: now, Attempt: 1, StatusCode: 200}},
		Last: &Attempt{At: now, Attempt: 1, StatusCode: 200}, CreatedAt: now, UpdatedAt: now,
	})
	require.NoError(t, err)

	start(t, testConfig(e, consumer))
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 3 }, "recorded")
	require.Equal(t, []string{eventIDs(1, 1)[0], eventIDs(3, 1)[0]}, rc.accepted(), "the recorded one is not sent again")
	testenv.WaitFor(t, 10*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, "every message acknowledged")
}

func TestDeliverer_Run_laneHeldElsewhereGetsItsEventsQueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	sub := e.createSub(rc.srv.URL, "k")
	// Another edge holds the lane until the test ends its lease. Its
	// lease is within this edge's lease length, so this edge takes it
	// for an edge at work and looks again at every poll, rather than
	// for a lane parked until a retry.
	cfg := testConfig(e, "c_"+randHex(4))
	cfg.LeaseDuration = time.Minute
	insertLane(t, e.db, sub, 1, "elsewhere", time.Now().Add(cfg.LeaseDuration))
	d, _ := start(t, cfg)
	e.publish(sub, 1, 5)
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusPending) == 5 }, "queued for the lane's holder")
	require.Empty(t, rc.requests(), "not sent while another edge holds the lane")
	// The other edge releases the lane.
	_, err := e.db.Collection(LanesCollection).UpdateOne(context.Background(), bson.M{"_id": lease.TenureID(sub, 1)},
		bson.M{"$set": bson.M{"owner": "", "lease_until": time.Now().UTC()}})
	require.NoError(t, err)
	testenv.WaitFor(t, 20*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 5 }, "delivered once the lease ended")
	require.Equal(t, eventIDs(1, 5), rc.accepted())
	require.InDelta(t, 5.0, testutil.ToFloat64(d.m.spilled), 0)
}

func TestDeliverer_Run_stoppedEdgeHandsOverInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, "k")
	hung := rc.hangFirst() // edge A stops during the attempt
	consumer := "c_" + randHex(4)
	cfgA := testConfig(e, consumer)
	cfgA.FetchBatch = 4 // events held in every place: attempted, in memory, just taken
	cfgA.Timeout, cfgA.LeaseDuration = 5*time.Second, 15*time.Second
	_, stopA := start(t, cfgA)
	sub := e.createSub(rc.srv.URL, "k")
	e.publish(sub, 1, 30)
	hung(t)
	stopA()

	start(t, testConfig(e, consumer))
	testenv.WaitFor(t, 30*time.Second, func() bool { return e.countStatus(sub, StatusSucceeded) == 30 }, "edge B finished")
	require.Equal(t, eventIDs(1, 30), rc.accepted(), "in order, once each")
}
