package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

// startStack runs a stack on free ports with its data in dataDir; stop
// (also run on cleanup) stops it and checks that it stopped cleanly.
func startStack(t *testing.T, dataDir string) (s *devstack.Stack, stop func()) {
	t.Helper()
	return startStackWith(t, dataDir, 1)
}

// startStackWith is [startStack] with the simulated chain served as
// tronNodes nodes.
func startStackWith(t *testing.T, dataDir string, tronNodes int) (s *devstack.Stack, stop func()) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	s, err := devstack.New(devstack.Config{
		TronNodes: tronNodes,
		HTTPAddr:  "127.0.0.1:0", NATSAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0",
		SimAddr: "127.0.0.1:0", SimGRPCAddr: "127.0.0.1:0", IngestAddr: "127.0.0.1:0",
		DataDir: dataDir, BinDir: binDir, BlockInterval: 500 * time.Millisecond,
		// The ingest may take up to its 30 s commit bound to finish the
		// block in hand on SIGTERM; killing it sooner is not a clean stop.
		ReadyTimeout: 40 * time.Second, StopTimeout: 35 * time.Second,
	}, devstack.Options{Logs: logs})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-errc, "a clean stop")
			_ = s.Close()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("children's logs (tail):\n%s", logs.Tail(60000))
		}
	})
	select {
	case <-s.Ready():
	case err := <-errc:
		once.Do(func() {})
		t.Fatalf("stack failed: %v\n%s", err, logs.Tail(60000))
	case <-time.After(90 * time.Second):
		t.Fatalf("stack not ready within 90s\n%s", logs.Tail(60000))
	}
	return s, stop
}

type frame struct {
	Type    string `json:"type"`
	Cursor  string `json:"cursor"`
	ID      string `json:"id"`
	Removed bool   `json:"removed"`
}

func dial(t *testing.T, edgeURL, subID, key, after string) *websocket.Conn {
	t.Helper()
	u := strings.Replace(edgeURL, "http://", "ws://", 1) + "/v1/subscriptions/" + subID + "/stream?token=" + url.QueryEscape(key)
	if after != "" {
		u += "&after=" + after
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.NoError(t, err)
	var hello map[string]any
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, c.ReadJSON(&hello))
	require.Equal(t, "hello", hello["type"])
	return c
}

// readEvents reads until n events came or the connection fails, and
// returns them with the read error.
func readEvents(c *websocket.Conn, n int, deadline time.Duration) ([]frame, error) {
	var out []frame
	end := time.Now().Add(deadline)
	for len(out) < n {
		if err := c.SetReadDeadline(end); err != nil {
			return out, err
		}
		var f frame
		if err := c.ReadJSON(&f); err != nil {
			return out, err
		}
		if f.Type == "event" {
			out = append(out, f)
		}
	}
	return out, nil
}

func doJSON(t *testing.T, method, u, key string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, out), "%s", b)
	}
	return resp.StatusCode
}

// history reads every stored event of a subscription, in cursor order.
func history(t *testing.T, edgeURL, subID, key string) []frame {
	t.Helper()
	return historyN(t, edgeURL, subID, key, -1)
}

// historyN reads the first n stored events of a subscription (all, for a
// negative n), in cursor order. A busy subscription can store events
// faster than the dev stack's FerretDB reads pages, so reading to the
// end may never end.
func historyN(t *testing.T, edgeURL, subID, key string, n int) []frame {
	t.Helper()
	var all []frame
	after := ""
	for n < 0 || len(all) < n {
		var page struct {
			Events []frame `json:"events"`
			Next   *string `json:"next"`
		}
		u := fmt.Sprintf("%s/v1/subscriptions/%s/events?limit=1000&after=%s", edgeURL, subID, after)
		require.Equal(t, http.StatusOK, doJSON(t, http.MethodGet, u, key, nil, &page))
		all = append(all, page.Events...)
		if page.Next == nil || len(page.Events) == 0 {
			return all
		}
		after = *page.Next
	}
	return all[:min(n, len(all))]
}

func TestStack_EdgeKilledStreamContinuesWithoutGap(t *testing.T) {
	t.Parallel()
	holdStackSlot(t)
	s, _ := startStack(t, t.TempDir())
	info := s.Info()
	require.Len(t, info.EdgeURLs, 2)
	require.NotEmpty(t, info.Demo.APIKey)
	require.NotEmpty(t, info.Demo.Addresses, "the demo watches the busiest addresses")
	key := info.Demo.APIKey

	// A subscription of our own, through the REST API, on the demo's
	// busy addresses with no confirmations, so events come every block.
	var sub struct {
		ID string `json:"id"`
	}
	code := doJSON(t, http.MethodPost, info.EdgeURLs[1]+"/v1/subscriptions", key,
		map[string]any{"label": "devstack test", "addresses": info.Demo.Addresses, "confirmations": 0}, &sub)
	require.Equal(t, http.StatusCreated, code)

	c1 := dial(t, info.EdgeURLs[0], sub.ID, key, "")
	first, err := readEvents(c1, 5, 30*time.Second)
	require.NoError(t, err, "events from edge 1")

	oldPID := s.PID("edge-1")
	require.NoError(t, s.Signal("edge-1", syscall.SIGKILL))
	// Whatever edge 1 sent before dying counts as received.
	more, err := readEvents(c1, 1<<30, 10*time.Second)
	require.Error(t, err, "the stream of a killed edge ends")
	_ = c1.Close()
	received := append(first, more...)

	// The client reconnects to the other edge with its last cursor.
	c2 := dial(t, info.EdgeURLs[1], sub.ID, key, received[len(received)-1].Cursor)
	next, err := readEvents(c2, 5, 30*time.Second)
	require.NoError(t, err, "events from edge 2 after the reconnect")
	_ = c2.Close()
	received = append(received, next...)

	for i := 1; i < len(received); i++ {
		require.Less(t, received[i-1].Cursor, received[i].Cursor, "cursors strictly increase at %d", i)
	}
	hist := history(t, info.EdgeURLs[1], sub.ID, key)
	start := -1
	for i, h := range hist {
		if h.Cursor == received[0].Cursor {
			start = i
			break
		}
	}
	require.GreaterOrEqual(t, start, 0, "the first streamed event is in the history")
	require.GreaterOrEqual(t, len(hist)-start, len(received))
	require.Equal(t, hist[start:start+len(received)], received, "the stream across both edges is the history, with no gap and no duplicate")

	// The stack restarts the killed edge on its port.
	testenv.WaitFor(t, 30*time.Second, func() bool {
		if p := s.PID("edge-1"); p == oldPID || p == 0 {
			return false
		}
		resp, err := http.Get(info.EdgeURLs[0] + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "edge 1 restarted and ready")
	c3 := dial(t, info.EdgeURLs[0], sub.ID, key, received[len(received)-1].Cursor)
	again, err := readEvents(c3, 1, 30*time.Second)
	_ = c3.Close()
	require.NoError(t, err)
	require.Greater(t, again[0].Cursor, received[len(received)-1].Cursor)
}

// hookReceiver is a webhook endpoint on loopback that records the event
// ids it accepted, in arrival order.
type hookReceiver struct {
	mu  sync.Mutex
	ids []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev frame
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID != r.Header.Get("Mongotron-Event-Id") {
		http.Error(w, "not the event its header names", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.ids = append(h.ids, ev.ID)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// unique returns the ids accepted, each once, in the order first
// accepted, and how many were repeats.
func (h *hookReceiver) unique() (ids []string, repeats int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range h.ids {
		if seen[id] {
			repeats++
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, repeats
}

// taken returns how many events an edge took for webhooks, from its
// metrics.
func taken(t *testing.T, edgeURL string) float64 {
	t.Helper()
	resp, err := http.Get(edgeURL + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `mongotron_webhook_intake_total{result="taken"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	return 0
}

func TestStack_WebhookDeliversEveryEventInOrderAcrossAnEdgeStop(t *testing.T) {
	t.Parallel()
	holdStackSlot(t)
	s, _ := startStack(t, t.TempDir())
	info := s.Info()
	key := info.Demo.APIKey
	rc := &hookReceiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	var sub struct {
		ID string `json:"id"`
	}
	code := doJSON(t, http.MethodPost, info.EdgeURLs[0]+"/v1/subscriptions", key, map[string]any{
		"label": "devstack webhook", "addresses": info.Demo.Addresses, "confirmations": 0,
		"webhook": map[string]any{"url": srv.URL + "/hook"},
	}, &sub)
	require.Equal(t, http.StatusCreated, code, "the dev stack's edges accept a receiver on this machine")
	testenv.WaitFor(t, 150*time.Second, func() bool { ids, _ := rc.unique(); return len(ids) >= 20 }, "20 webhooks")

	// Stop the edge taking the events, then let more blocks come: the
	// other edge carries on.
	taker := -1
	for i, u := range info.EdgeURLs {
		if taken(t, u) > 0 {
			taker = i
		}
	}
	require.GreaterOrEqual(t, taker, 0, "an edge took the events")
	before, _ := rc.unique()
	require.NoError(t, s.Signal(fmt.Sprintf("edge-%d", taker+1), syscall.SIGTERM))
	testenv.WaitFor(t, 150*time.Second, func() bool { return taken(t, info.EdgeURLs[1-taker]) > 0 }, "the other edge takes the events over")
	over, _ := rc.unique()
	testenv.WaitFor(t, 150*time.Second, func() bool { ids, _ := rc.unique(); return len(ids) >= len(over)+20 }, "20 more webhooks from the other edge")

	got, repeats := rc.unique()
	hist := historyN(t, info.EdgeURLs[1-taker], sub.ID, key, len(got))
	require.GreaterOrEqual(t, len(hist), len(got))
	want := make([]string, len(got))
	for i := range got {
		want[i] = hist[i].ID
	}
	require.Equal(t, want, got, "every event of the subscription, in cursor order")
	t.Logf("edge-%d took the events and was stopped after %d webhooks; the other edge took over at %d; %d in all, %d repeats", taker+1, len(before), len(over), len(got), repeats)
	// A repeat is an attempt the stopping edge cut short: its outcome
	// was unknown, so it was sent again.
	require.LessOrEqual(t, repeats, 1)
}

func TestStack_RerunReusesKeysAndChain(t *testing.T) {
	t.Parallel()
	holdStackSlot(t)
	dir := t.TempDir()
	s1, stop1 := startStack(t, dir)
	first := s1.Info()
	var before struct {
		Events []frame `json:"events"`
	}
	// Wait for stored events, so the second run has a checkpoint to
	// continue from.
	testenv.WaitFor(t, 30*time.Second, func() bool {
		u := first.EdgeURLs[0] + "/v1/subscriptions/" + first.Demo.SubscriptionID + "/events?limit=1000"
		return doJSON(t, http.MethodGet, u, first.Demo.APIKey, nil, &before) == http.StatusOK && len(before.Events) > 0
	}, "demo events stored")
	stop1()

	s2, _ := startStack(t, dir)
	second := s2.Info()
	require.Equal(t, first.AdminKey, second.AdminKey, "the admin key persists")
	require.Equal(t, first.Demo, second.Demo, "the demo key and subscription are reused")
	// The history of the first run is still there, and the chain goes on
	// after it: the simulated chain continued, so new events follow.
	last := before.Events[len(before.Events)-1].Cursor
	c := dial(t, second.EdgeURLs[0], second.Demo.SubscriptionID, second.Demo.APIKey, before.Events[0].Cursor)
	evs, err := readEvents(c, len(before.Events)+1, 30*time.Second)
	_ = c.Close()
	require.NoError(t, err)
	require.Equal(t, before.Events[1:], evs[:len(before.Events)-1], "the first run's events replay unchanged")
	require.Greater(t, evs[len(evs)-1].Cursor, last)
}

// TestStack_SeveralTronNodes serves the simulated chain as three nodes,
// each on its own HTTP and gRPC ports, the ingest reading all three over
// both transports: each node serves the one chain, a fault set on one
// stays on that one, and demo events flow.
func TestStack_SeveralTronNodes(t *testing.T) {
	t.Parallel()
	holdStackSlot(t)
	s, _ := startStackWith(t, t.TempDir(), 3)
	info := s.Info()
	require.Len(t, info.SimNodes, 3)
	require.Equal(t, info.SimNodes[0].HTTP, info.SimURL)
	require.Equal(t, []string{info.SimNodes[0].HTTP, info.SimNodes[1].GRPC, info.SimNodes[2].HTTP}, info.TronNodeURLs)
	ports := map[string]bool{}
	for _, n := range info.SimNodes {
		for _, u := range []string{n.HTTP, n.GRPC} {
			require.False(t, ports[u], "%s twice", u)
			ports[u] = true
		}
	}

	// Node 2 lags; the others do not.
	require.Equal(t, http.StatusOK, doJSON(t, http.MethodPost, info.SimNodes[1].HTTP+"/sim/faults", "", map[string]any{"lag": 5}, nil))
	var st [3]struct {
		Head     int64 `json:"head"`
		Endpoint struct {
			Head int64 `json:"head"`
		} `json:"endpoint"`
	}
	for i, n := range info.SimNodes {
		require.Equal(t, http.StatusOK, doJSON(t, http.MethodGet, n.HTTP+"/sim/status", "", nil, &st[i]))
	}
	// A block may come between the two heads one answer holds.
	require.InDelta(t, st[1].Head-5, st[1].Endpoint.Head, 1)
	require.InDelta(t, st[2].Head, st[2].Endpoint.Head, 1)

	var evs struct {
		Events []frame `json:"events"`
	}
	testenv.WaitFor(t, 30*time.Second, func() bool {
		u := info.EdgeURLs[0] + "/v1/subscriptions/" + info.Demo.SubscriptionID + "/events?limit=10"
		return doJSON(t, http.MethodGet, u, info.Demo.APIKey, nil, &evs) == http.StatusOK && len(evs.Events) > 0
	}, "demo events stored")
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  devstack.Config
		want string
	}{
		{"zero", devstack.Config{}, ""},
		{"bad addr", devstack.Config{HTTPAddr: "8080"}, "http.addr"},
		{"bad port", devstack.Config{NATSAddr: "127.0.0.1:99999"}, "nats-addr"},
		{"short admin key", devstack.Config{AdminKey: "short"}, "admin-key"},
		{"both chains", devstack.Config{TronBlocks: "x", TronNode: "http://n"}, "exclude"},
		{"negative interval", devstack.Config{BlockInterval: -time.Second}, "block-interval"},
		{"too many edges", devstack.Config{Edges: 100}, "edges"},
		{"several tron nodes", devstack.Config{TronNodes: 3, SimAddr: "127.0.0.1:0", SimGRPCAddr: "127.0.0.1:6000"}, ""},
		{"too many tron nodes", devstack.Config{TronNodes: 17}, "tron-nodes 17: want 1 to 16"},
		{"tron nodes and a real node", devstack.Config{TronNodes: 2, TronNode: "http://n"}, "tron-nodes is for the simulator"},
		{"tron nodes past the last port", devstack.Config{TronNodes: 3, SimGRPCAddr: "127.0.0.1:65534"}, "sim-grpc-addr \"127.0.0.1:65534\": 3 nodes would listen past port 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNew_MissingBinaries(t *testing.T) {
	t.Parallel()
	_, err := devstack.New(devstack.Config{BinDir: t.TempDir()}, devstack.Options{})
	require.ErrorContains(t, err, "make build")
}
