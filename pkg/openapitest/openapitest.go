// Package openapitest checks HTTP traffic against the OpenAPI document of
// the edge's REST API (docs/openapi.yaml) in tests: the edge's own tests
// wrap their server with [Doc.Handler], the end-to-end tests their proxy's
// transport with [Doc.Transport], and the test doubles of the client and
// the command-line tool wrap theirs too, so that every response any of them
// sees, and every request a client makes, is held to the one document.
//
// Validation is kin-openapi's (openapi3filter), with every status code
// required to be declared, plus what the document says in words: a
// response declared without a body has none, and the router's own answers
// (404 for a path no route has, 405 and OPTIONS for a method a path does
// not have) carry the error body and an Allow header naming exactly the
// documented methods.
package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Doc is a loaded and validated OpenAPI document.
type Doc struct {
	spec   *openapi3.T
	router routers.Router
}

// Load reads the document at path and validates it: its structure, its
// references, and every example against its schema.
func Load(path string) (*Doc, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load %s: %w", path, err)
	}
	if !spec.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapitest: %s is OpenAPI %s, want 3.1", path, spec.OpenAPI)
	}
	if err := spec.Validate(loader.Context, openapi3.EnableExamplesValidation(), openapi3.EnableSchemaFormatValidation()); err != nil {
		return nil, fmt.Errorf("openapitest: %s is not a valid document: %w", path, err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("openapitest: route %s: %w", path, err)
	}
	return &Doc{spec: spec, router: router}, nil
}

// Spec returns the document.
func (d *Doc) Spec() *openapi3.T { return d.spec }

// Operation is one documented method of one path, with the status codes
// it declares.
type Operation struct {
	Method, Path, ID string
	Statuses         []string
}

// Operations returns every documented operation, sorted by path and
// method.
func (d *Doc) Operations() []Operation {
	var out []Operation
	for _, path := range slices.Sorted(maps.Keys(d.spec.Paths.Map())) {
		for method, op := range d.spec.Paths.Value(path).Operations() {
			out = append(out, Operation{
				Method: method, Path: path, ID: op.OperationID,
				Statuses: slices.Sorted(maps.Keys(op.Responses.Map())),
			})
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return out
}

// Exchange is one request and the response it got.
type Exchange struct {
	Request *http.Request
	// RequestBody is the request's body, already read.
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Route names the documented operation an exchange matched: its method
// and path template, such as "GET" and "/v1/subscriptions/{id}".
type Route struct{ Method, Path string }

// CheckResponse validates x's response against the document and returns
// the route it matched (zero for the router's own answers).
func (d *Doc) CheckResponse(x Exchange) (Route, error) {
	r, err := d.checkResponse(x)
	if err != nil {
		return r, fmt.Errorf("openapitest: %w", err)
	}
	return r, nil
}

func (d *Doc) checkResponse(x Exchange) (Route, error) {
	route, params, err := d.router.FindRoute(x.Request)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return Route{}, d.checkRouterAnswer(x, http.StatusNotFound, "not_found", nil)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		allowed := d.methods(x.Request)
		if x.Request.Method == http.MethodOptions {
			return Route{}, d.checkOptions(x, allowed)
		}
		return Route{}, d.checkRouterAnswer(x, http.StatusMethodNotAllowed, "method_not_allowed", allowed)
	case err != nil:
		return Route{}, fmt.Errorf("find the route: %w", err)
	}
	r := Route{Method: route.Method, Path: route.Path}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.Request, PathParams: params, Route: route},
		Status:                 x.Status,
		Header:                 x.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
		},
	}
	in.SetBodyBytes(x.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return r, err
	}
	// kin-openapi skips a response declared without content; the
	// document means "no body" by it.
	if resp := route.Operation.Responses.Status(x.Status); resp != nil && resp.Value != nil && len(resp.Value.Content) == 0 && len(x.Body) > 0 {
		return r, fmt.Errorf("status %d is declared without a body, got %q", x.Status, clip(x.Body))
	}
	if x.Request.Method == http.MethodHead && len(x.Body) > 0 {
		return r, fmt.Errorf("a HEAD answer has a body: %q", clip(x.Body))
	}
	return r, nil
}

// CheckRequest validates a request against the document: a documented
// route and method, parameters, a key where the route needs one, and the
// body.
func (d *Doc) CheckRequest(r *http.Request, body []byte) (Route, error) {
	route, params, err := d.router.FindRoute(r)
	if err != nil {
		return Route{}, fmt.Errorf("openapitest: %s %s is not in the document: %w", r.Method, r.URL.Path, err)
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: authenticate},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return Route{Method: route.Method, Path: route.Path}, fmt.Errorf("openapitest: %w", err)
	}
	return Route{Method: route.Method, Path: route.Path}, nil
}

// CheckWebhook validates a request the server made to a webhook receiver
// against the document's webhook name (under `webhooks`): its method,
// headers and body.
func (d *Doc) CheckWebhook(name string, r *http.Request, body []byte) error {
	item := d.spec.Webhooks[name]
	if item == nil {
		return fmt.Errorf("openapitest: the document has no webhook %q", name)
	}
	op := item.GetOperation(r.Method)
	if op == nil {
		return fmt.Errorf("openapitest: webhook %q has no %s", name, r.Method)
	}
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: d.spec, Path: name, PathItem: item, Method: r.Method, Operation: op},
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: authenticate},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return fmt.Errorf("openapitest: webhook %q: %w", name, err)
	}
	return nil
}

// authenticate checks that a request carries its key the way the security
// scheme says; whether the key is good is the server's business.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		scheme, key, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
			return errors.New("no Authorization: Bearer <key>")
		}
	case s.Type == "apiKey" && s.In == "query":
		if in.RequestValidationInput.Request.URL.Query().Get(s.Name) == "" {
			return fmt.Errorf("no ?%s=", s.Name)
		}
	default:
		return fmt.Errorf("security scheme %s %s is not checked here", s.Type, s.In)
	}
	return nil
}

// methods returns the documented methods of the path r asks for: the
// router found the path but not the method, so one of its paths answers
// to r's path with one of its own methods.
func (d *Doc) methods(r *http.Request) []string {
	probe := r.Clone(r.Context())
	for _, path := range d.spec.Paths.InMatchingOrder() {
		ops := d.spec.Paths.Value(path).Operations()
		for method := range ops {
			probe.Method = method
			if route, _, err := d.router.FindRoute(probe); err == nil && route.Path == path {
				return slices.Sorted(maps.Keys(ops))
			}
		}
	}
	return nil
}

// checkRouterAnswer checks a refusal by the router: the status, the error
// body with code (none to a HEAD), and the Allow header of a 405.
func (d *Doc) checkRouterAnswer(x Exchange, status int, code string, allowed []string) error {
	if x.Status != status {
		return fmt.Errorf("%s %s is not in the document, so the router answers %d %s; got %d", x.Request.Method, x.Request.URL.Path, status, code, x.Status)
	}
	if allowed != nil {
		if got := allowHeader(x.Header); !slices.Equal(got, allowed) {
			return fmt.Errorf("405 Allow: %v, but the document has %v", got, allowed)
		}
	}
	if x.Request.Method == http.MethodHead {
		if len(x.Body) > 0 {
			return fmt.Errorf("a HEAD answer has a body: %q", clip(x.Body))
		}
		return nil
	}
	return d.checkError(x, code)
}

// checkOptions checks echo's answer to OPTIONS: 204 with Allow.
func (d *Doc) checkOptions(x Exchange, allowed []string) error {
	if x.Status != http.StatusNoContent {
		return fmt.Errorf("OPTIONS %s: got %d, want 204", x.Request.URL.Path, x.Status)
	}
	if got := allowHeader(x.Header); !slices.Equal(got, allowed) {
		return fmt.Errorf("OPTIONS Allow: %v, but the document has %v", got, allowed)
	}
	return nil
}

// allowHeader returns the methods of an Allow header, sorted, without
// OPTIONS (which every path answers).
func allowHeader(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Allow") {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m != "" && m != http.MethodOptions {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkError checks an error body against the document's Error schema and
// its code.
func (d *Doc) checkError(x Exchange, code string) error {
	if ct := x.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("an error answer has Content-Type %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(x.Body, &v); err != nil {
		return fmt.Errorf("an error answer is not JSON: %w: %q", err, clip(x.Body))
	}
	schema := d.spec.Components.Schemas["Error"]
	if schema == nil || schema.Value == nil {
		return errors.New("the document has no Error schema")
	}
	if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("the error body does not match Error: %w", err)
	}
	if got := v.(map[string]any)["error"].(map[string]any)["code"]; got != code {
		return fmt.Errorf("error code %v, want %s", got, code)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "…"
	}
	return string(b)
}

// Options tunes [Doc.Handler] and [Doc.Transport].
type Options struct {
	// Requests validates requests too: for clients and their test
	// doubles, whose requests must follow the document. A server's own
	// tests send bad requests on purpose, and leave it off.
	Requests bool
	// Outside reports requests the document does not cover (the edge's
	// web viewer), which are passed through unchecked.
	Outside func(*http.Request) bool
}

// Handler returns h with every exchange checked; a failure fails tb. A
// response is held until it is checked, so the client never sees one
// that has not been. A WebSocket upgrade is checked when its 101 has been
// written to the hijacked connection.
func (d *Doc) Handler(tb testing.TB, h http.Handler, o Options) http.Handler {
	tb.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Outside != nil && o.Outside(r) {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			tb.Errorf("openapitest: read the request body of %s %s: %v", r.Method, r.URL, err)
			return
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if o.Requests {
			if _, err := d.CheckRequest(r, body); err != nil {
				tb.Errorf("request %s %s does not follow the document: %v", r.Method, r.URL, err)
			}
		}
		rec := &recorder{w: w, header: http.Header{}}
		rec.check = func(status int, header http.Header, respBody []byte) {
			d.report(tb, Exchange{Request: r, RequestBody: body, Status: status, Header: header, Body: respBody})
		}
		h.ServeHTTP(rec, r)
		rec.finish()
	})
}

// Transport returns rt with every exchange checked; a failure fails tb.
func (d *Doc) Transport(tb testing.TB, rt http.RoundTripper, o Options) http.RoundTripper {
	tb.Helper()
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if o.Outside != nil && o.Outside(r) {
			return rt.RoundTrip(r)
		}
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				return nil, fmt.Errorf("openapitest: read the request body: %w", err)
			}
			_ = r.Body.Close()
			r = r.Clone(r.Context())
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if o.Requests {
			if _, err := d.CheckRequest(r, body); err != nil {
				tb.Errorf("request %s %s does not follow the document: %v", r.Method, r.URL, err)
			}
		}
		resp, err := rt.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		var respBody []byte
		if resp.StatusCode != http.StatusSwitchingProtocols {
			// A 101's body is the connection itself.
			respBody, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("openapitest: read the response body: %w", err)
			}
			resp.Body = io.NopCloser(bytes.NewReader(respBody))
		}
		d.report(tb, Exchange{Request: r, RequestBody: body, Status: resp.StatusCode, Header: resp.Header, Body: respBody})
		return resp, nil
	})
}

func (d *Doc) report(tb testing.TB, x Exchange) {
	tb.Helper()
	if _, err := d.CheckResponse(x); err != nil {
		tb.Errorf("%s %s answered %d, which the document does not allow: %v\nbody: %s",
			x.Request.Method, x.Request.URL, x.Status, err, clip(x.Body))
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recorder holds a response until the handler returns, then checks it and
// sends it on. A hijacked connection is watched instead, and checked once
// the response head written to it is complete.
type recorder struct {
	w      http.ResponseWriter
	header http.Header
	status int
	body   bytes.Buffer
	check  func(status int, header http.Header, body []byte)

	hijacked bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Flush is a no-op: the response is sent whole, once checked.
func (r *recorder) Flush() {}

// Hijack hands the connection over; the response head the handler writes
// on it is checked as soon as it is complete.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("openapitest: the response writer cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.hijacked = true
	wc := &watchedConn{Conn: conn, check: r.check}
	return wc, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(wc)), nil
}

func (r *recorder) finish() {
	if r.hijacked {
		return
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.check(r.status, r.header, r.body.Bytes())
	maps.Copy(r.w.Header(), r.header)
	r.w.WriteHeader(r.status)
	_, _ = r.w.Write(r.body.Bytes())
}

// watchedConn is a hijacked connection whose first bytes, the response
// head, are parsed and checked once complete.
type watchedConn struct {
	net.Conn
	check func(status int, header http.Header, body []byte)

	mu   sync.Mutex
	head []byte
	done bool
}

func (c *watchedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if !c.done {
		c.head = append(c.head, b...)
		if i := bytes.Index(c.head, []byte("\r\n\r\n")); i >= 0 {
			c.done = true
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.head[:i+4])), nil)
			if err != nil {
				c.check(0, http.Header{}, c.head)
			} else {
				_ = resp.Body.Close()
				c.check(resp.StatusCode, resp.Header, nil)
			}
			c.head = nil
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}
