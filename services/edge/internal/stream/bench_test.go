package stream

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/store"
)

// envInt reads a benchmark size from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func raiseNoFile(tb testing.TB) {
	tb.Helper()
	var l syscall.Rlimit
	require.NoError(tb, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l))
	// Clients and server share the process: two descriptors per stream.
	// Raising the hard limit needs privileges; fall back to the soft one.
	want := syscall.Rlimit{Cur: 1 << 20, Max: max(l.Max, 1<<20)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
		l.Cur = l.Max
		require.NoError(tb, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l))
	}
}

// loadDialer spreads client sockets over 127.0.0.2–127.0.0.51 so tens of
// thousands of streams do not exhaust one source address's ports.
func loadDialer(i int) *websocket.Dialer {
	return &websocket.Dialer{
		ReadBufferSize:   512,
		WriteBufferSize:  256,
		HandshakeTimeout: 30 * time.Second,
		NetDialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%50))},
		}).DialContext,
	}
}

func (s *server) dialLoad(tb testing.TB, i int, sub, after string) *websocket.Conn {
	tb.Helper()
	q := url.Values{"sub": {sub}, "key": {"k"}, "after": {after}}
	var ws *websocket.Conn
	var err error
	for range 5 { // a burst of dials may overflow the accept backlog
		w, hr, e := loadDialer(i).Dial(s.url+"/?"+q.Encode(), nil)
		if hr != nil {
			_ = hr.Body.Close()
		}
		ws, err = w, e
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(tb, err)
	return ws
}

var tsKey = []byte(`"ts":`)

// publishTime returns the ts field of a test event (unix ns).
func publishTime(msg []byte) int64 {
	i := bytes.Index(msg, tsKey)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(tsKey):]
	j := bytes.IndexAny(rest, ",}")
	n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n
}

// BenchmarkHub_Fanout: MONGOTRON_BENCH_STREAMS streams (default 10,000)
// over MONGOTRON_BENCH_SUBS subscriptions (default 100), with a publisher
// paced so about MONGOTRON_BENCH_RATE messages/s (default 50,000) reach the
// clients. Reports delivered msgs/s and publish→client latency.
func BenchmarkHub_Fanout(b *testing.B) {
	raiseNoFile(b)
	streams := envInt("MONGOTRON_BENCH_STREAMS", 10000)
	subs := min(envInt("MONGOTRON_BENCH_SUBS", 100), streams)
	rate := envInt("MONGOTRON_BENCH_RATE", 50000)
	e := newEnv(b)
	s := startHub(b, e, Config{})
	subIDs := make([]string, subs)
	for i := range subIDs {
		subIDs[i] = randomID("sub_")
	}
	var delivered atomic.Int64
	lat := make([][]int64, streams)
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, streams)
	for i := range streams {
		ws := s.dialLoad(b, i, subIDs[i%subs], "")
		conns[i] = ws
		_, _, err := ws.ReadMessage() // hello
		require.NoError(b, err)
		wg.Go(func() {
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if ts := publishTime(msg); ts > 0 {
					lat[i] = append(lat[i], time.Now().UnixNano()-ts)
					delivered.Add(1)
				}
			}
		})
	}
	perSub := streams / subs
	pubRate := max(1, rate/perSub) // events/s published, over all subs
	b.ResetTimer()
	start := time.Now()
	events := b.N * subs // each iteration publishes one event per subscription
	// Publish perTick events every interval (1 ms, or longer for low rates).
	interval, perTick := time.Millisecond, pubRate/1000
	if perTick == 0 {
		interval, perTick = time.Second/time.Duration(pubRate), 1
	}
	next := time.Now()
	prev := make([]string, subs) // each subscription's last cursor: its link
	for n := 0; n < events; {
		for k := 0; k < perTick && n < events; k++ {
			sub := subIDs[n%subs]
			c := testCursor(uint64(n+1), 0)
			msg := testEvent(sub, c, n, time.Now().UnixNano())
			require.NoError(b, e.nc.PublishMsg(linkedMsg(sub, msg, prev[n%subs])))
			prev[n%subs] = c
			n++
		}
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	want := int64(events * perSub)
	deadline := time.Now().Add(60 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for _, ws := range conns {
		_ = ws.Close()
	}
	wg.Wait()
	var all []int64
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(delivered.Load())/float64(want), "delivered-ratio")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100])/1e6, "p99-ms")
	}
	b.ReportMetric(float64(streams), "streams")
}

func vmRSSKiB(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(tb, err)
			return n
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// BenchmarkHub_IdleMemory opens MONGOTRON_BENCH_IDLE idle streams (default
// 20,000) and reports memory per stream. The clients live in the same
// process but hold no goroutine and small buffers; rss-KiB/conn includes
// them, heap+stack-KiB/conn is the Go heap in use plus goroutine stacks.
func BenchmarkHub_IdleMemory(b *testing.B) {
	raiseNoFile(b)
	n := envInt("MONGOTRON_BENCH_IDLE", 20000)
	e := newEnv(b)
	s := startHub(b, e, Config{})
	sub := randomID("sub_")
	for range b.N {
		// Warm up the paths (pools, first topic) before measuring.
		warm := s.dialLoad(b, 0, sub, "")
		_, _, _ = warm.ReadMessage()
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		rss0 := vmRSSKiB(b)
		g0 := runtime.NumGoroutine()
		conns := make([]*websocket.Conn, n)
		for i := range conns {
			conns[i] = s.dialLoad(b, i, sub, "")
			_, _, err := conns[i].ReadMessage() // hello
			require.NoError(b, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		rss1 := vmRSSKiB(b)
		g1 := runtime.NumGoroutine()
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-KiB/conn")
		b.ReportMetric(float64((ms1.HeapInuse+ms1.StackInuse)-(ms0.HeapInuse+ms0.StackInuse))/1024/float64(n), "heap+stack-KiB/conn")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/conn")
		b.ReportMetric(float64(ms1.StackInuse-ms0.StackInuse)/1024/float64(n), "stack-KiB/conn")
		for _, ws := range conns {
			_ = ws.Close()
		}
		_ = warm.Close()
		requireEventuallyFor(b, time.Minute, func() bool { return s.hub.count() == 0 })
	}
}

// BenchmarkHub_Replay reports the replay rate of one resuming client over
// MONGOTRON_BENCH_REPLAY stored events (default 20,000).
func BenchmarkHub_Replay(b *testing.B) {
	n := envInt("MONGOTRON_BENCH_REPLAY", 20000)
	e := newEnv(b)
	s := startHub(b, e, Config{ReplayBatch: envInt("MONGOTRON_BENCH_REPLAY_BATCH", 0)})
	sub := randomID("sub_")
	docs := make([]store.EventDoc, 0, 1000)
	ctx := context.Background()
	var first string
	for i := range n {
		c := testCursor(uint64(i+1), 0)
		if i == 0 {
			first = c
		}
		docs = append(docs, store.EventDoc{ID: store.EventDocID(sub, c), SubscriptionID: sub, Cursor: c,
			EventID: fmt.Sprintf("tx%d:0", i), Kind: "trx_transfer", CreatedAt: time.Now(), JSON: testEvent(sub, c, i, 0)})
		if len(docs) == cap(docs) || i == n-1 {
			require.NoError(b, store.AppendEvents(ctx, e.db, docs...))
			docs = docs[:0]
		}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ws := s.dialLoad(b, 0, sub, first)
		for got := -1; got < n-1; got++ { // hello, then n-1 events
			_, _, err := ws.ReadMessage()
			require.NoError(b, err)
		}
		_ = ws.Close()
	}
	b.ReportMetric(float64(b.N*(n-1))/time.Since(start).Seconds(), "events/s")
}

func requireEventuallyFor(tb testing.TB, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
