package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/openapitest"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/service/servicetest"
	"github.com/mongotron/mongotron/pkg/tron"
)

// The CLI module cannot import the edge (its packages are internal), so
// these tests run the commands against a fake edge that speaks docs/api.md:
// it checks each request and answers as the edge does. The client library
// itself is tested end to end against the real edge in
// services/edge/internal/app/client_e2e_test.go.

const (
	testKey   = "mt_tenantAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	adminKey  = "admin-key-for-tests"
	testSubID = "sub_1"
)

// openAPIDoc loads docs/openapi.yaml, seen from this package's
// directory, once.
var openAPIDoc = func() func(testing.TB) *openapitest.Doc {
	load := sync.OnceValues(func() (*openapitest.Doc, error) { return openapitest.Load("../../../../docs/openapi.yaml") })
	return func(tb testing.TB) *openapitest.Doc {
		tb.Helper()
		d, err := load()
		require.NoError(tb, err)
		return d
	}
}()

type apiRequest struct {
	method, path, query, auth, body string
}

// fakeEdge is an in-memory edge for one test.
type fakeEdge struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []apiRequest
	addrs    int
	sessions [][]string // per stream connection: messages, then "close:<code>" or nothing (hang)
	afters   []string
}

func newFakeEdge(t testing.TB) *fakeEdge {
	t.Helper()
	f := &fakeEdge{t: t}
	// Every request the CLI makes, and every answer the fake gives, is
	// held to the edge's OpenAPI document, so that the fake cannot drift
	// from the edge it stands in for.
	f.srv = httptest.NewServer(openAPIDoc(t).Handler(t, http.HandlerFunc(f.serve), openapitest.Options{Requests: true}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEdge) env() []string {
	return []string{"MONGOTRON_URL=" + f.srv.URL, "MONGOTRON_API_KEY=" + testKey, "MONGOTRON_MONGO_URI=ignored"}
}

func (f *fakeEdge) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.reqs...)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mongotron"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func testCursor(i int) string { return cursor.Cursor{Step: uint64(i)}.String() }

func testEvent(i int, removed bool) string {
	return fmt.Sprintf(`{"type":"event","cursor":%q,"id":"%064x:0","subscription_id":"sub_1","kind":"trc20_transfer","network":"mainnet",`+
		`"block":{"number":%d,"id":"%064x","timestamp":"2025-01-02T03:04:05Z"},"tx_id":"%064x","tx_index":1,"index":0,"success":true,`+
		`"confirmations":19,"removed":%t,"watched":"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7","direction":"in","from":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",`+
		`"to":"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","token":{"symbol":"USDT","decimals":6,"verified":true},`+
		`"amount":"%d500000","amount_decimal":"%d.5","flags":[],"solidified":true}`, testCursor(i), i, 68_000_000+i, i, i, removed, i, i)
}

// subJSON is a subscription as a list returns it; withAddresses adds the
// address set, as create, get and update return it.
func subJSON(id, label string) string {
	return fmt.Sprintf(`{"id":%q,"label":%q,"contracts":[],"kinds":["trc20_transfer"],"direction":"in","min_amount":null,"max_amount":null,`+
		`"only_success":true,"confirmations":19,"finality":"confirmations","exclude_flags":[],"only_verified":false,"start_block":null,`+
		`"all":false,"webhook":null,"metadata":null,"status":"active","address_count":2,"created_at":"2025-01-02T03:04:05Z",`+
		`"updated_at":"2025-01-02T03:04:05Z","webhook_disabled":null}`, id, label)
}

func withAddresses(sub string) string {
	return strings.TrimSuffix(sub, "}") + `,"addresses":["TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7","TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]}`
}

// testAddress returns the i-th of a series of distinct valid addresses.
func testAddress(i int) string {
	var a tron.Address
	a[0] = tron.AddressPrefix
	a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
	a[20] = 7
	return a.String()
}

// newKey is the key the fake creates: mt_ and 43 base64url characters.
var newKey = "mt_" + strings.Repeat("n", 43)

func (f *fakeEdge) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := apiRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if req.auth != "Bearer "+testKey && req.auth != "Bearer "+adminKey {
		apiError(w, 401, "invalid_api_key", "the API key is unknown or revoked")
		return
	}
	admin := req.auth == "Bearer "+adminKey
	switch keys := strings.HasPrefix(req.path, "/v1/keys"); {
	case keys && !admin:
		apiError(w, 403, "admin_key_required", "only the admin key may manage API keys")
		return
	case !keys && admin:
		apiError(w, 403, "tenant_key_required", "the admin key manages keys only; use a tenant's API key")
		return
	}
	route := req.method + " " + req.path
	switch {
	case route == "POST /v1/keys":
		var body struct{ Tenant string }
		if err := json.Unmarshal(b, &body); err != nil {
			apiError(w, 400, "invalid_json", "the body is not the JSON this route takes")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		reply(w, 201, fmt.Sprintf(`{"id":"key_1","tenant":%q,"key":%q}`, body.Tenant, newKey))
	case route == "DELETE /v1/keys/key_1":
		w.WriteHeader(204)
	case route == "POST /v1/subscriptions":
		w.Header().Set("Location", "/v1/subscriptions/"+testSubID)
		reply(w, 201, withAddresses(subJSON(testSubID, "created")))
	case route == "GET /v1/subscriptions":
		switch r.URL.Query().Get("cursor") {
		case "":
			reply(w, 200, `{"subscriptions":[`+subJSON("sub_1", "one")+`],"next":"sub_1"}`)
		default:
			reply(w, 200, `{"subscriptions":[`+subJSON("sub_2", "")+`],"next":null}`)
		}
	case route == "GET /v1/subscriptions/sub_1", route == "PATCH /v1/subscriptions/sub_1":
		reply(w, 200, withAddresses(subJSON(testSubID, "one")))
	case route == "DELETE /v1/subscriptions/sub_1":
		w.WriteHeader(204)
	case route == "POST /v1/subscriptions/sub_1/addresses", route == "DELETE /v1/subscriptions/sub_1/addresses":
		var body struct{ Addresses []string }
		if err := json.Unmarshal(b, &body); err != nil {
			apiError(w, 400, "invalid_json", "the body is not the JSON this route takes")
			return
		}
		if len(body.Addresses) > 10_000 {
			apiError(w, 422, "too_many_addresses", "over 10,000")
			return
		}
		f.mu.Lock()
		n := len(body.Addresses)
		field := "added"
		if req.method == "DELETE" {
			f.addrs -= n
			field = "removed"
		} else {
			f.addrs += n
		}
		count := f.addrs
		f.mu.Unlock()
		reply(w, 200, fmt.Sprintf(`{"subscription_id":"sub_1",%q:%d,"address_count":%d}`, field, n, count))
	case route == "GET /v1/subscriptions/sub_1/addresses":
		if r.URL.Query().Get("cursor") == "" {
			reply(w, 200, `{"addresses":["TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"],"next":"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"}`)
			return
		}
		reply(w, 200, `{"addresses":["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"],"next":null}`)
	case route == "GET /v1/subscriptions/sub_1/events":
		switch r.URL.Query().Get("after") {
		case "":
			reply(w, 200, `{"events":[`+testEvent(1, false)+`,`+testEvent(2, false)+`],"next":"`+testCursor(2)+`"}`)
		case testCursor(2):
			reply(w, 200, `{"events":[`+testEvent(3, true)+`],"next":null}`)
		default:
			apiError(w, 400, "invalid_cursor", "after: not a cursor")
		}
	case route == "GET /v1/subscriptions/sub_1/stream":
		f.stream(w, r)
	case strings.HasPrefix(req.path, "/v1/subscriptions/"):
		apiError(w, 404, "not_found", "subscription not found")
	default:
		apiError(w, 404, "not_found", "no route")
	}
}

func (f *fakeEdge) stream(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.afters)
	f.afters = append(f.afters, r.URL.Query().Get("after"))
	script := []string{"close:4404"}
	if n < len(f.sessions) {
		script = f.sessions[n]
	}
	f.mu.Unlock()
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","subscription_id":"sub_1","resumed":true,"heartbeat_s":15}`))
	for _, m := range script {
		if code, ok := strings.CutPrefix(m, "close:"); ok {
			c, err := strconv.Atoi(code)
			if err != nil {
				f.t.Errorf("bad scripted close %q", m)
			}
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c, "scripted"), time.Now().Add(time.Second))
			break
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(m))
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

func TestRun_apiErrors(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"no URL", []string{"MONGOTRON_API_KEY=k"}, []string{"subs", "list"}, service.ExitUsage, "give --url or set MONGOTRON_URL"},
		{"no key", []string{"MONGOTRON_URL=" + f.srv.URL}, []string{"subs", "list"}, service.ExitUsage, "give --api-key or set MONGOTRON_API_KEY"},
		{"bad URL", []string{"MONGOTRON_URL=ftp://x", "MONGOTRON_API_KEY=k"}, []string{"subs", "list"}, service.ExitUsage, "--url"},
		{"no group command", f.env(), []string{"subs"}, service.ExitUsage, "Usage: mongotron subs"},
		{"unknown group command", f.env(), []string{"subs", "frobnicate"}, service.ExitUsage, `unknown command "frobnicate"`},
		{"missing argument", f.env(), []string{"subs", "show"}, service.ExitUsage, "missing arguments"},
		{"extra argument", f.env(), []string{"subs", "show", "a", "b"}, service.ExitUsage, `unexpected argument "b"`},
		{"unknown flag", f.env(), []string{"tail", "sub_1", "--nope"}, service.ExitUsage, "nope"},
		{"bad cursor", f.env(), []string{"tail", "sub_1", "--after", "xyz"}, service.ExitUsage, "--after"},
		{"bad format", f.env(), []string{"history", "sub_1", "--format", "xml"}, service.ExitUsage, "want auto, table or json"},
		{"bad metadata", f.env(), []string{"subs", "create", "--kind", "trx_transfer", "--metadata", "[1]"}, service.ExitUsage, "JSON object"},
		{"set and clear", f.env(), []string{"subs", "update", "sub_1", "--min-amount", "1", "--clear", "min-amount"}, service.ExitUsage, "both set and cleared"},
		{"bad clear", f.env(), []string{"subs", "update", "sub_1", "--clear", "label"}, service.ExitUsage, "--clear"},
		{"not found", f.env(), []string{"subs", "show", "sub_absent"}, service.ExitFailure, "not_found: subscription not found [HTTP 404]"},
		{"wrong key", []string{"MONGOTRON_URL=" + f.srv.URL, "MONGOTRON_API_KEY=wrong"}, []string{"subs", "list"}, service.ExitFailure, "check --api-key"},
		{"tenant key on keys", f.env(), []string{"keys", "create", "acme"}, service.ExitFailure, "admin_key_required"},
		{"no tenant", f.env(), []string{"keys", "create"}, service.ExitUsage, "missing TENANT"},
		{"no addresses", f.env(), []string{"addrs", "add", "sub_1"}, service.ExitUsage, "no addresses"},
		{"unreachable edge", []string{"MONGOTRON_URL=http://127.0.0.1:1", "MONGOTRON_API_KEY=k"}, []string{"subs", "show", "sub_1"}, service.ExitFailure, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t.Context(), t, tc.env, tc.args...)
			require.Equal(t, tc.code, r.code, "stdout %s stderr %s", r.stdout, r.stderr)
			require.Contains(t, r.stderr, tc.stderr)
			if !strings.HasPrefix(r.stderr, "Usage") {
				require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line: %q", r.stderr)
			}
		})
	}
}

func TestRun_help(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"subs", "--help"}, {"subs", "create", "--help"}, {"addrs", "add", "-h"}, {"tail", "--help"}, {"history", "--help"}, {"keys", "help"}, {"help", "tail"}} {
		r := run(t.Context(), t, nil, args...)
		require.Equal(t, service.ExitOK, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stdout, "Usage", args)
	}
	r := run(t.Context(), t, nil, "tail", "--help")
	require.Contains(t, r.stdout, "MONGOTRON_URL")
	require.Contains(t, r.stdout, "MONGOTRON_API_KEY")
}

func TestKeys(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	env := []string{"MONGOTRON_URL=" + f.srv.URL, "MONGOTRON_API_KEY=" + testKey}
	// The flag wins over the environment.
	r := run(t.Context(), t, env, "keys", "create", "acme", "--api-key", adminKey)
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.JSONEq(t, `{"id":"key_1","tenant":"acme","key":"`+newKey+`"}`, r.stdout)
	r = run(t.Context(), t, env, "keys", "create", "--tenant=beta", "--api-key="+adminKey)
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	r = run(t.Context(), t, env, "keys", "revoke", "key_1", "--api-key", adminKey)
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, "revoked key_1\n", r.stdout)
	reqs := f.requests()
	require.JSONEq(t, `{"tenant":"acme"}`, reqs[0].body)
	require.JSONEq(t, `{"tenant":"beta"}`, reqs[1].body)
	require.Equal(t, "DELETE", reqs[2].method)
}

func TestSubs(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	ctx := t.Context()

	r := run(ctx, t, f.env(), "subs", "create", "--label", "deposits", "--kind", "trc20_transfer,trx_transfer",
		"--contract", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "--address", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
		"--direction", "in", "--min-amount", "1000000", "--confirmations", "0", "--metadata", `{"team":"payments"}`,
		"--webhook-url", "https://example.com/hook", "--webhook-secret", "s3cret")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &created))
	require.Equal(t, testSubID, created["id"])
	require.JSONEq(t, `{"label":"deposits","kinds":["trc20_transfer","trx_transfer"],"contracts":["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"],
		"addresses":["TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"],"direction":"in","min_amount":"1000000","confirmations":0,
		"metadata":{"team":"payments"},"webhook":{"url":"https://example.com/hook","secret":"s3cret"}}`, f.requests()[0].body)

	// A list walks every page; piped, it is JSON lines.
	r = run(ctx, t, f.env(), "subs", "list")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[1], `"id":"sub_2"`)
	r = run(ctx, t, f.env(), "subs", "list", "--format", "table")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Regexp(t, `(?m)^ID\s+LABEL\s+STATUS`, r.stdout)
	require.Regexp(t, `(?m)^sub_2\s+-\s+active\s+2\s+0\s+trc20_transfer\s+19`, r.stdout)

	r = run(ctx, t, f.env(), "subs", "show", "sub_1")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"label":"one"`)

	before := len(f.requests())
	r = run(ctx, t, f.env(), "subs", "update", "sub_1", "--label", "renamed", "--clear", "webhook,min-amount", "--only-success=false")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.JSONEq(t, `{"label":"renamed","webhook":null,"min_amount":null,"only_success":false}`, f.requests()[before].body)
	require.Equal(t, "PATCH", f.requests()[before].method)

	r = run(ctx, t, f.env(), "subs", "delete", "sub_1")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, "deleted sub_1\n", r.stdout)
}

func TestSubs_createManyAddresses(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	path := filepath.Join(t.TempDir(), "addrs.txt")
	var b strings.Builder
	b.WriteString("# watched wallets\n")
	for i := range 12_345 {
		fmt.Fprintf(&b, "%s\n", testAddress(i))
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	r := run(t.Context(), t, f.env(), "subs", "create", "--addresses-file", path, "--kind", "trx_transfer")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	reqs := f.requests()
	require.Len(t, reqs, 3, "create with 10,000, add the rest, read it back")
	require.Equal(t, 10_000, strings.Count(reqs[0].body, `"T`))
	require.Equal(t, "POST /v1/subscriptions/sub_1/addresses", reqs[1].method+" "+reqs[1].path)
	require.Equal(t, 2_345, strings.Count(reqs[1].body, `"T`))
}

func TestAddrs(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	path := filepath.Join(t.TempDir(), "addrs.txt")
	var b strings.Builder
	for i := range 25_000 {
		fmt.Fprintf(&b, "%s, ", testAddress(i))
		if i%7 == 0 {
			b.WriteString("\n")
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	r := run(t.Context(), t, f.env(), "addrs", "add", "sub_1", testAddress(100_000), testAddress(100_001), "--file", path)
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, "added 25002 of 25002 addresses in 3 call(s); the subscription now has 25002\n", r.stdout)
	var sizes []int
	for _, q := range f.requests() {
		sizes = append(sizes, strings.Count(q.body, `"T`))
	}
	require.Equal(t, []int{10_000, 10_000, 5_002}, sizes)

	r = run(t.Context(), t, f.env(), "addrs", "remove", "sub_1", testAddress(100_000))
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, "removed 1 of 1 addresses in 1 call(s); the subscription now has 25001\n", r.stdout)

	r = run(t.Context(), t, f.env(), "addrs", "list", "sub_1", "--page-size", "1")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7\nTR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t\n", r.stdout)

	r = run(t.Context(), t, f.env(), "addrs", "add", "sub_absent", testAddress(100_000))
	require.Equal(t, service.ExitFailure, r.code)
	require.Contains(t, r.stderr, "not_found")
}

func TestHistory(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	r := run(t.Context(), t, f.env(), "history", "sub_1", "--kind", "trc20_transfer", "--page-size", "2")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	for i, l := range lines {
		require.JSONEq(t, testEvent(i+1, i == 2), l)
	}
	require.Equal(t, "kind=trc20_transfer&limit=2", f.requests()[0].query)

	r = run(t.Context(), t, f.env(), "history", "sub_1", "--format", "table", "--max", "3")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Regexp(t, `(?m)^TIME \(UTC\)\s+BLOCK\s+KIND\s+AMOUNT\s+FROM\s+TO\s+TX\s+CONF`, r.stdout)
	require.Contains(t, r.stdout, "2025-01-02 03:04:05    68000001  trc20_transfer")
	require.Contains(t, r.stdout, "1.5 USDT")
	require.Contains(t, r.stdout, "TR7NHq…gjLj6t →")
	require.Contains(t, r.stdout, "REMOVED")
	require.Contains(t, r.stderr, "continue with --after "+testCursor(3))

	r = run(t.Context(), t, f.env(), "history", "sub_1", "--max", "1")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"))
}

func TestTail(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	f.sessions = [][]string{
		{testEvent(2, false), testEvent(3, false), "close:1012"},
		{testEvent(3, false), testEvent(4, true)}, // the seam replays 3; then it hangs
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr servicetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"tail", "sub_1", "--after", testCursor(1)}, f.env(), &stdout, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(stdout.String(), "\n") < 3 {
		require.True(t, time.Now().Before(deadline), "tail printed %q; stderr %q", stdout.String(), stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // Ctrl-C
	select {
	case code := <-done:
		require.Equal(t, service.ExitOK, code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not stop on cancel")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 3, "no duplicate at the seam")
	for i, l := range lines {
		require.JSONEq(t, testEvent(i+2, i == 2), l)
	}
	f.mu.Lock()
	require.Equal(t, []string{testCursor(1), testCursor(3)}, f.afters)
	f.mu.Unlock()
	require.Contains(t, stderr.String(), "reconnecting in")
	require.Contains(t, stderr.String(), "reconnected; resuming after "+testCursor(3))
	require.Contains(t, stderr.String(), "resume with --after "+testCursor(4))
}

func TestTail_deleted(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	f.sessions = [][]string{{testEvent(1, false), "close:4404"}}
	r := run(t.Context(), t, f.env(), "tail", "sub_1", "--format", "table")
	require.Equal(t, service.ExitFailure, r.code)
	require.Contains(t, r.stderr, "the subscription was deleted")
	require.Contains(t, r.stdout, "trc20_transfer")
	require.Contains(t, r.stdout, "1.5 USDT")
}
