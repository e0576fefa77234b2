// Package client is the Go client of Mongotron's public API (docs/api.md): the
// REST calls for API keys, subscriptions, their address sets and their
// history, and a WebSocket [Stream] that reconnects on its own and resumes
// from the last cursor it delivered, so a caller sees every event once, in
// order, across edge restarts and network failures. Every event names its
// predecessor (PrevCursor): the stream checks each link and mends a break
// by resuming, and webhook receivers check theirs with [VerifyChain] and
// fetch what is missing with [Client.FetchMissing].
//
// Errors of the REST API come back as [*APIError]; test them with
// errors.Is against [ErrNotFound], [ErrUnauthorized], [ErrRateLimited] and
// the other sentinels, or with errors.As for the code and message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds one REST call of the default HTTP client.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent unless [UserAgent] says otherwise.
	DefaultUserAgent = "mongotron-go-client/1"
	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
)

// Client calls one Mongotron edge (or the load balancer in front of
// several). It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts options
}

// Option configures a [Client].
type Option func(*options) error

type options struct {
	apiKey    string
	hc        *http.Client
	userAgent string
}

func defaultOptions() options {
	return options{hc: &http.Client{Timeout: DefaultTimeout}, userAgent: DefaultUserAgent}
}

// APIKey sends key as the bearer token of every call and stream. The
// default is no key, which only /healthz accepts.
func APIKey(key string) Option {
	return func(o *options) error {
		if strings.ContainsAny(key, "\r\n ") {
			return errors.New("client: the API key holds spaces or line breaks")
		}
		o.apiKey = key
		return nil
	}
}

// HTTPClient makes REST calls with hc. The default is an http.Client with
// a [DefaultTimeout] timeout. Streams use hc's Transport proxy and TLS
// settings when it is an *http.Transport, but never its Timeout: a stream
// lasts.
func HTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("client: nil HTTP client")
		}
		o.hc = hc
		return nil
	}
}

// UserAgent sets the User-Agent header. The default is [DefaultUserAgent].
func UserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// New returns a client of the edge at baseURL (http or https, e.g.
// "https://mongotron.example.com"; a trailing slash or /v1 is dropped),
// configured by opts in order; the first failing option's error is
// returned.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: no query or fragment, please", baseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v1")
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Client{base: u, opts: o}, nil
}

// BaseURL returns the base URL the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// endpoint returns the URL of path (which starts with /v1, its ids
// escaped by [pathID]) with query q.
func (c *Client) endpoint(path string, q url.Values) string {
	s := c.base.String() + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// do sends one call and decodes a 2xx answer into out, when out is not
// nil; any other answer is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	c.setHeaders(req.Header)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.opts.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) setHeaders(h http.Header) {
	if c.opts.apiKey != "" {
		h.Set("Authorization", "Bearer "+c.opts.apiKey)
	}
	if c.opts.userAgent != "" {
		h.Set("User-Agent", c.opts.userAgent)
	}
}

// ListOptions pages through a list.
type ListOptions struct {
	// Cursor is the Next of the previous page. Empty means the first
	// page.
	Cursor string
	// Limit is the page size. Zero means the server's default (100);
	// the server refuses more than 1000.
	Limit int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Limit > 0 {
		q.Set("limit", fmt.Sprint(o.Limit))
	}
	return q
}

// pathID escapes an id for a path segment, so that an id holding "/" or
// "?" cannot reach another route.
func pathID(id string) string { return url.PathEscape(id) }
