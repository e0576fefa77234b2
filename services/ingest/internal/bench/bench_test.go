package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
	"github.com/mongotron/mongotron/services/ingest/internal/match"
	"github.com/mongotron/mongotron/services/ingest/internal/tokens"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

// Scale of the subscription set.
const (
	numSubs      = 10_000
	addrsPerSub  = 100 // 1,000,000 watched addresses in all
	watchedShare = 50  // every watchedShare-th party seen on the chain is watched
)

// indexMatcher serves a match.Index as the follower's matcher, as
// subs.Manager does, without loading 1,000,000 addresses through MongoDB.
type indexMatcher struct{ ix *match.Index }

func (m indexMatcher) Match(e *event.Event, fn func(follow.Match)) {
	m.ix.Match(e, func(x match.Match) { fn(follow.Match(x)) })
}

func (indexMatcher) Generation() uint64 { return 1 }

// buildIndex returns numSubs subscriptions of addrsPerSub addresses each:
// one in watchedShare of the parties of the sim's blocks first..last, the
// rest random addresses that never occur. Confirmation levels are spread
// over 0, 1 and 19. It also returns the share of events that match.
func buildIndex(b *testing.B, s *sim.Sim, first, last int64) (*match.Index, float64) {
	b.Helper()
	dec := decode.NewDecoder(decode.DecoderConfig{})
	seen := map[tron.Address]bool{}
	var watched []tron.Address
	var evs []event.Event
	for n := first; n <= last; n++ {
		blk, infos, err := s.Block(n)
		require.NoError(b, err)
		e, err := dec.DecodeBlock(&blk, infos)
		require.NoError(b, err)
		evs = append(evs, e...)
		for _, ev := range e {
			for _, p := range ev.Parties() {
				if !seen[p] {
					seen[p] = true
					if len(seen)%watchedShare == 0 {
						watched = append(watched, p)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all := make([]tron.Address, 0, numSubs*addrsPerSub)
	all = append(all, watched...)
	for len(all) < cap(all) {
		var a tron.Address
		a[0] = tron.AddressPrefix
		for i := 1; i < len(a); i++ {
			a[i] = byte(rng.Uint32())
		}
		all = append(all, a)
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	ix := match.New()
	levels := []int{0, 1, 19}
	for i := range numSubs {
		sub := &subscription.Subscription{
			ID: fmt.Sprintf("sub_%05d", i), Direction: subscription.DirectionAny, Confirmations: levels[i%len(levels)],
			Status: subscription.StatusActive, Version: 1,
		}
		require.NoError(b, ix.Upsert(sub, all[i*addrsPerSub:(i+1)*addrsPerSub]))
	}
	matched := 0
	for i := range evs {
		hit := false
		ix.Match(&evs[i], func(match.Match) { hit = true })
		if hit {
			matched++
		}
	}
	return ix, float64(matched) / float64(max(len(evs), 1))
}

type world struct {
	db  *mongo.Database
	nc  *nats.Conn
	pub *follow.NATSPublisher
}

func newWorld(b *testing.B, dbName string) *world {
	b.Helper()
	m := testenv.RunMongo(b)
	n := testenv.RunNATS(b)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database(dbName)
	_, err = store.EnsureIndexes(b.Context(), db, 0)
	require.NoError(b, err)
	require.NoError(b, follow.EnsureIndexes(b.Context(), db))
	nc, err := nats.Connect(n.URL())
	require.NoError(b, err)
	b.Cleanup(nc.Close)
	pub, err := follow.NewNATSPublisher(nc)
	require.NoError(b, err)
	require.NoError(b, follow.EnsureStream(b.Context(), pub.JetStream(), 0, 1))
	return &world{db: db, nc: nc, pub: pub}
}

func newClient(b *testing.B, url string) *tron.Client {
	b.Helper()
	c, err := tron.NewClient(tron.ClientConfig{BaseURL: url, Timeout: 30 * time.Second})
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkFollower_catchUp measures catching up on synthetic 300-tx
// blocks with 10,000 subscriptions watching 1,000,000 addresses, through
// embedded FerretDB and NATS. Target: at least 200 blocks/s.
func BenchmarkFollower_catchUp(b *testing.B) {
	const blocks = 200
	s, url := simtest.Start(b, sim.Config{Seed: 3, Instant: true, InitialBlocks: blocks + 2, TxsPerBlock: 300, CacheBlocks: blocks + 8})
	first := s.First()
	head, _ := s.Head()
	ix, share := buildIndex(b, s, first, head)
	client := newClient(b, url)
	// Warm the simulator's rendering so that the node is not what is
	// measured.
	_, err := client.BlocksByRange(b.Context(), first, head+1)
	require.NoError(b, err)
	for n := first; n <= head; n++ {
		_, err := client.TxInfosByBlockNum(b.Context(), n)
		require.NoError(b, err)
	}
	toks := warmTokens(b, s, client, first, head)
	var total time.Duration
	var committed, deliveries float64
	for i := range b.N {
		b.StopTimer()
		w := newWorld(b, fmt.Sprintf("catchup%d", i))
		m := follow.NewMetrics(nil)
		f, err := follow.New(follow.Config{
			Node: client, DB: w.db, Publisher: w.pub, Matcher: indexMatcher{ix},
			Decoder: decode.NewDecoder(decode.DecoderConfig{Tokens: toks}), StartBlock: first + 1, Metrics: m,
			PollInterval: 10 * time.Millisecond,
		})
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		wg.Go(func() { _ = f.Run(ctx) })
		for f.Committed() < head {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		wg.Wait()
		total += elapsed
		committed += float64(head - first)
		deliveries += testutil.ToFloat64(m.Stored)
	}
	b.ReportMetric(committed/total.Seconds(), "blocks/s")
	b.ReportMetric(deliveries/committed, "deliveries/block")
	b.ReportMetric(share*100, "%events-matched")
}

// warmTokens returns a token cache that has resolved, through the node's
// constant calls, every TRC20 contract of blocks from..to (as a running
// ingest's would have), so the benchmark decodes with token metadata.
func warmTokens(b *testing.B, s *sim.Sim, client *tron.Client, from, to int64) *tokens.Cache {
	b.Helper()
	c := tokens.New(tokens.Config{Node: client})
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	dec := decode.NewDecoder(decode.DecoderConfig{})
	contracts := map[tron.Address]bool{}
	for n := from; n <= to; n++ {
		blk, infos, err := s.Block(n)
		require.NoError(b, err)
		evs, err := dec.DecodeBlock(&blk, infos)
		require.NoError(b, err)
		for _, e := range evs {
			if e.Kind == event.KindTRC20Transfer {
				contracts[e.Contract] = true
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for a := range contracts {
		for {
			if _, ok := c.Token(a); ok || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return c
}

// BenchmarkFollower_headLatency measures, with the follower at the head
// polling every 100 ms, the time from a block being mined at the node to
// the first event of that block arriving at a NATS subscriber. Target:
// p99 at most the poll interval + 50 ms.
func BenchmarkFollower_headLatency(b *testing.B) {
	const (
		poll   = 100 * time.Millisecond
		blocks = 60
	)
	s, url := simtest.Start(b, sim.Config{Seed: 4, Instant: true, InitialBlocks: 20, TxsPerBlock: 300, CacheBlocks: 512})
	first := s.First()
	head, _ := s.Head()
	ix, _ := buildIndex(b, s, first, head)
	// One subscription that every block matches, at the head.
	require.NoError(b, ix.Upsert(&subscription.Subscription{
		ID: "sub_trx", Kinds: []string{string(event.KindTRXTransfer)}, Direction: subscription.DirectionAny, Status: subscription.StatusActive, Version: 1,
	}, nil))
	client := newClient(b, url)
	var lat []time.Duration
	for i := range b.N {
		b.StopTimer()
		w := newWorld(b, fmt.Sprintf("latency%d", i))
		var mu sync.Mutex
		minedAt := map[int64]time.Time{}
		got := map[int64]time.Duration{}
		sub, err := w.nc.Subscribe(bus.EventsPrefix+">", func(msg *nats.Msg) {
			at := time.Now()
			var ev struct {
				Block struct {
					Number int64 `json:"number"`
				} `json:"block"`
			}
			if json.Unmarshal(msg.Data, &ev) != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if t0, ok := minedAt[ev.Block.Number]; ok {
				if _, done := got[ev.Block.Number]; !done {
					got[ev.Block.Number] = at.Sub(t0)
				}
			}
		})
		require.NoError(b, err)
		f, err := follow.New(follow.Config{
			Node: client, DB: w.db, Publisher: w.pub, Matcher: indexMatcher{ix},
			Decoder: decode.NewDecoder(decode.DecoderConfig{}), PollInterval: poll,
		})
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		wg.Go(func() { _ = f.Run(ctx) })
		h, _ := s.Head()
		for f.Committed() < h {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		for range blocks {
			// Mine at a random phase of the poll, as a real chain does.
			time.Sleep(poll + time.Duration(rand.Int64N(int64(poll))))
			n := s.Mine(1)
			mu.Lock()
			minedAt[n] = time.Now()
			mu.Unlock()
		}
		h, _ = s.Head()
		for f.Committed() < h {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		b.StopTimer()
		cancel()
		wg.Wait()
		_ = sub.Unsubscribe()
		mu.Lock()
		for _, d := range got {
			lat = append(lat, d)
		}
		mu.Unlock()
	}
	require.NotEmpty(b, lat)
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(poll.Milliseconds()), "poll-ms")
}
