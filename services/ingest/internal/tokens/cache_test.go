package tokens_test

import (
	"context"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/ingest/internal/tokens"
)

var _ tron.TokenLookup = (*tokens.Cache)(nil)

func TestCache_MissAnswersUnknownAtOnceAndResolvesInBackground(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answers  map[string][]byte
		skipName bool
		want     tron.TokenInfo
		wantOK   bool
		wantDoc  bson.M // fields of the stored document
	}{
		{"token", token(6, "ABC", "Alpha Beta"), false, tron.TokenInfo{Symbol: "ABC", Name: "Alpha Beta", Decimals: 6}, true,
			bson.M{"symbol": "ABC", "name": "Alpha Beta", "decimals": int32(6), "failures": int32(0)}},
		{"zero decimals are not unknown", token(0, "PTS", ""), false, tron.TokenInfo{Symbol: "PTS", Decimals: 0}, true,
			bson.M{"symbol": "PTS", "decimals": int32(0)}},
		{"name not asked", token(18, "WBTT", "Wrapped BTT"), true, tron.TokenInfo{Symbol: "WBTT", Decimals: 18}, true,
			bson.M{"symbol": "WBTT", "name": "", "decimals": int32(18)}},
		{"symbol without decimals is never a guess", token(-1, "NFT", ""), false, tron.TokenInfo{Symbol: "NFT", Decimals: -1}, true,
			bson.M{"symbol": "NFT", "decimals": nil, "failures": int32(1), "last_error": "no decimals()"}},
		{"not a token", nil, false, tron.TokenInfo{Decimals: -1}, false,
			bson.M{"symbol": "", "decimals": nil, "last_error": "no decimals()"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testAddr(1)
			node := newFakeNode()
			node.set(a, tt.answers)
			db := newDB(t)
			c, reg := newCache(t, tokens.Config{DB: db, Node: node, SkipName: tt.skipName})
			start(t, c)

			info, ok := c.Token(a)
			require.False(t, ok, "a miss answers unknown")
			require.Equal(t, -1, info.Decimals)

			testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == 1 }, "the resolution")
			info, ok = c.Token(a)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, info)
			require.Equal(t, 1, node.count(a, selDecimals))
			require.InDelta(t, 1.0, metric(t, reg, "mongotron_ingest_token_lookups_total", "result", "miss")-boolFloat(!tt.wantOK), 0)
			require.InDelta(t, boolFloat(tt.wantOK), metric(t, reg, "mongotron_ingest_token_lookups_total", "result", "hit"), 0)
			require.InDelta(t, 1.0, metric(t, reg, "mongotron_ingest_token_cache_entries"), 0)

			var doc bson.M
			testenv.WaitFor(t, 10*time.Second, func() bool {
				return db.Collection(tokens.Collection).FindOne(t.Context(), bson.M{"_id": a.String()}).Decode(&doc) == nil
			}, "the document")
			for k, v := range tt.wantDoc {
				require.Contains(t, doc, k)
				require.Equal(t, v, doc[k], k)
			}
			require.Contains(t, doc, "resolved_at")
			require.Contains(t, doc, "next_refresh")
		})
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestCache_OneNodeCallPerTokenUnderLoad(t *testing.T) {
	t.Parallel()
	node := newFakeNode()
	const contracts = 5
	for i := range contracts {
		node.set(testAddr(i), token(i, "T"+string(rune('A'+i)), ""))
	}
	// The node holds every call until the flood is over.
	node.gate = make(chan struct{})
	c, reg := newCache(t, tokens.Config{DB: newDB(t), Node: node, Concurrency: 2})
	start(t, c)

	flood := func() (hits int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := range 1000 {
			wg.Go(func() {
				_, ok := c.Token(testAddr(g % contracts))
				if ok {
					mu.Lock()
					hits++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return hits
	}
	require.Zero(t, flood(), "nothing is known before the node answers")
	testenv.WaitFor(t, 10*time.Second, func() bool { return node.inFlight() == 2 }, "calls in flight")
	close(node.gate)
	testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == contracts }, "every resolution")
	require.Equal(t, 1000, flood())
	for i := range contracts {
		require.Equal(t, 1, node.count(testAddr(i), selDecimals), "decimals() of token %d", i)
		require.Equal(t, 1, node.count(testAddr(i), selSymbol), "symbol() of token %d", i)
		info, ok := c.Token(testAddr(i))
		require.True(t, ok)
		require.Equal(t, i, info.Decimals)
	}
	require.InDelta(t, float64(contracts), metric(t, reg, "mongotron_ingest_token_node_calls_total", "selector", selDecimals, "result", "ok"), 0)
	require.InDelta(t, float64(contracts), metric(t, reg, "mongotron_ingest_token_node_calls_total", "selector", selName, "result", "reverted"), 0)
	require.InDelta(t, float64(contracts), metric(t, reg, "mongotron_ingest_token_resolutions_total", "result", "ok"), 0)
}

func TestCache_FailingNodeDelaysNoLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode nodeMode
	}{
		{"node hangs", modeHang},
		{"node fails", modeDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newFakeNode()
			node.setMode(tt.mode)
			const queue = 8
			c, reg := newCache(t, tokens.Config{DB: newDB(t), Node: node, Concurrency: 2, QueueSize: queue, CallTimeout: time.Hour})
			start(t, c)

			// 20,000 lookups of 2,000 contracts from 8 goroutines.
			began := time.Now()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 2500 {
						info, ok := c.Token(testAddr((g*2500 + i) % 2000))
						if ok || info.Decimals != -1 {
							t.Errorf("got %+v, %v", info, ok)
							return
						}
					}
				})
			}
			wg.Wait()
			took := time.Since(began)
			require.Less(t, took, 2*time.Second, "lookups waited for the node")
			require.LessOrEqual(t, metric(t, reg, "mongotron_ingest_token_queue_depth"), float64(queue))
			require.Positive(t, metric(t, reg, "mongotron_ingest_token_queue_full_total"))
			if tt.mode == modeHang {
				testenv.WaitFor(t, 10*time.Second, func() bool { return node.inFlight() == 2 }, "both workers stuck")
				require.Equal(t, 2, node.total(), "one call per worker, each waiting")
			}
		})
	}
}

func TestCache_FailedResolutionIsRetriedAfterRetryInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		mode        nodeMode
		callTimeout time.Duration
		wantErr     string
	}{
		{"node down", modeDown, 0, errNodeDown.Error()},
		{"node slower than the call timeout", modeHang, 50 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const retry = 10 * time.Minute
			a := testAddr(3)
			node := newFakeNode()
			node.set(a, token(6, "RTR", ""))
			node.setMode(tt.mode)
			clock := testenv.NewClock()
			db := newDB(t)
			c, reg := newCache(t, tokens.Config{DB: db, Node: node, RetryInterval: retry, CallTimeout: tt.callTimeout, Now: clock.Now})
			start(t, c)
			calls := func() int { return node.count(a, selDecimals) }
			lookup := func() {
				t.Helper()
				info, ok := c.Token(a)
				require.False(t, ok)
				require.Equal(t, -1, info.Decimals)
			}

			lookup()
			testenv.WaitFor(t, 10*time.Second, func() bool { return metric(t, reg, "mongotron_ingest_token_resolutions_total", "result", "error") == 1 }, "the first failure")
			var doc tokens.Doc
			testenv.WaitFor(t, 10*time.Second, func() bool {
				return db.Collection(tokens.Collection).FindOne(t.Context(), bson.M{"_id": a.String()}).Decode(&doc) == nil
			}, "the document")
			require.Nil(t, doc.Decimals)
			require.Nil(t, doc.ResolvedAt)
			require.Contains(t, doc.LastError, tt.wantErr)
			require.Equal(t, clock.Now().Add(retry), doc.NextRefresh)

			clock.Advance(retry - time.Second)
			lookup()
			never(t, 100*time.Millisecond, "asked again before the retry interval", func() bool { return calls() > 1 })
			clock.Advance(time.Second)
			lookup()
			testenv.WaitFor(t, 10*time.Second, func() bool { return metric(t, reg, "mongotron_ingest_token_resolutions_total", "result", "error") == 2 }, "the retry")
			require.Equal(t, 2, calls())

			// The second failure doubles the wait.
			clock.Advance(retry)
			lookup()
			never(t, 100*time.Millisecond, "asked again before twice the retry interval", func() bool { return calls() > 2 })
			node.setMode(modeAnswer)
			clock.Advance(retry)
			lookup()
			testenv.WaitFor(t, 10*time.Second, func() bool { _, ok := c.Token(a); return ok }, "the token")
			info, _ := c.Token(a)
			require.Equal(t, tron.TokenInfo{Symbol: "RTR", Decimals: 6}, info)
			require.Equal(t, 3, calls())
		})
	}
}

func TestCache_NoDecimalsStaysUnknownAndIsRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answers map[string][]byte
		wantOK  bool
	}{
		{"symbol only", token(-1, "NFT", ""), true},
		{"no answer at all", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const unknownRetry = 2 * time.Hour
			a := testAddr(4)
			node := newFakeNode()
			node.set(a, tt.answers)
			clock := testenv.NewClock()
			c, reg := newCache(t, tokens.Config{Node: node, UnknownRetryInterval: unknownRetry, Now: clock.Now})
			start(t, c)

			c.Token(a)
			testenv.WaitFor(t, 10*time.Second, func() bool {
				return metric(t, reg, "mongotron_ingest_token_resolutions_total", "result", "unknown") == 1
			}, "the answer")
			for range 3 {
				info, ok := c.Token(a)
				require.Equal(t, tt.wantOK, ok)
				require.Equal(t, -1, info.Decimals, "decimals are unknown, not guessed")
			}
			clock.Advance(unknownRetry - time.Second)
			c.Token(a)
			never(t, 100*time.Millisecond, "asked again too early", func() bool { return node.count(a, selDecimals) > 1 })

			// The contract is upgraded meanwhile (a proxy).
			node.set(a, token(8, "NFT", ""))
			clock.Advance(time.Second)
			info, _ := c.Token(a)
			require.Equal(t, -1, info.Decimals)
			testenv.WaitFor(t, 10*time.Second, func() bool { info, _ := c.Token(a); return info.Decimals == 8 }, "the retry")
			require.Equal(t, 2, node.count(a, selDecimals))
		})
	}
}

func TestCache_RestartAnswersFromMongoDBWithoutTheNode(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	node := newFakeNode()
	node.set(testAddr(0), token(6, "AAA", "Token A"))
	node.set(testAddr(1), token(-1, "BBB", ""))
	node.set(testAddr(2), nil)
	first, reg := newCache(t, tokens.Config{DB: db, Node: node})
	stop := start(t, first)
	for i := range 3 {
		first.Token(testAddr(i))
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == 3 }, "the resolutions")
	stop()
	n, err := db.Collection(tokens.Collection).CountDocuments(t.Context(), bson.M{})
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	again := newFakeNode()
	second, reg2 := newCache(t, tokens.Config{DB: db, Node: again})
	require.NoError(t, second.Load(t.Context()))
	require.Equal(t, 3, second.Len())
	tests := []struct {
		addr   tron.Address
		want   tron.TokenInfo
		wantOK bool
	}{
		{testAddr(0), tron.TokenInfo{Symbol: "AAA", Name: "Token A", Decimals: 6}, true},
		{testAddr(1), tron.TokenInfo{Symbol: "BBB", Decimals: -1}, true},
		{testAddr(2), tron.TokenInfo{Decimals: -1}, false},
	}
	for _, tt := range tests {
		info, ok := second.Token(tt.addr)
		require.Equal(t, tt.wantOK, ok, tt.addr.String())
		require.Equal(t, tt.want, info, tt.addr.String())
	}
	start(t, second)
	for _, tt := range tests {
		second.Token(tt.addr)
	}
	never(t, 200*time.Millisecond, "the node was asked after a restart", func() bool { return again.total() > 0 })
	require.Zero(t, resolutions(t, reg2))
}

func TestCache_EvictedTokenIsReadBackFromMongoDB(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	node := newFakeNode()
	for i := range 5 {
		node.set(testAddr(i), token(i, "E", ""))
	}
	first, reg := newCache(t, tokens.Config{DB: db, Node: node})
	stop := start(t, first)
	for i := range 5 {
		first.Token(testAddr(i))
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == 5 }, "the resolutions")
	stop()

	again := newFakeNode()
	second, _ := newCache(t, tokens.Config{DB: db, Node: again, MaxEntries: 2})
	start(t, second)
	testenv.WaitFor(t, 10*time.Second, func() bool { return second.Len() == 2 }, "the load")
	for i := range 5 {
		testenv.WaitFor(t, 10*time.Second, func() bool { info, ok := second.Token(testAddr(i)); return ok && info.Decimals == i }, "the token back from MongoDB")
		require.LessOrEqual(t, second.Len(), 2)
	}
	require.Zero(t, again.total(), "the node was asked for a token MongoDB has")
}

func TestCache_BuiltinTableWins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network string
		addr    string
	}{
		{tron.NetworkMainnet, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		{tron.NetworkNile, "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"},
		{"", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			t.Parallel()
			usdt, err := tron.ParseBase58(tt.addr)
			require.NoError(t, err)
			network := tt.network
			if network == "" {
				network = tron.NetworkMainnet
			}
			builtin, ok := tron.WellKnownTokens(network)[usdt]
			require.True(t, ok)
			fake := testAddr(6)
			node := newFakeNode()
			// What the contracts say of themselves.
			node.set(usdt, token(18, "FAKE", "Not Tether"))
			node.set(fake, token(18, "USDT", "Tether USD"))
			db := newDB(t)
			// A document for the table's address, from an older version
			// or written by hand, is ignored too.
			_, err = db.Collection(tokens.Collection).InsertOne(t.Context(), bson.M{"_id": usdt.String(), "symbol": "FAKE", "decimals": 18})
			require.NoError(t, err)
			c, _ := newCache(t, tokens.Config{DB: db, Node: node, Network: tt.network})
			require.NoError(t, c.Load(t.Context()))
			require.Zero(t, c.Len())
			start(t, c)

			got, ok := c.Token(usdt)
			require.True(t, ok)
			require.Equal(t, builtin, got, "the table answers at once, whole")
			testenv.WaitFor(t, 10*time.Second, func() bool { _, ok := c.Token(fake); return ok }, "the fake token")
			info, _ := c.Token(fake)
			require.Equal(t, tron.TokenInfo{Symbol: "USDT", Name: "Tether USD", Decimals: 18}, info)
			require.NotEqual(t, builtin, info)
			never(t, 100*time.Millisecond, "the node was asked about a built-in token", func() bool { return node.count(usdt, selDecimals) > 0 })
			got, _ = c.Token(usdt)
			require.Equal(t, builtin, got)
			require.Equal(t, builtin, tron.WellKnownTokens(network)[usdt], "the table is unchanged")
		})
	}
}

func TestCache_RefreshAfterRefreshInterval(t *testing.T) {
	t.Parallel()
	const refresh = 72 * time.Hour
	tests := []struct {
		name     string
		wait     time.Duration
		wantCall bool
	}{
		{"within the interval", refresh - time.Second, false},
		{"at the interval", refresh, true},
		{"long after", 10 * refresh, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testAddr(5)
			node := newFakeNode()
			node.set(a, token(6, "OLD", ""))
			clock := testenv.NewClock()
			db := newDB(t)
			c, reg := newCache(t, tokens.Config{DB: db, Node: node, RefreshInterval: refresh, Now: clock.Now})
			start(t, c)
			c.Token(a)
			testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == 1 }, "the resolution")

			node.set(a, token(8, "NEW", ""))
			clock.Advance(tt.wait)
			info, ok := c.Token(a)
			require.True(t, ok)
			require.Equal(t, tron.TokenInfo{Symbol: "OLD", Decimals: 6}, info, "the last answer is served until the new one")
			if !tt.wantCall {
				never(t, 100*time.Millisecond, "refreshed too early", func() bool { return node.count(a, selDecimals) > 1 })
				return
			}
			testenv.WaitFor(t, 10*time.Second, func() bool { info, _ := c.Token(a); return info.Symbol == "NEW" }, "the refresh")
			require.Equal(t, tron.TokenInfo{Symbol: "NEW", Decimals: 8}, must(c.Token(a)))
			require.Equal(t, 2, node.count(a, selDecimals))
			var doc tokens.Doc
			testenv.WaitFor(t, 10*time.Second, func() bool {
				return db.Collection(tokens.Collection).FindOne(t.Context(), bson.M{"_id": a.String()}).Decode(&doc) == nil && doc.Symbol == "NEW"
			}, "the refreshed document")
			require.Equal(t, clock.Now().Add(refresh), doc.NextRefresh)
		})
	}
}

func must(info tron.TokenInfo, _ bool) tron.TokenInfo { return info }

func TestCache_WritesAndLoadSurviveMongoDBOutage(t *testing.T) {
	t.Parallel()
	m := testenv.RunRestartableMongo(t)
	mc, err := mongo.Connect(options.Client().ApplyURI(m.URI()).SetServerSelectionTimeout(500 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	db := mc.Database("tokens")
	node := newFakeNode()
	node.set(testAddr(0), token(6, "OUT", ""))
	node.set(testAddr(1), token(2, "TWO", ""))

	// Down at start: lookups answer, the load is retried.
	require.NoError(t, m.Stop())
	c, reg := newCache(t, tokens.Config{DB: db, Node: node})
	tokens.SetWriteRetry(c, 50*time.Millisecond)
	start(t, c)
	began := time.Now()
	_, ok := c.Token(testAddr(0))
	require.False(t, ok)
	require.Less(t, time.Since(began), time.Second)
	testenv.WaitFor(t, 10*time.Second, func() bool { return metric(t, reg, "mongotron_ingest_token_store_errors_total", "op", "load") > 0 }, "a failed load")
	require.NoError(t, m.Start())
	testenv.WaitFor(t, 10*time.Second, func() bool { _, ok := c.Token(testAddr(0)); return ok }, "the token")

	// Down while writing: the answer is served, and written once back.
	require.NoError(t, m.Stop())
	c.Token(testAddr(1))
	testenv.WaitFor(t, 10*time.Second, func() bool { _, ok := c.Token(testAddr(1)); return ok }, "the token")
	testenv.WaitFor(t, 10*time.Second, func() bool { return metric(t, reg, "mongotron_ingest_token_store_errors_total", "op", "write") > 0 }, "a failed write")
	require.NoError(t, m.Start())
	testenv.WaitFor(t, 10*time.Second, func() bool {
		n, err := db.Collection(tokens.Collection).CountDocuments(t.Context(), bson.M{})
		return err == nil && n == 2
	}, "both documents")
	require.Equal(t, 1, node.count(testAddr(1), selDecimals))
}

func TestCache_RunStopsWithItsContextAndRunsOnce(t *testing.T) {
	t.Parallel()
	node := newFakeNode()
	node.setMode(modeHang)
	c, _ := newCache(t, tokens.Config{DB: newDB(t), Node: node, CallTimeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Token(testAddr(0))
	testenv.WaitFor(t, 10*time.Second, func() bool { return node.inFlight() == 1 }, "a call in flight")
	require.ErrorContains(t, c.Run(t.Context()), "tokens: Run is already running")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	_, ok := c.Token(testAddr(0))
	require.False(t, ok, "a stop says nothing of the token")
}

func TestCache_NoNodeKnowsTheTableOnly(t *testing.T) {
	t.Parallel()
	c, reg := newCache(t, tokens.Config{})
	start(t, c)
	usdt, err := tron.ParseBase58("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	_, ok := c.Token(usdt)
	require.True(t, ok)
	c.Token(testAddr(0))
	testenv.WaitFor(t, 10*time.Second, func() bool { return resolutions(t, reg) == 1 }, "the resolution")
	info, ok := c.Token(testAddr(0))
	require.False(t, ok)
	require.Equal(t, -1, info.Decimals)
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     tokens.Config
		wantErr string
	}{
		{"zero", tokens.Config{}, ""},
		{"set", tokens.Config{RefreshInterval: time.Hour, Concurrency: 1, QueueSize: 1, MaxEntries: 1}, ""},
		{"negative refresh", tokens.Config{RefreshInterval: -1}, "tokens.refresh-interval"},
		{"negative timeout", tokens.Config{CallTimeout: -time.Second}, "tokens.call-timeout"},
		{"negative queue", tokens.Config{QueueSize: -1}, "tokens.queue-size"},
		{"two at once", tokens.Config{Concurrency: -1, MaxEntries: -1}, "tokens.concurrency -1 is negative; config: tokens.max-entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "config: "), err.Error())
		})
	}
}

func TestConfig_RegisterFlags(t *testing.T) {
	t.Parallel()
	var cfg tokens.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.Equal(t, tokens.DefaultRefreshInterval, cfg.RefreshInterval)
	require.NoError(t, fs.Parse([]string{"-tokens.refresh-interval=24h", "-tokens.queue-size=5", "-tokens.skip-name"}))
	require.Equal(t, 24*time.Hour, cfg.RefreshInterval)
	require.Equal(t, 5, cfg.QueueSize)
	require.True(t, cfg.SkipName)
	require.NoError(t, cfg.Validate())
}

// BenchmarkCache_Token measures the decoder's lookups of known tokens,
// from every core at once.
func BenchmarkCache_Token(b *testing.B) {
	node := newFakeNode()
	const contracts = 64
	for i := range contracts {
		node.set(testAddr(i), token(6, "B", ""))
	}
	c, reg := newCache(b, tokens.Config{Node: node})
	start(b, c)
	for i := range contracts {
		c.Token(testAddr(i))
	}
	testenv.WaitFor(b, 10*time.Second, func() bool { return resolutions(b, reg) == contracts }, "the resolutions")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Token(testAddr(i % contracts)); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}
