package tron

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// answer is one canned reply of a test node.
type answer func(w http.ResponseWriter, r *http.Request)

func replyStatus(code int, body string) answer {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func replyOK(body string) answer { return replyStatus(http.StatusOK, body) }

func tooMany(retryAfter string) answer {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "slow down")
	}
}

// hangUp closes the connection without answering, as a crashing node or a
// proxy reset does.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// stall answers nothing until the client gives up or the test ends. It
// reads the body first: only then does the server watch the connection and
// cancel r.Context when the client hangs up.
func stall(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// sequence answers with each reply in turn, then repeats the last one.
func sequence(replies ...answer) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(replies)-1)
		replies[i](w, r)
	})
}

// blockJSON is a minimal block n as java-tron prints it.
func blockJSON(n int64) string {
	return fmt.Sprintf(`{"blockID":"%016x%048x","block_header":{"raw_data":{"number":%d}}}`, n, 1, n)
}

// observed collects the attempts a client reports.
type observed struct {
	mu    sync.Mutex
	calls []CallInfo
}

func (o *observed) observe(ci CallInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, ci)
}

func (o *observed) all() []CallInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]CallInfo(nil), o.calls...)
}

// newTestClient serves h on loopback and returns a client of it with fast
// retries; cfg's non-zero fields override those. Both are closed when the
// test ends.
func newTestClient(tb testing.TB, h http.Handler, cfg ClientConfig) (*Client, *observed) {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return newClientFor(tb, srv.URL, cfg)
}

func newClientFor(tb testing.TB, url string, cfg ClientConfig) (*Client, *observed) {
	tb.Helper()
	obs := &observed{}
	cfg.BaseURL = url
	cfg.Timeout = orDefault(cfg.Timeout, 5*time.Second)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, time.Millisecond)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, 4*time.Millisecond)
	if cfg.Observer == nil {
		cfg.Observer = obs.observe
	}
	c, err := NewClient(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, c.Close()) })
	return c, obs
}

func TestClient_BlockByNumRetries(t *testing.T) {
	t.Parallel()
	block7 := replyOK(blockJSON(7))
	tests := []struct {
		name         string
		replies      []answer
		maxRetries   int
		wantErr      error
		wantStatus   int // of an *HTTPError in the chain, 0 for none
		wantAttempts int
	}{
		{"success", []answer{block7}, 0, nil, 0, 1},
		{"500s then success", []answer{replyStatus(500, "boom"), replyStatus(502, ""), block7}, 0, nil, 0, 3},
		{"connection dropped then success", []answer{hangUp, block7}, 0, nil, 0, 2},
		{"429 then success", []answer{tooMany("0"), block7}, 0, nil, 0, 2},
		{"503 until retries run out", []answer{replyStatus(503, "unavailable")}, 2, nil, 503, 3},
		{"400 is not retried", []answer{replyStatus(400, "bad request")}, 0, nil, 400, 1},
		{"404 is not retried nor not found", []answer{replyStatus(404, "no such path")}, 0, nil, 404, 1},
		{"429 forever", []answer{tooMany("1")}, 2, ErrRateLimited, 429, 3},
		{"no retries", []answer{replyStatus(500, "")}, -1, nil, 500, 1},
		{"past head", []answer{replyOK("{}")}, 0, ErrNotFound, 0, 1},
		{"past head with spaces", []answer{replyOK(" { }\n")}, 0, ErrNotFound, 0, 1},
		{"node error", []answer{replyOK(`{"Error":"class java.lang.NullPointerException : null"}`)}, 0, ErrBadResponse, 0, 1},
		{"node error with broken quoting", []answer{replyOK(`{"Error":"class X : "quoted" thing"}`)}, 0, ErrBadResponse, 0, 1},
		{"malformed JSON", []answer{replyOK(`{"blockID":"00`)}, 0, ErrBadResponse, 0, 1},
		{"HTML", []answer{replyOK(`<html>maintenance</html>`)}, 0, ErrBadResponse, 0, 1},
		{"empty body", []answer{replyOK("")}, 0, ErrBadResponse, 0, 1},
		{"wrong block", []answer{replyOK(blockJSON(8))}, 0, ErrBadResponse, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, obs := newTestClient(t, sequence(tt.replies...), ClientConfig{
				MaxRetries:    tt.maxRetries,
				MaxRetryAfter: 5 * time.Millisecond,
			})
			b, err := c.BlockByNum(t.Context(), 7)
			require.Len(t, obs.all(), tt.wantAttempts)
			if tt.wantErr == nil && tt.wantStatus == 0 {
				require.NoError(t, err)
				require.Equal(t, int64(7), b.BlockHeader.RawData.Number)
				return
			}
			require.Error(t, err)
			require.Nil(t, b)
			require.True(t, strings.HasPrefix(err.Error(), "tron: "), err.Error())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			var he *HTTPError
			if tt.wantStatus != 0 {
				require.ErrorAs(t, err, &he)
				require.Equal(t, tt.wantStatus, he.StatusCode)
				require.Equal(t, "/wallet/getblockbynum", he.Path)
			} else {
				require.NotErrorAs(t, err, &he)
			}
		})
	}
}

func TestClient_RateLimitError(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, sequence(tooMany("7")), ClientConfig{MaxRetries: 1, MaxRetryAfter: time.Millisecond})
	_, err := c.NowBlock(t.Context())
	require.ErrorIs(t, err, ErrRateLimited)
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, 7*time.Second, rl.RetryAfter)
	require.Equal(t, "slow down", rl.HTTP.Body)
}

func TestClient_NodeError(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, sequence(replyOK(`{"Error":"class java.lang.IllegalArgumentException : bad num"}`)), ClientConfig{})
	_, err := c.TxInfosByBlockNum(t.Context(), 3)
	var ne *NodeError
	require.ErrorAs(t, err, &ne)
	require.Equal(t, "class java.lang.IllegalArgumentException : bad num", ne.Message)
	require.ErrorIs(t, err, ErrBadResponse)
}

func TestClient_RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		retryAfter    string
		maxRetryAfter time.Duration
		minWait       time.Duration
		maxWait       time.Duration
	}{
		{"seconds honoured", "1", 0, 950 * time.Millisecond, 5 * time.Second},
		{"capped", "3600", 30 * time.Millisecond, 25 * time.Millisecond, 2 * time.Second},
		{"HTTP date capped", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 30 * time.Millisecond, 25 * time.Millisecond, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, obs := newTestClient(t, sequence(tooMany(tt.retryAfter), replyOK(blockJSON(1))), ClientConfig{MaxRetryAfter: tt.maxRetryAfter})
			start := time.Now()
			_, err := c.NowBlock(t.Context())
			elapsed := time.Since(start)
			require.NoError(t, err)
			require.Len(t, obs.all(), 2)
			require.GreaterOrEqual(t, elapsed, tt.minWait)
			require.Less(t, elapsed, tt.maxWait)
		})
	}
}

func TestClient_AttemptTimeout(t *testing.T) {
	t.Parallel()
	c, obs := newTestClient(t, sequence(stall, replyOK(blockJSON(9))), ClientConfig{Timeout: 300 * time.Millisecond})
	b, err := c.NowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(9), b.BlockHeader.RawData.Number)
	calls := obs.all()
	// On a loaded machine a retry can time out too; only the first must.
	require.GreaterOrEqual(t, len(calls), 2)
	require.ErrorIs(t, calls[0].Err, context.DeadlineExceeded)
	var internal *retryable
	require.NotErrorAs(t, calls[0].Err, &internal, "observers see the error, not the retry marker")
	require.Zero(t, calls[0].StatusCode)
	last := calls[len(calls)-1]
	require.NoError(t, last.Err)
	require.Equal(t, http.StatusOK, last.StatusCode)
	require.Equal(t, "/wallet/getnowblock", last.Path)
}

func TestClient_Cancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply answer
	}{
		// A minute of backoff: only the cancellation can end the call.
		{"during backoff", replyStatus(500, "")},
		{"during request", stall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, obs := newTestClient(t, sequence(tt.reply), ClientConfig{
				MinBackoff: time.Minute,
				MaxBackoff: time.Minute,
				Timeout:    time.Minute,
			})
			ctx, cancel := context.WithCancel(t.Context())
			timer := time.AfterFunc(50*time.Millisecond, cancel)
			defer timer.Stop()
			start := time.Now()
			_, err := c.NowBlock(ctx)
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Len(t, obs.all(), 1)
		})
	}
}

func TestClient_CancelledBeforeCall(t *testing.T) {
	t.Parallel()
	c, obs := newTestClient(t, sequence(replyOK(blockJSON(1))), ClientConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.NowBlock(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, obs.all())
}

func TestClient_Request(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, contentType, apiKey string
		hasKey                            bool
		body                              map[string]any
	}
	tests := []struct {
		name     string
		apiKey   string
		call     func(context.Context, *Client) error
		wantPath string
		wantBody map[string]any
	}{
		{"now block with key", "k-123", func(ctx context.Context, c *Client) error {
			_, err := c.NowBlock(ctx)
			return err
		}, "/wallet/getnowblock", map[string]any{}},
		{"solid now block", "", func(ctx context.Context, c *Client) error {
			_, err := c.SolidNowBlock(ctx)
			return err
		}, "/walletsolidity/getnowblock", map[string]any{}},
		{"block by num", "", func(ctx context.Context, c *Client) error {
			_, err := c.BlockByNum(ctx, 1)
			return err
		}, "/wallet/getblockbynum", map[string]any{"num": 1.0}},
		{"node info", "key", func(ctx context.Context, c *Client) error {
			_, err := c.NodeInfo(ctx)
			return err
		}, "/wallet/getnodeinfo", map[string]any{}},
		{"tx infos", "", func(ctx context.Context, c *Client) error {
			_, err := c.TxInfosByBlockNum(ctx, 1)
			return err
		}, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan seen, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				_ = json.NewDecoder(r.Body).Decode(&body)
				_, hasKey := r.Header["Tron-Pro-Api-Key"]
				got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("TRON-PRO-API-KEY"), hasKey, body}
				switch r.URL.Path {
				case "/wallet/gettransactioninfobyblocknum":
					_, _ = io.WriteString(w, "[]")
				case "/wallet/gettransactioninfobyid":
					_, _ = fmt.Fprintf(w, `{"id":"%s"}`, strings.Repeat("ab", 32))
				case "/wallet/getnodeinfo":
					_, _ = io.WriteString(w, `{"block":"Num:5,ID:0000"}`)
				default:
					_, _ = io.WriteString(w, blockJSON(1))
				}
			})
			c, _ := newTestClient(t, h, ClientConfig{APIKey: tt.apiKey})
			require.NoError(t, tt.call(t.Context(), c))
			s := <-got
			require.Equal(t, http.MethodPost, s.method)
			require.Equal(t, tt.wantPath, s.path)
			require.Equal(t, "application/json", s.contentType)
			require.Equal(t, tt.apiKey != "", s.hasKey)
			require.Equal(t, tt.apiKey, s.apiKey)
			require.Equal(t, tt.wantBody, s.body)
		})
	}
}

func TestClient_BasePathKept(t *testing.T) {
	t.Parallel()
	paths := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		_, _ = io.WriteString(w, blockJSON(1))
	}))
	t.Cleanup(srv.Close)
	c, _ := newClientFor(t, srv.URL+"/tron/", ClientConfig{})
	_, err := c.NowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, "/tron/wallet/getnowblock", <-paths)
}

// rangeNode answers getblockbylimitnext like java-tron, with its head at
// head, and records the ranges asked for.
type rangeNode struct {
	head int64
	gap  bool // leave out the second block of every answer

	mu     sync.Mutex
	ranges [][2]int64
}

func (n *rangeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct{ StartNum, EndNum int64 }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/wallet/getblockbylimitnext" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.ranges = append(n.ranges, [2]int64{req.StartNum, req.EndNum})
	n.mu.Unlock()
	if req.EndNum-req.StartNum > MaxBlocksPerRange || req.EndNum <= req.StartNum || req.StartNum > n.head {
		_, _ = io.WriteString(w, "{}")
		return
	}
	var blocks []string
	for i := req.StartNum; i < req.EndNum && i <= n.head; i++ {
		if n.gap && i == req.StartNum+1 {
			continue
		}
		blocks = append(blocks, blockJSON(i))
	}
	_, _ = fmt.Fprintf(w, `{"block":[%s]}`, strings.Join(blocks, ","))
}

func TestClient_BlocksByRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		node       *rangeNode
		batch      int
		start, end int64
		wantRanges [][2]int64
		wantFirst  int64
		wantCount  int
		wantErr    error
	}{
		{"split in hundreds", &rangeNode{head: 1000}, 0, 5, 255, [][2]int64{{5, 105}, {105, 205}, {205, 255}}, 5, 250, nil},
		{"exactly one batch", &rangeNode{head: 1000}, 0, 0, 100, [][2]int64{{0, 100}}, 0, 100, nil},
		{"smaller batches", &rangeNode{head: 1000}, 30, 10, 70, [][2]int64{{10, 40}, {40, 70}}, 10, 60, nil},
		{"empty range", &rangeNode{head: 1000}, 0, 9, 9, nil, 0, 0, nil},
		{"past head stops early", &rangeNode{head: 150}, 0, 100, 400, [][2]int64{{100, 200}}, 100, 51, nil},
		{"entirely past head", &rangeNode{head: 50}, 0, 100, 120, [][2]int64{{100, 120}}, 0, 0, nil},
		{"gap", &rangeNode{head: 1000, gap: true}, 0, 0, 10, [][2]int64{{0, 10}}, 0, 0, ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newTestClient(t, tt.node, ClientConfig{RangeBatch: tt.batch})
			blocks, err := c.BlocksByRange(t.Context(), tt.start, tt.end)
			tt.node.mu.Lock()
			require.Equal(t, tt.wantRanges, tt.node.ranges)
			tt.node.mu.Unlock()
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, blocks)
			require.Len(t, blocks, tt.wantCount)
			for i, b := range blocks {
				require.Equal(t, tt.wantFirst+int64(i), b.BlockHeader.RawData.Number)
			}
		})
	}
}

func TestClient_BlocksByRangeInvalid(t *testing.T) {
	t.Parallel()
	c, obs := newTestClient(t, &rangeNode{head: 10}, ClientConfig{})
	for _, r := range [][2]int64{{5, 3}, {-1, 3}} {
		_, err := c.BlocksByRange(t.Context(), r[0], r[1])
		require.Error(t, err)
	}
	_, err := c.BlockByNum(t.Context(), -1)
	require.Error(t, err)
	require.Empty(t, obs.all())
}

func TestClient_TxInfosByBlockNum(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("0f", 32)
	tests := []struct {
		name    string
		body    string
		want    int
		wantErr error
	}{
		{"empty block", "[]", 0, nil},
		{"block 0", "{}", 0, nil},
		{"two infos", fmt.Sprintf(`[{"id":"%s","blockNumber":42},{"id":"%s","blockNumber":42,"log":[{"address":"aa"}]}]`, id, id), 2, nil},
		{"other block", fmt.Sprintf(`[{"id":"%s","blockNumber":41}]`, id), 0, ErrBadResponse},
		{"not an array", `{"id":"x"}`, 0, ErrBadResponse},
		{"null", `null`, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, obs := newTestClient(t, sequence(replyOK(tt.body)), ClientConfig{})
			infos, err := c.TxInfosByBlockNum(t.Context(), 42)
			require.Len(t, obs.all(), 1)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, infos)
			require.Len(t, infos, tt.want)
		})
	}
}

func TestClient_TriggerConstant(t *testing.T) {
	t.Parallel()
	usdt, err := ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	reverted := hex.EncodeToString([]byte("REVERT opcode executed"))
	notExist := hex.EncodeToString([]byte("No contract or not a smart contract"))
	tests := []struct {
		name     string
		body     string
		want     []byte
		wantErr  error
		wantCode string
	}{
		{"success", `{"result":{"result":true},"energy_used":300,"constant_result":["0000000000000000000000000000000000000000000000000000000000000006"],"transaction":{"ret":[{}]}}`, append(make([]byte, 31), 6), nil, ""},
		{"empty result", `{"result":{"result":true},"constant_result":[""]}`, []byte{}, nil, ""},
		{"revert", `{"result":{"result":true,"message":"` + reverted + `"},"constant_result":["08c379a0"],"transaction":{"ret":[{"ret":"FAILED"}]}}`, nil, ErrCallFailed, "REVERT"},
		{"no contract", `{"result":{"code":"CONTRACT_VALIDATE_ERROR","message":"` + notExist + `"}}`, nil, ErrCallFailed, "CONTRACT_VALIDATE_ERROR"},
		{"no result", `{"constant_result":["00"]}`, nil, ErrBadResponse, ""},
		{"no constant_result", `{"result":{"result":true}}`, nil, ErrBadResponse, ""},
		{"bad hex", `{"result":{"result":true},"constant_result":["zz"]}`, nil, ErrBadResponse, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reqs := make(chan map[string]any, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				_ = json.NewDecoder(r.Body).Decode(&body)
				reqs <- body
				_, _ = io.WriteString(w, tt.body)
			})
			c, _ := newTestClient(t, h, ClientConfig{})
			got, err := c.TriggerConstant(t.Context(), Address{}, usdt, "balanceOf(address)", usdt.EVM())
			require.Equal(t, map[string]any{
				"owner_address":     "410000000000000000000000000000000000000000",
				"contract_address":  usdt.Hex(),
				"function_selector": "balanceOf(address)",
				"parameter":         hex.EncodeToString(usdt.EVM()),
				"visible":           false,
			}, <-reqs)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				var ce *CallError
				if tt.wantCode != "" {
					require.ErrorAs(t, err, &ce)
					require.Equal(t, tt.wantCode, ce.Code)
					require.NotEmpty(t, ce.Message)
					require.NotContains(t, ce.Message, "5245") // decoded, not hex
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestClient_ReusesConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(sequence(replyOK(blockJSON(3))))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, _ := newClientFor(t, srv.URL, ClientConfig{})
	for range 10 {
		_, err := c.NowBlock(t.Context())
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), conns.Load())
}

func TestClient_ResponseTooLarge(t *testing.T) {
	t.Parallel()
	c, obs := newTestClient(t, sequence(replyOK(blockJSON(1))), ClientConfig{MaxResponseBytes: 20})
	_, err := c.NowBlock(t.Context())
	require.ErrorIs(t, err, ErrBadResponse)
	require.Len(t, obs.all(), 1)
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     ClientConfig
		wantErr bool
	}{
		{"http", ClientConfig{BaseURL: "http://127.0.0.1:8090"}, false},
		{"https with path", ClientConfig{BaseURL: "https://api.trongrid.io/"}, false},
		{"all set", ClientConfig{BaseURL: "http://n", Timeout: time.Second, MaxRetries: -1, MinBackoff: time.Second, MaxBackoff: time.Second, MaxRetryAfter: time.Second, RangeBatch: 10, MaxResponseBytes: 1}, false},
		{"missing", ClientConfig{}, true},
		{"no scheme", ClientConfig{BaseURL: "127.0.0.1:8090"}, true},
		{"ftp", ClientConfig{BaseURL: "ftp://node"}, true},
		{"no host", ClientConfig{BaseURL: "http://"}, true},
		{"query", ClientConfig{BaseURL: "http://node?x=1"}, true},
		{"garbage", ClientConfig{BaseURL: "http://[::1"}, true},
		{"negative timeout", ClientConfig{BaseURL: "http://n", Timeout: -1}, true},
		{"negative backoff", ClientConfig{BaseURL: "http://n", MinBackoff: -1}, true},
		{"min over max", ClientConfig{BaseURL: "http://n", MinBackoff: time.Minute}, true},
		{"batch too big", ClientConfig{BaseURL: "http://n", RangeBatch: 101}, true},
		{"negative size", ClientConfig{BaseURL: "http://n", MaxResponseBytes: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tt.cfg)
			if tt.wantErr {
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), "tron: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.Close())
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 5 ", 5 * time.Second, true},
		{"-3", 0, false},
		{"99999999999999999", 24 * time.Hour, true},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tt.in, now)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestClient_Backoff(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{BaseURL: "http://n", MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	require.NoError(t, err)
	defer c.Close()
	for attempt, full := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		full *= time.Millisecond
		for range 50 {
			d := c.wait.Delay(attempt + 1)
			require.GreaterOrEqual(t, d, full/2)
			require.LessOrEqual(t, d, full)
		}
	}
	require.LessOrEqual(t, c.wait.Delay(1000), time.Second)
}

// failingReader makes io.ReadAll fail, for code paths that read bodies.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReadExcerpt(t *testing.T) {
	t.Parallel()
	require.Equal(t, "oops", readExcerpt(strings.NewReader(" oops \n")))
	require.Len(t, readExcerpt(strings.NewReader(strings.Repeat("x", 10000))), 512)
	require.Empty(t, readExcerpt(failingReader{}))
}
