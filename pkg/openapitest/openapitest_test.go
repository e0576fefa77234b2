package openapitest_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/internal/markdown"
	"github.com/mongotron/mongotron/pkg/openapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// docPath is the edge's document, seen from this package's directory.
const docPath = "../../docs/openapi.yaml"

func load(t *testing.T) *openapitest.Doc {
	t.Helper()
	d, err := openapitest.Load(docPath)
	require.NoError(t, err)
	return d
}

// sub is a subscription as the edge returns it, with extra fields spliced
// in at %s.
const sub = `{"id":"sub_0123","label":"","contracts":[],"kinds":["trx_transfer"],"direction":"any","min_amount":null,"max_amount":null,` +
	`"only_success":true,"confirmations":19,"finality":"confirmations","exclude_flags":[],"only_verified":false,"start_block":null,` +
	`"all":false,"webhook":null,"metadata":null,"status":"active","address_count":0,"created_at":"2025-01-02T03:04:05Z",` +
	`"updated_at":"2025-01-02T03:04:05Z","webhook_disabled":null%s}`

const eventJSON = `{"type":"event","cursor":"c1","id":"%064x:0","subscription_id":"sub_0123","kind":"trx_transfer","network":"mainnet",` +
	`"block":{"number":1,"id":"b","timestamp":"2025-01-02T03:04:05Z"},"tx_id":"%064x","tx_index":0,"index":0,"success":true,` +
	`"confirmations":19,"removed":false,"direction":"none","solidified":true%s}`

var (
	jsonCT = http.Header{"Content-Type": {"application/json"}}
	auth   = http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {`Bearer realm="mongotron"`}}
)

func errBody(code string) string { return `{"error":{"code":"` + code + `","message":"m"}}` }

// TestDoc_CheckResponse checks that the checker holds responses to the
// document: each wrong case must fail, each right one pass.
func TestDoc_CheckResponse(t *testing.T) {
	t.Parallel()
	d := load(t)
	list := func(s string) string { return `{"subscriptions":[` + s + `],"next":null}` }
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		wantErr            string // "" means valid
	}{
		{"list", "GET", "/v1/subscriptions", 200, jsonCT, list(fmt.Sprintf(sub, "")), ""},
		{"unknown fields are allowed", "GET", "/v1/subscriptions", 200, jsonCT, list(fmt.Sprintf(sub, `,"novel":{"at":"x"}`)), ""},
		{"a list leaves addresses out", "GET", "/v1/subscriptions", 200, jsonCT, list(fmt.Sprintf(sub, `,"addresses":[]`)), `"not"`},
		{"a required field missing", "GET", "/v1/subscriptions", 200, jsonCT, list(`{"id":"sub_1"}`), "missing properties 'label'"},
		{"a bad time", "GET", "/v1/subscriptions", 200, jsonCT, list(fmt.Sprintf(sub, `,"created_at":"yesterday"`)), "/created_at"},
		{"get has addresses", "GET", "/v1/subscriptions/sub_0123", 200, jsonCT, fmt.Sprintf(sub, `,"addresses":["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]`), ""},
		{"get without addresses", "GET", "/v1/subscriptions/sub_0123", 200, jsonCT, fmt.Sprintf(sub, ""), "missing property 'addresses'"},
		{"a hex address out", "GET", "/v1/subscriptions/sub_0123", 200, jsonCT, fmt.Sprintf(sub, `,"addresses":["4160bb513e91aa723a10a4020ae6fcce39bce7e240"]`), "/addresses/0"},
		{"an undeclared status", "GET", "/v1/subscriptions", 418, jsonCT, `{}`, "status is not supported"},
		{"401", "GET", "/v1/subscriptions", 401, auth, errBody("missing_api_key"), ""},
		{"401 without WWW-Authenticate", "GET", "/v1/subscriptions", 401, jsonCT, errBody("missing_api_key"), `"WWW-Authenticate" missing`},
		{"401 with another status's code", "GET", "/v1/subscriptions", 401, auth, errBody("not_found"), "/error/code"},
		{"an error body with more", "GET", "/v1/subscriptions/sub_1", 404, jsonCT, `{"error":{"code":"not_found","message":"m","hint":"h"}}`, "hint"},
		{"429 without Retry-After", "GET", "/v1/subscriptions", 429, jsonCT, errBody("rate_limited"), `"Retry-After" missing`},
		{"503 with Retry-After", "GET", "/v1/subscriptions", 503, http.Header{"Content-Type": {"application/json"}, "Retry-After": {"2"}}, errBody("store_unavailable"), ""},
		{"204", "DELETE", "/v1/subscriptions/sub_1", 204, http.Header{}, "", ""},
		{"204 with a body", "DELETE", "/v1/subscriptions/sub_1", 204, jsonCT, "{}", "declared without a body"},
		{"an event with a new field", "GET", "/v1/subscriptions/sub_1/events", 200, jsonCT, `{"events":[` + fmt.Sprintf(eventJSON, 1, 1, `,"prev_cursor":"","novel":1`) + `],"next":"c1"}`, ""},
		{"prev_cursor not a string", "GET", "/v1/subscriptions/sub_1/events", 200, jsonCT, `{"events":[` + fmt.Sprintf(eventJSON, 1, 1, `,"prev_cursor":1`) + `],"next":"c1"}`, "/prev_cursor"},
		{"an event without its block", "GET", "/v1/subscriptions/sub_1/events", 200, jsonCT, `{"events":[{"type":"event","cursor":"c"}],"next":null}`, "block"},
		{"101", "GET", "/v1/subscriptions/sub_1/stream", 101, http.Header{}, "", ""},
		{"no WebSocket handshake", "GET", "/v1/subscriptions/sub_1/stream", 400, jsonCT, errBody("websocket_required"), ""},
		{"the stream's 400 as plain text", "GET", "/v1/subscriptions/sub_1/stream", 400, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "Bad Request\n", "Content-Type"},
		{"metrics", "GET", "/metrics", 200, http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}}, "# HELP x\n", ""},
		{"metrics as JSON", "GET", "/metrics", 200, jsonCT, "{}", "Content-Type"},
		{"no route", "GET", "/v2/nothing", 404, jsonCT, errBody("not_found"), ""},
		{"no route, another status", "GET", "/v2/nothing", 200, jsonCT, `{}`, "router answers 404"},
		{"no route, not the error body", "GET", "/v2/nothing", 404, jsonCT, `{"error":"not found"}`, "Error"},
		{"405", "PUT", "/v1/subscriptions/sub_1", 405, http.Header{"Content-Type": {"application/json"}, "Allow": {"OPTIONS, DELETE, GET, PATCH"}}, errBody("method_not_allowed"), ""},
		{"405 with another Allow", "PUT", "/v1/subscriptions/sub_1", 405, http.Header{"Content-Type": {"application/json"}, "Allow": {"GET"}}, errBody("method_not_allowed"), "405 Allow"},
		{"HEAD 405 has no body", "HEAD", "/v1/subscriptions", 405, http.Header{"Allow": {"OPTIONS, GET, POST"}}, "", ""},
		{"OPTIONS", "OPTIONS", "/v1/keys/key_1", 204, http.Header{"Allow": {"OPTIONS, DELETE"}}, "", ""},
		{"OPTIONS with another Allow", "OPTIONS", "/v1/keys/key_1", 204, http.Header{"Allow": {"OPTIONS, DELETE, GET"}}, "", "OPTIONS Allow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, tc.path, nil)
			_, err := d.CheckResponse(openapitest.Exchange{Request: r, Status: tc.status, Header: tc.header, Body: []byte(tc.body)})
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestDoc_CheckRequest checks that requests are held to the document.
func TestDoc_CheckRequest(t *testing.T) {
	t.Parallel()
	d := load(t)
	tests := []struct {
		name, method, target, key, body string
		wantErr                         string
	}{
		{"create", "POST", "/v1/subscriptions", "k", `{"kinds":["trx_transfer"],"webhook":{"url":"https://h/x"}}`, ""},
		{"an unknown field", "POST", "/v1/subscriptions", "k", `{"kinds":["trx_transfer"],"adresses":[]}`, "adresses"},
		{"an unknown kind", "POST", "/v1/subscriptions", "k", `{"kinds":["nft_mint"]}`, "/kinds/0"},
		{"no key", "GET", "/v1/subscriptions", "", "", "Authorization"},
		{"the stream with a token", "GET", "/v1/subscriptions/sub_1/stream?token=k", "", "", ""},
		{"a token elsewhere", "GET", "/v1/subscriptions?token=k", "", "", "Authorization"},
		{"a limit too large", "GET", "/v1/subscriptions?limit=1001", "k", "", "limit"},
		{"no addresses", "POST", "/v1/subscriptions/sub_1/addresses", "k", `{"addresses":[]}`, "/addresses"},
		{"no such route", "GET", "/v1/nothing", "k", "", "not in the document"},
		{"health needs no key", "GET", "/healthz", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			if tc.key != "" {
				r.Header.Set("Authorization", "Bearer "+tc.key)
			}
			_, err := d.CheckRequest(r, []byte(tc.body))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// recordingTB collects what a check reports instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestDoc_Handler checks the server-side wrapper: a bad response is
// reported before the client gets it, a good one passes through intact,
// and a WebSocket upgrade is checked through the hijacked connection.
func TestDoc_Handler(t *testing.T) {
	t.Parallel()
	d := load(t)
	rec := &recordingTB{TB: t}
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(d.Handler(rec, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		case "/readyz":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`) // no Cache-Control
		case "/v1/subscriptions/sub_1/stream":
			ws, err := upgrader.Upgrade(w, r, nil)
			if err == nil {
				_ = ws.Close()
			}
		case "/":
			_, _ = io.WriteString(w, "<html>")
		}
	}), openapitest.Options{Requests: true, Outside: func(r *http.Request) bool { return r.URL.Path == "/" }}))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, body := get("/healthz")
	require.Equal(t, 200, status)
	require.JSONEq(t, `{"status":"ok"}`, body)
	require.Empty(t, rec.reported())

	status, _ = get("/readyz")
	require.Equal(t, 200, status)
	require.Len(t, rec.reported(), 1)
	require.Contains(t, rec.reported()[0], `"Cache-Control" missing`)

	status, body = get("/")
	require.Equal(t, 200, status)
	require.Equal(t, "<html>", body)
	require.Len(t, rec.reported(), 1, "outside the document: not checked")

	// The upgrade: the request lacks a key (reported), the 101 is fine.
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/subscriptions/sub_1/stream", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	_ = ws.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	errs := rec.reported()
	require.Len(t, errs, 2, "%q", errs)
	require.Contains(t, errs[1], "request GET /v1/subscriptions/sub_1/stream does not follow the document")
}

// TestDoc_Transport checks the client-side wrapper.
func TestDoc_Transport(t *testing.T) {
	t.Parallel()
	d := load(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"not_here","message":"m"}}`)
	}))
	defer srv.Close()
	rec := &recordingTB{TB: t}
	hc := &http.Client{Transport: d.Transport(rec, http.DefaultTransport, openapitest.Options{})}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(srv.URL + "/v1/subscriptions/sub_1")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.JSONEq(t, `{"error":{"code":"not_here","message":"m"}}`, string(b), "the body reaches the caller intact")
	errs := rec.reported()
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "/error/code")
}

// mdLink matches an inline Markdown link's target in the document's
// descriptions.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDoc_linksResolve checks that every relative link of the document's
// descriptions names a file of docs/ and, into a Markdown page, one of its
// headings: the document points into api.md for the words.
func TestDoc_linksResolve(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(docPath)
	require.NoError(t, err)
	docs := os.DirFS(filepath.Dir(docPath))
	links := mdLink.FindAllStringSubmatch(string(text), -1)
	require.NotEmpty(t, links)
	for _, m := range links {
		target := m[1]
		path, frag, _ := strings.Cut(target, "#")
		if path == "" {
			continue // a reference inside the document itself
		}
		page, err := fs.ReadFile(docs, path)
		require.NoError(t, err, "docs/openapi.yaml links %q, which is no file of docs/", target)
		if frag != "" && strings.HasSuffix(path, ".md") {
			require.True(t, markdown.Anchors(string(page))[frag], "docs/openapi.yaml links %q: no such heading", target)
		}
	}
}

// TestDoc_enumsMatchTheContract checks the document's lists against their
// sources: the error codes against docs/api.md's table (the contract), the
// validation codes against pkg/subscription, and the kinds and flags
// requests may name against pkg/event.
func TestDoc_enumsMatchTheContract(t *testing.T) {
	t.Parallel()
	schemas := load(t).Spec().Components.Schemas
	enum := func(name string) []string {
		var out []string
		for _, v := range schemas[name].Value.Enum {
			out = append(out, v.(string))
		}
		return out
	}

	api, err := os.ReadFile(filepath.Join(filepath.Dir(docPath), "api.md"))
	require.NoError(t, err)
	table := regexp.MustCompile("(?s)\n\\| status \\| codes \\|\n(.*?)\n\n").FindSubmatch(api)
	require.NotNil(t, table, "docs/api.md has no error code table")
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllSubmatch(table[1], -1) {
		if c := string(m[1]); !slices.Contains(documented, c) {
			documented = append(documented, c)
		}
	}
	require.ElementsMatch(t, documented, enum("ErrorCode"), "ErrorCode and the codes of docs/api.md's error table")

	for _, c := range validationCodes(t) {
		require.Contains(t, enum("ErrorCode"), c, "pkg/subscription's %s is not in ErrorCode", c)
	}

	var kinds, flags []string
	for _, k := range event.Kinds() {
		kinds = append(kinds, string(k))
	}
	for _, f := range event.Flags() {
		flags = append(flags, string(f))
	}
	require.Equal(t, kinds, enum("KnownKind"), "KnownKind and event.Kinds()")
	require.Equal(t, flags, enum("KnownFlag"), "KnownFlag and event.Flags()")
}

// validationCodes returns the values of the Code* constants of
// pkg/subscription, the codes of its validation errors.
func validationCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "subscription", "validate.go"), nil, 0)
	require.NoError(t, err)
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				c, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				codes = append(codes, c)
			}
		}
		return true
	})
	require.NotEmpty(t, codes)
	return codes
}
