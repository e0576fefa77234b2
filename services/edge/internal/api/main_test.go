package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/openapitest"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/edge/internal/api"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
	"github.com/mongotron/mongotron/services/edge/internal/stream"
	"github.com/mongotron/mongotron/services/edge/internal/web"
)

// One FerretDB serves every test, each with a database of its own; each
// test has its own NATS server, since control subjects are global. So
// tests run in parallel without seeing each other's data or messages.
// Every test server checks its exchanges against the OpenAPI document.
var (
	mongoURI    string
	mongoClient *mongo.Client
	dbSeq       atomic.Int64
	apiDoc      *openapitest.Doc
)

// openAPIPath is docs/openapi.yaml, seen from this package's directory.
const openAPIPath = "../../../../docs/openapi.yaml"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if apiDoc, err = openapitest.Load(openAPIPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mg, err := testenv.StartMongo(testenv.MongoConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mongoURI = mg.URI()
	qc := testenv.NewQueryCheck()
	mongoClient, err = mongo.Connect(options.Client().ApplyURI(mongoURI).SetMonitor(qc.Monitor()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := qc.Report(m.Run())
	_ = mongoClient.Disconnect(context.Background())
	mg.Shutdown()
	if code == 0 {
		if err := goleak.Find(testenv.GoleakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

const adminKey = "test-admin-key"

// Real mainnet addresses and their hex forms.
const (
	addrA    = "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx"
	addrAHex = "4160bb513e91aa723a10a4020ae6fcce39bce7e240"
	addrB    = "TYD4pB7wGi1p8zK67rBTV3KdfEb9nvNDXh"
	addrC    = "TXncUDXYkRCmwhFikxYMutwAy93fbhPbbv"
	usdt     = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
	addrBad  = "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vw" // addrA with a bad checksum
)

type env struct {
	t   testing.TB
	db  *mongo.Database
	nc  *nats.Conn
	srv *httptest.Server
	api *api.API

	mu      sync.Mutex
	changes []bus.SubscriptionChange
	keys    []bus.KeyChange
}

func newEnv(tb testing.TB, tune ...func(*api.Config)) *env {
	tb.Helper()
	return newServedEnv(tb, true, tune...)
}

// newServedEnv is [newEnv], with the API served behind the OpenAPI
// checker only when checked: benchmarks time the handlers alone.
func newServedEnv(tb testing.TB, checked bool, tune ...func(*api.Config)) *env {
	tb.Helper()
	db := mongoClient.Database(fmt.Sprintf("edge_api_%d", dbSeq.Add(1)))
	_, err := store.EnsureIndexes(tb.Context(), db, 0)
	require.NoError(tb, err)
	nc, err := nats.Connect(testenv.RunNATS(tb).URL())
	require.NoError(tb, err)
	e := &env{t: tb, db: db, nc: nc}
	_, err = nc.Subscribe(bus.SubscriptionsSubject, func(m *nats.Msg) {
		var ch bus.SubscriptionChange
		if json.Unmarshal(m.Data, &ch) == nil {
			e.mu.Lock()
			e.changes = append(e.changes, ch)
			e.mu.Unlock()
		}
	})
	require.NoError(tb, err)
	_, err = nc.Subscribe(bus.KeysSubject, func(m *nats.Msg) {
		var kc bus.KeyChange
		if json.Unmarshal(m.Data, &kc) == nil {
			e.mu.Lock()
			e.keys = append(e.keys, kc)
			e.mu.Unlock()
		}
	})
	require.NoError(tb, err)
	require.NoError(tb, nc.Flush())

	au, err := auth.New(auth.Config{DB: db, NATS: nc, AdminKey: adminKey})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- au.Run(ctx) }()

	reg := prometheus.NewRegistry()
	cfg := api.Config{DB: db, NATS: nc, Auth: au, Registerer: reg, Gatherer: reg, RateLimit: auth.RateLimitConfig{Rate: -1}}
	for _, f := range tune {
		f(&cfg)
	}
	a, err := api.New(cfg)
	require.NoError(tb, err)
	e.api = a
	apiDone := make(chan error, 1)
	go func() { apiDone <- a.Run(ctx) }()
	if checked {
		e.srv = httptest.NewServer(apiDoc.Handler(tb, a, openapitest.Options{Outside: viewerPath}))
	} else {
		e.srv = httptest.NewServer(a)
	}
	tb.Cleanup(func() {
		e.srv.Close()
		cancel()
		require.NoError(tb, <-done)
		require.NoError(tb, <-apiDone)
		nc.Close()
		_ = db.Drop(context.Background())
	})
	return e
}

// viewerPath reports the web viewer's paths, which are a page for people
// and not part of the API: docs/openapi.yaml leaves them out.
func viewerPath(r *http.Request) bool {
	return r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, web.AssetsPrefix)
}

// withStream gives the API a stand-in for the stream hub: it upgrades the
// connection with gorilla/websocket as the hub does (a request that is
// not a WebSocket handshake gets the library's own 400), reports the
// request to seen when not nil, and closes the stream.
func withStream(seen func(api.StreamRequest)) func(*api.Config) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, Error: stream.RefuseHandshake}
	return func(c *api.Config) {
		c.Stream = func(w http.ResponseWriter, r *http.Request, sr api.StreamRequest) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			if seen != nil {
				seen(sr)
			}
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = ws.Close()
		}
	}
}

// wsURL is the WebSocket URL of path on the test server.
func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

// errCode returns the code of an docs/api.md error body, failing when the body
// is not one.
func (r response) errCode(tb testing.TB) string {
	tb.Helper()
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&b), "not an error body: %s", r.body)
	require.NotEmpty(tb, b.Error.Code)
	require.NotEmpty(tb, b.Error.Message)
	return b.Error.Code
}

type req struct {
	method, path, key, body string
	contentType             string // "" means application/json when body is set, "-" none
	auth                    string // an Authorization header sent as is, instead of key's
}

func (e *env) do(r req) response {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), r.method, e.srv.URL+r.path, body)
	require.NoError(e.t, err)
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		hr.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(hr)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// key creates a tenant key with the admin key.
func (e *env) key(tenant string) (id, key string) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/keys", key: adminKey, body: `{"tenant":"` + tenant + `"}`})
	require.Equal(e.t, http.StatusCreated, r.status, string(r.body))
	m := r.json(e.t)
	require.Equal(e.t, tenant, m["tenant"])
	return m["id"].(string), m["key"].(string)
}

// create makes a subscription and returns its id.
func (e *env) create(key, body string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/subscriptions", key: key, body: body})
	require.Equal(e.t, http.StatusCreated, r.status, string(r.body))
	return r.json(e.t)["id"].(string)
}

// waitChanges polls until n control messages about subID arrived, and
// returns them.
func (e *env) waitChanges(subID string, n int) []bus.SubscriptionChange {
	e.t.Helper()
	var got []bus.SubscriptionChange
	require.Eventually(e.t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		got = got[:0]
		for _, ch := range e.changes {
			if ch.SubscriptionID == subID {
				got = append(got, ch)
			}
		}
		return len(got) >= n
	}, 5*time.Second, 5*time.Millisecond)
	return got
}

// randomAddresses returns n distinct valid addresses, in base58.
func randomAddresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		var a tron.Address
		a[0] = tron.AddressPrefix
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		a[20] = 7
		out[i] = a.String()
	}
	return out
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return string(b)
}
