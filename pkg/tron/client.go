package tron

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mongotron/mongotron/pkg/backoff"
)

// Errors a [Client] call wraps. Test for them with errors.Is.
var (
	// ErrNotFound means the node has no such block or transaction: it
	// answered {} (over gRPC, an empty block or NotFound) for a block past
	// its head or an unknown transaction id.
	ErrNotFound = errors.New("tron: not found")
	// ErrRateLimited means the node kept answering 429 (over gRPC,
	// ResourceExhausted) until the retries ran out. The error is a
	// [*RateLimitError], which says how long the node asked to wait.
	ErrRateLimited = errors.New("tron: rate limited")
	// ErrBadResponse means the node answered 200 with something unusable:
	// malformed JSON or protobuf, an answer that contradicts the request,
	// an answer over the size limit, or java-tron's {"Error":"..."} (a
	// [*NodeError]). Such answers are not retried: asking again gets the
	// same answer.
	ErrBadResponse = errors.New("tron: bad response")
	// ErrCallFailed means a constant contract call ran but failed: the
	// contract reverted, has no such function, or the address holds no
	// contract. The error is a [*CallError].
	ErrCallFailed = errors.New("tron: contract call failed")
)

// HTTPError is a non-2xx answer that was not retried or that was still
// failing when the retries ran out.
type HTTPError struct {
	// Path is the API path called, e.g. /wallet/getnowblock.
	Path string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Body is the start of the response body, valid UTF-8, for logs.
	Body string
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("tron: %s: HTTP %d", e.Path, e.StatusCode)
	}
	return fmt.Sprintf("tron: %s: HTTP %d: %s", e.Path, e.StatusCode, e.Body)
}

// GRPCError is a gRPC status other than OK that was not retried or that
// was still failing when the retries ran out: the gRPC counterpart of
// [HTTPError].
type GRPCError struct {
	// Method is the gRPC full method name called, e.g.
	// /protocol.Wallet/GetBlockByNum2.
	Method string
	// Code is the status code.
	Code codes.Code
	// Message is the status message, for logs.
	Message string
}

// Error implements error.
func (e *GRPCError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("tron: %s: gRPC %s", e.Method, e.Code)
	}
	return fmt.Sprintf("tron: %s: gRPC %s: %s", e.Method, e.Code, e.Message)
}

// GRPCStatus returns the status, so that status.FromError and
// status.Code read it.
func (e *GRPCError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// RateLimitError is returned when the node still refused for its rate
// limit after the last retry: HTTP 429, or gRPC ResourceExhausted. It
// matches [ErrRateLimited] and unwraps to the [*HTTPError] or [*GRPCError]
// of the last answer.
type RateLimitError struct {
	// RetryAfter is what the node's last Retry-After header (over gRPC, a
	// retry-after header or trailer) asked for, uncapped; zero when it
	// sent none.
	RetryAfter time.Duration
	// HTTP is the last 429 answer of an HTTP node, else nil.
	HTTP *HTTPError
	// GRPC is the last ResourceExhausted status of a gRPC node, else nil.
	GRPC *GRPCError
}

// Error implements error.
func (e *RateLimitError) Error() string {
	path := ""
	if e.HTTP != nil {
		path = " " + e.HTTP.Path
	} else if e.GRPC != nil {
		path = " " + e.GRPC.Method
	}
	if e.RetryAfter > 0 {
		return fmt.Sprintf("tron:%s: rate limited, retry after %v", path, e.RetryAfter)
	}
	return fmt.Sprintf("tron:%s: rate limited", path)
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns the last refusal: the [*HTTPError] or the [*GRPCError].
func (e *RateLimitError) Unwrap() error {
	if e.HTTP != nil {
		return e.HTTP
	}
	if e.GRPC != nil {
		return e.GRPC
	}
	return nil
}

// NodeError is java-tron's way of failing with status 200: a body of
// {"Error":"..."}. It unwraps to [ErrBadResponse].
type NodeError struct {
	// Path is the API path called.
	Path string
	// Message is the node's error text.
	Message string
}

// Error implements error.
func (e *NodeError) Error() string {
	return fmt.Sprintf("tron: %s: node error: %s", e.Path, e.Message)
}

// Unwrap returns [ErrBadResponse].
func (e *NodeError) Unwrap() error { return ErrBadResponse }

// CallError is a constant contract call the node ran and that failed. It
// unwraps to [ErrCallFailed].
type CallError struct {
	// Code is java-tron's response code (CONTRACT_VALIDATE_ERROR,
	// CONTRACT_EXE_ERROR, OTHER_ERROR, …) or "REVERT" when the call ran and
	// reverted.
	Code string
	// Message is the node's explanation, decoded from hex when it was hex.
	Message string
	// Data is the revert data, if any.
	Data []byte
}

// Error implements error.
func (e *CallError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("tron: contract call failed: %s", e.Code)
	}
	return fmt.Sprintf("tron: contract call failed: %s: %s", e.Code, e.Message)
}

// Unwrap returns [ErrCallFailed].
func (e *CallError) Unwrap() error { return ErrCallFailed }

// CallInfo describes one attempt of one call, for [ClientConfig.Observer].
type CallInfo struct {
	// Path is the API path, e.g. /wallet/getblockbynum, or over gRPC the
	// full method name, e.g. /protocol.Wallet/GetBlockByNum2. It carries
	// no block number or id, so it is safe as a metric label.
	Path string
	// Attempt counts from 1.
	Attempt int
	// Duration is the time from sending the request to having decoded the
	// answer (or failed).
	Duration time.Duration
	// StatusCode is the HTTP status, or 0 when no answer came. Over gRPC
	// it is the HTTP status the gRPC code maps to (OK 200, NotFound 404,
	// ResourceExhausted 429, Unavailable 503, Internal and Unknown 500,
	// …), so that metrics by status class read alike for both.
	StatusCode int
	// Code is the gRPC status code's name (OK, Unavailable, …) of an
	// attempt that got an answer over gRPC; empty over HTTP.
	Code string
	// Err is the attempt's error, nil when it succeeded.
	Err error
}

// MaxBlocksPerRange is the most blocks java-tron returns from one
// /wallet/getblockbylimitnext (GetBlockByLimitNext2) call.
const MaxBlocksPerRange = 100

// DefaultAPIKeyHeader is the header TronGrid reads an API key from.
const DefaultAPIKeyHeader = "TRON-PRO-API-KEY" //nolint:gosec // a header name, not a credential

// ClientConfig configures a [Client]. Only BaseURL is required; every other
// zero value means the documented default.
type ClientConfig struct {
	// BaseURL of the full node. Required. Its scheme picks the protocol:
	//
	//   - http://host:port or https://host[/prefix]: the HTTP API, e.g.
	//     http://127.0.0.1:8090 or https://api.trongrid.io; a path prefix
	//     is kept.
	//   - grpc://host:port (plaintext) or grpcs://host:port (TLS, checked
	//     against the system roots unless TLSConfig says otherwise): the
	//     gRPC API, e.g. grpc://127.0.0.1:50051 or
	//     grpcs://grpc.trongrid.io:50051. The port is required.
	//
	// Over gRPC, SolidNowBlock calls the WalletSolidity service at the same
	// address, as a hosted endpoint that serves both does. A java-tron node
	// of one's own serves WalletSolidity on its own port (50061 by
	// default): name it with ?solidity=host:port, e.g.
	// grpc://127.0.0.1:50051?solidity=127.0.0.1:50061.
	BaseURL string
	// APIKey is sent with every call: as the HTTP header APIKeyHeader, or
	// as gRPC metadata under that name, lower case. Empty sends none.
	APIKey string
	// APIKeyHeader names the API key's header or metadata key. Empty means
	// [DefaultAPIKeyHeader], TronGrid's.
	APIKeyHeader string

	// Timeout bounds one attempt, from sending the request to having read
	// the whole answer. Zero means 10s.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried after
	// network errors, 5xx and 429. Zero means 5; negative means none.
	MaxRetries int
	// MinBackoff is the wait before the first retry; each retry doubles it,
	// with jitter. Zero means 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between retries. Zero means 5s.
	MaxBackoff time.Duration
	// MaxRetryAfter caps how long a Retry-After header can make a call
	// wait. Zero means 30s.
	MaxRetryAfter time.Duration

	// MaxResponseBytes caps the size of one answer (over gRPC, of one
	// message); a larger one is [ErrBadResponse]. Zero means 64 MiB, room
	// for 100 full blocks.
	MaxResponseBytes int64
	// RangeBatch is how many blocks one getblockbylimitnext call asks for.
	// Zero means [MaxBlocksPerRange], the most java-tron allows; larger
	// values are an error.
	RangeBatch int

	// HTTPClient sends the requests of an http(s) BaseURL. Nil means a
	// dedicated client with keep-alive and bounded dial and TLS handshake
	// times. Its Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// TLSConfig is the TLS configuration of a grpcs BaseURL, and of an
	// https one when HTTPClient is nil: tests set RootCAs to trust their
	// own certificate. Nil means the system roots.
	TLSConfig *tls.Config

	// Observer, if set, is called after each attempt, from the calling
	// goroutine, for metrics and logs. It must not block.
	Observer func(CallInfo)
}

// Client calls a java-tron full node, over its HTTP API or its gRPC
// services: the same methods, answers, errors and retries either way. It
// is safe for concurrent use; close it with [Client.Close] when done.
type Client struct {
	t       transport
	timeout time.Duration
	retries int
	// wait is the backoff between retries.
	wait     backoff.Policy
	maxAfter time.Duration
	batch    int
	observe  func(CallInfo)
}

// NewClient validates cfg and returns a client. It does not contact the
// node.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("tron: client: BaseURL is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("tron: client: BaseURL: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("tron: client: BaseURL %q has no host", cfg.BaseURL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timeout", cfg.Timeout},
		{"MinBackoff", cfg.MinBackoff},
		{"MaxBackoff", cfg.MaxBackoff},
		{"MaxRetryAfter", cfg.MaxRetryAfter},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("tron: client: %s is negative (%v)", d.name, d.v)
		}
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("tron: client: MaxResponseBytes is negative (%d)", cfg.MaxResponseBytes)
	}
	if cfg.RangeBatch < 0 || cfg.RangeBatch > MaxBlocksPerRange {
		return nil, fmt.Errorf("tron: client: RangeBatch %d: want 0..%d", cfg.RangeBatch, MaxBlocksPerRange)
	}
	keyHeader := orDefault(cfg.APIKeyHeader, DefaultAPIKeyHeader)
	if !validHeaderName(keyHeader) {
		return nil, fmt.Errorf("tron: client: APIKeyHeader %q: want letters, digits, '-' and '_'", clip(keyHeader))
	}
	c := &Client{
		timeout:  orDefault(cfg.Timeout, 10*time.Second),
		retries:  cfg.MaxRetries,
		wait:     backoff.Policy{Min: orDefault(cfg.MinBackoff, 100*time.Millisecond), Max: orDefault(cfg.MaxBackoff, 5*time.Second)},
		maxAfter: orDefault(cfg.MaxRetryAfter, 30*time.Second),
		batch:    orDefault(cfg.RangeBatch, MaxBlocksPerRange),
		observe:  cfg.Observer,
	}
	switch {
	case c.retries == 0:
		c.retries = 5
	case c.retries < 0:
		c.retries = 0
	}
	if c.wait.Min > c.wait.Max {
		return nil, fmt.Errorf("tron: client: MinBackoff %v exceeds MaxBackoff %v", c.wait.Min, c.wait.Max)
	}
	maxBody := orDefault(cfg.MaxResponseBytes, 64<<20)
	switch u.Scheme {
	case "http", "https":
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("tron: client: BaseURL %q must not have a query or fragment", cfg.BaseURL)
		}
		hc := cfg.HTTPClient
		if hc == nil {
			hc = newHTTPClient(cfg.TLSConfig)
		}
		c.t = &httpTransport{base: strings.TrimRight(u.String(), "/"), apiKey: cfg.APIKey, keyHeader: keyHeader, maxBody: maxBody, http: hc}
	case "grpc", "grpcs":
		t, err := newGRPCTransport(u, grpcConfig{apiKey: cfg.APIKey, keyHeader: keyHeader, tls: cfg.TLSConfig, maxMessage: maxBody})
		if err != nil {
			return nil, fmt.Errorf("tron: client: BaseURL %q: %w", cfg.BaseURL, err)
		}
		c.t = t
	default:
		return nil, fmt.Errorf("tron: client: BaseURL %q: scheme must be http, https, grpc or grpcs", cfg.BaseURL)
	}
	return c, nil
}

// validHeaderName accepts what is both an HTTP header name and a gRPC
// metadata key (which gRPC lower-cases).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return !strings.HasPrefix(strings.ToLower(s), "grpc-")
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close releases the client's connections. Over HTTP it closes idle
// connections, calls in flight are not interrupted, and the client stays
// usable: a later call dials again. Over gRPC it closes the connections,
// and later calls fail.
func (c *Client) Close() error {
	return c.t.close()
}

// NowBlock returns the node's head block.
func (c *Client) NowBlock(ctx context.Context) (*Block, error) {
	return c.headBlock(ctx, opNowBlock)
}

// SolidNowBlock returns the latest solidified (irreversible) block: over
// gRPC, from the WalletSolidity service (see [ClientConfig.BaseURL]).
func (c *Client) SolidNowBlock(ctx context.Context) (*Block, error) {
	return c.headBlock(ctx, opSolidNowBlock)
}

func (c *Client) headBlock(ctx context.Context, o op) (*Block, error) {
	var b *Block
	err := c.call(ctx, o, func(ctx context.Context) (attemptMeta, error) {
		got, meta, err := c.t.block(ctx, o, 0)
		if err != nil {
			return meta, err
		}
		if got.BlockID == "" {
			return meta, c.bad(o, errors.New("no block in the answer"))
		}
		b = got
		return meta, nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// BlockByNum returns block num. It returns an error wrapping [ErrNotFound]
// when num is past the node's head.
func (c *Client) BlockByNum(ctx context.Context, num int64) (*Block, error) {
	if num < 0 {
		return nil, fmt.Errorf("tron: block %d: negative number", num)
	}
	var b *Block
	err := c.call(ctx, opBlockByNum, func(ctx context.Context) (attemptMeta, error) {
		got, meta, err := c.t.block(ctx, opBlockByNum, num)
		if err != nil {
			return meta, err
		}
		if got.BlockID == "" {
			return meta, fmt.Errorf("tron: %s: %w", c.t.path(opBlockByNum), ErrNotFound)
		}
		if n := got.BlockHeader.RawData.Number; n != num {
			return meta, c.bad(opBlockByNum, fmt.Errorf("asked for block %d, got block %d", num, n))
		}
		b = got
		return meta, nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// BlocksByRange returns blocks start to end-1, in order, asking for at most
// [ClientConfig.RangeBatch] blocks per call. When end-1 is past the node's
// head the answer is the blocks the node has, possibly none; a gap or a
// block out of order is [ErrBadResponse].
func (c *Client) BlocksByRange(ctx context.Context, start, end int64) ([]Block, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("tron: block range [%d, %d): invalid", start, end)
	}
	out := make([]Block, 0, min(end-start, 1024))
	for from := start; from < end; {
		to := min(from+int64(c.batch), end)
		var page []Block
		err := c.call(ctx, opBlockRange, func(ctx context.Context) (attemptMeta, error) {
			got, meta, err := c.t.blockRange(ctx, from, to)
			if err != nil {
				return meta, err
			}
			if len(got) > int(to-from) {
				return meta, c.bad(opBlockRange, fmt.Errorf("asked for %d blocks from %d, got %d", to-from, from, len(got)))
			}
			for i := range got {
				b := &got[i]
				if want := from + int64(i); b.BlockHeader.RawData.Number != want || b.BlockID == "" {
					return meta, c.bad(opBlockRange, fmt.Errorf("block %d of the range from %d has number %d, want %d", i, from, b.BlockHeader.RawData.Number, want))
				}
			}
			page = got
			return meta, nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < int(to-from) {
			break // past the head: later batches would be empty too
		}
		from = to
	}
	return out, nil
}

// TxInfosByBlockNum returns the transaction infos (receipts and logs) of
// block num. The slice is never nil: it is empty for a block without
// transactions, and also for a block past the head, which java-tron does
// not tell apart.
func (c *Client) TxInfosByBlockNum(ctx context.Context, num int64) ([]TxInfo, error) {
	if num < 0 {
		return nil, fmt.Errorf("tron: block %d: negative number", num)
	}
	var infos []TxInfo
	err := c.call(ctx, opTxInfos, func(ctx context.Context) (attemptMeta, error) {
		got, meta, err := c.t.txInfos(ctx, num)
		if err != nil {
			return meta, err
		}
		for i := range got {
			if got[i].ID == "" || got[i].BlockNumber != num {
				return meta, c.bad(opTxInfos, fmt.Errorf("info %d of block %d is for transaction %q in block %d", i, num, clip(got[i].ID), got[i].BlockNumber))
			}
		}
		infos = got
		return meta, nil
	})
	if err != nil {
		return nil, err
	}
	if infos == nil {
		infos = []TxInfo{}
	}
	return infos, nil
}

// NodeInfo returns the node's status: its head and solid block, peers and
// configuration.
func (c *Client) NodeInfo(ctx context.Context) (*NodeInfo, error) {
	var ni *NodeInfo
	err := c.call(ctx, opNodeInfo, func(ctx context.Context) (attemptMeta, error) {
		got, meta, err := c.t.nodeInfo(ctx)
		ni = got
		return meta, err
	})
	if err != nil {
		return nil, err
	}
	return ni, nil
}

// SolidityBlockNum parses the number out of SolidityBlock, which java-tron
// writes as "Num:68123456,ID:0000…"; ok is false when it is absent or not
// in that form.
func (ni *NodeInfo) SolidityBlockNum() (int64, bool) {
	rest, ok := strings.CutPrefix(ni.SolidityBlock, "Num:")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ",")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// SolidHeight returns the node's solidified (irreversible) block number:
// the solidityBlock of getnodeinfo, a small answer, or, from a node that
// leaves it out, the number of /walletsolidity/getnowblock's block.
func (c *Client) SolidHeight(ctx context.Context) (int64, error) {
	ni, err := c.NodeInfo(ctx)
	if err == nil {
		if n, ok := ni.SolidityBlockNum(); ok {
			return n, nil
		}
	}
	b, berr := c.SolidNowBlock(ctx)
	if berr != nil {
		return 0, errors.Join(err, berr)
	}
	return b.BlockHeader.RawData.Number, nil
}

// zeroOwner is 0x41 followed by 20 zero bytes, the conventional caller of
// read-only calls: java-tron rejects a call without an owner.
var zeroOwner = Address{AddressPrefix}

// TriggerConstant runs a read-only contract call and returns its return
// data. selector is the function signature, e.g. "decimals()", and
// parameter the ABI-encoded arguments (nil for none). A zero owner calls
// from the address 0x41 followed by zeros. A call that reverts or a contract
// that does not exist is a [*CallError].
func (c *Client) TriggerConstant(ctx context.Context, owner, contract Address, selector string, parameter []byte) ([]byte, error) {
	if owner.IsZero() {
		owner = zeroOwner
	}
	if selector == "" {
		return nil, errors.New("tron: trigger constant: empty function selector")
	}
	req := &constantRequest{owner: owner, contract: contract, selector: selector, parameter: parameter}
	var ret []byte
	var callErr *CallError
	err := c.call(ctx, opTriggerConstant, func(ctx context.Context) (attemptMeta, error) {
		ans, meta, err := c.t.triggerConstant(ctx, req)
		if err != nil {
			return meta, err
		}
		if !ans.hasResult {
			return meta, c.bad(opTriggerConstant, errors.New("answer has no result"))
		}
		if code := ans.code; code != "" && code != "SUCCESS" || !ans.ok {
			if code == "" {
				code = "UNKNOWN"
			}
			callErr = &CallError{Code: code, Message: ans.message}
			return meta, nil
		}
		var data []byte
		if len(ans.results) > 0 {
			data = ans.results[0]
			if data == nil {
				data = []byte{}
			}
		}
		if ans.reverted {
			callErr = &CallError{Code: "REVERT", Message: ans.message, Data: data}
			return meta, nil
		}
		if len(ans.results) == 0 {
			return meta, c.bad(opTriggerConstant, errors.New("answer has no constant_result"))
		}
		ret = data
		return meta, nil
	})
	if err != nil {
		return nil, err
	}
	if callErr != nil {
		return nil, fmt.Errorf("tron: %s %s on %s: %w", c.t.path(opTriggerConstant), selector, contract, callErr)
	}
	return ret, nil
}

// hexText decodes a java-tron message, which visible=false answers carry as
// hex, and keeps it as is when it is not hex.
func hexText(s string) string {
	if b, err := hex.DecodeString(s); err == nil && utf8.Valid(b) {
		return clip(string(b))
	}
	return clip(s)
}

// bad wraps an answer that contradicts the request as ErrBadResponse.
func (c *Client) bad(o op, err error) error {
	return fmt.Errorf("tron: %s: %w: %w", c.t.path(o), ErrBadResponse, err)
}

// call runs attempt, each time under its own timeout, until it succeeds,
// fails for good, or the retries run out. Only a *retryable error is
// retried: an answer that is wrong is wrong again when asked again.
func (c *Client) call(ctx context.Context, o op, attempt func(context.Context) (attemptMeta, error)) error {
	path := c.t.path(o)
	var lastErr error
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return ctxError(path, err, lastErr)
		}
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		meta, err := attempt(actx)
		cancel()
		var re *retryable
		isRetryable := errors.As(err, &re)
		if c.observe != nil {
			obsErr := err
			if isRetryable {
				obsErr = re.err
			}
			c.observe(CallInfo{Path: path, Attempt: n, Duration: time.Since(start), StatusCode: meta.status, Code: meta.code, Err: obsErr})
		}
		if err == nil {
			return nil
		}
		if !isRetryable {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxError(path, ctxErr, re.err)
		}
		lastErr = re.err
		if n > c.retries {
			if rl := rateLimited(re.err, meta.retryAfter); rl != nil {
				return fmt.Errorf("tron: giving up after %d attempts: %w", n, rl)
			}
			return fmt.Errorf("tron: giving up after %d attempts: %w", n, re.err)
		}
		wait := c.wait.Delay(n)
		if meta.retryAfter > 0 {
			wait = min(meta.retryAfter, c.maxAfter)
		}
		if err := sleep(ctx, wait); err != nil {
			return ctxError(path, err, lastErr)
		}
	}
}

// rateLimited returns the RateLimitError for a last attempt the node
// refused for its rate limit, nil for any other.
func rateLimited(err error, retryAfter time.Duration) *RateLimitError {
	if he, ok := errors.AsType[*HTTPError](err); ok && he.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{RetryAfter: retryAfter, HTTP: he}
	}
	if ge, ok := errors.AsType[*GRPCError](err); ok && ge.Code == codes.ResourceExhausted {
		return &RateLimitError{RetryAfter: retryAfter, GRPC: ge}
	}
	return nil
}

// retryable marks an attempt's error as worth another attempt.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

func ctxError(path string, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("tron: %s: %w", path, ctxErr)
	}
	// The last attempt's error is context, not the cause: wrapping it
	// would make a timeout match ErrNotFound or ErrBadResponse.
	return fmt.Errorf("tron: %s: %w (last error: %v)", path, ctxErr, last) //nolint:errorlint // last is context, not the cause
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. ok is false when it is absent or unparsable; a date in the past is
// a zero wait.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Anything past a day is as good as forever, and capping here
		// keeps the multiplication from overflowing.
		return time.Duration(min(secs, 86400)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// sleep waits for d or until ctx is done, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
