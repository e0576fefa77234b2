package tron

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/mongotron/mongotron/pkg/backoff"
)

// Blocks and transaction infos are decoded with goccy/go-json: a 300-tx
// block is about half a megabyte of JSON, and encoding/json reads it at
// ~120 MB/s, which alone would cap catch-up near 250 blocks/s per core;
// go-json reads the same structs about seven times faster.

// Errors a [Client] call wraps. Test for them with errors.Is.
var (
	// ErrNotFound means the node has no such block or transaction: it
	// answered {} for a block past its head or an unknown transaction id.
	ErrNotFound = errors.New("tron: not found")
	// ErrRateLimited means the node kept answering 429 until the retries
	// ran out. The error is a [*RateLimitError], which says how long the
	// node asked to wait.
	ErrRateLimited = errors.New("tron: rate limited")
	// ErrBadResponse means the node answered 200 with something unusable:
	// malformed JSON, an answer that contradicts the request, an answer
	// over the size limit, or java-tron's {"Error":"..."} (a [*NodeError]).
	// Such answers are not retried: asking again gets the same answer.
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

// RateLimitError is returned when the node still answered 429 after the
// last retry. It matches [ErrRateLimited] and unwraps to the [*HTTPError]
// of the last answer.
type RateLimitError struct {
	// RetryAfter is what the node's last Retry-After header asked for,
	// uncapped; zero when it sent none.
	RetryAfter time.Duration
	// HTTP is the last 429 answer.
	HTTP *HTTPError
}

// Error implements error.
func (e *RateLimitError) Error() string {
	path := ""
	if e.HTTP != nil {
		path = " " + e.HTTP.Path
	}
	if e.RetryAfter > 0 {
		return fmt.Sprintf("tron:%s: rate limited, retry after %v", path, e.RetryAfter)
	}
	return fmt.Sprintf("tron:%s: rate limited", path)
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns the last 429 answer.
func (e *RateLimitError) Unwrap() error { return e.HTTP }

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
	// Path is the API path, e.g. /wallet/getblockbynum. It carries no
	// block number or id, so it is safe as a metric label.
	Path string
	// Attempt counts from 1.
	Attempt int
	// Duration is the time from sending the request to having decoded the
	// answer (or failed).
	Duration time.Duration
	// StatusCode is the HTTP status, or 0 when no answer came.
	StatusCode int
	// Err is the attempt's error, nil when it succeeded.
	Err error
}

// MaxBlocksPerRange is the most blocks java-tron returns from one
// /wallet/getblockbylimitnext call.
const MaxBlocksPerRange = 100

// ClientConfig configures a [Client]. Only BaseURL is required; every other
// zero value means the documented default.
type ClientConfig struct {
	// BaseURL of the full node, e.g. http://127.0.0.1:8090 or
	// https://api.trongrid.io. Required; a path prefix is kept.
	BaseURL string
	// APIKey is sent as TRON-PRO-API-KEY. Empty sends none.
	APIKey string

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

	// MaxResponseBytes caps the size of one answer; a larger one is
	// [ErrBadResponse]. Zero means 64 MiB, room for 100 full blocks.
	MaxResponseBytes int64
	// RangeBatch is how many blocks one getblockbylimitnext call asks for.
	// Zero means [MaxBlocksPerRange], the most java-tron allows; larger
	// values are an error.
	RangeBatch int

	// HTTPClient sends the requests. Nil means a dedicated client with
	// keep-alive and bounded dial and TLS handshake times. Its Timeout, if
	// any, applies on top of Timeout.
	HTTPClient *http.Client

	// Observer, if set, is called after each attempt, from the calling
	// goroutine, for metrics and logs. It must not block.
	Observer func(CallInfo)
}

// Client calls a java-tron full node's HTTP API. It is safe for concurrent
// use; close it with [Client.Close] when done.
type Client struct {
	base    string
	apiKey  string
	timeout time.Duration
	retries int
	// wait is the backoff between retries.
	wait     backoff.Policy
	maxAfter time.Duration
	maxBody  int64
	batch    int
	http     *http.Client
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
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("tron: client: BaseURL %q: scheme must be http or https", cfg.BaseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("tron: client: BaseURL %q has no host", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("tron: client: BaseURL %q must not have a query or fragment", cfg.BaseURL)
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
	c := &Client{
		base:     strings.TrimRight(u.String(), "/"),
		apiKey:   cfg.APIKey,
		timeout:  orDefault(cfg.Timeout, 10*time.Second),
		retries:  cfg.MaxRetries,
		wait:     backoff.Policy{Min: orDefault(cfg.MinBackoff, 100*time.Millisecond), Max: orDefault(cfg.MaxBackoff, 5*time.Second)},
		maxAfter: orDefault(cfg.MaxRetryAfter, 30*time.Second),
		maxBody:  orDefault(cfg.MaxResponseBytes, 64<<20),
		batch:    orDefault(cfg.RangeBatch, MaxBlocksPerRange),
		http:     cfg.HTTPClient,
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
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport()}
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newTransport keeps more idle connections per host than
// http.DefaultTransport's 2, because ingest fetches blocks and infos
// concurrently from a single node and each new TLS connection to TronGrid
// costs a round trip or two.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Close closes the client's idle connections. Calls in flight are not
// interrupted, and the client stays usable: a later call dials again.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// NowBlock returns the node's head block.
func (c *Client) NowBlock(ctx context.Context) (*Block, error) {
	return c.headBlock(ctx, "/wallet/getnowblock")
}

// SolidNowBlock returns the latest solidified (irreversible) block.
func (c *Client) SolidNowBlock(ctx context.Context) (*Block, error) {
	return c.headBlock(ctx, "/walletsolidity/getnowblock")
}

func (c *Client) headBlock(ctx context.Context, path string) (*Block, error) {
	var b Block
	err := c.call(ctx, path, nil, func(body []byte) error {
		if err := gojson.Unmarshal(body, &b); err != nil {
			return err
		}
		if b.BlockID == "" {
			return errors.New("no block in the answer")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// BlockByNum returns block num. It returns an error wrapping [ErrNotFound]
// when num is past the node's head.
func (c *Client) BlockByNum(ctx context.Context, num int64) (*Block, error) {
	if num < 0 {
		return nil, fmt.Errorf("tron: block %d: negative number", num)
	}
	const path = "/wallet/getblockbynum"
	var b Block
	err := c.call(ctx, path, map[string]int64{"num": num}, func(body []byte) error {
		if err := gojson.Unmarshal(body, &b); err != nil {
			return err
		}
		if b.BlockID == "" {
			return errNotFoundAnswer
		}
		if got := b.BlockHeader.RawData.Number; got != num {
			return fmt.Errorf("asked for block %d, got block %d", num, got)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// BlocksByRange returns blocks start to end-1, in order, asking for at most
// [ClientConfig.RangeBatch] blocks per call. When end-1 is past the node's
// head the answer is the blocks the node has, possibly none; a gap or a
// block out of order is [ErrBadResponse].
func (c *Client) BlocksByRange(ctx context.Context, start, end int64) ([]Block, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("tron: block range [%d, %d): invalid", start, end)
	}
	const path = "/wallet/getblockbylimitnext"
	out := make([]Block, 0, min(end-start, 1024))
	for from := start; from < end; {
		to := min(from+int64(c.batch), end)
		var page struct {
			Block []Block `json:"block"`
		}
		err := c.call(ctx, path, map[string]int64{"startNum": from, "endNum": to}, func(body []byte) error {
			if err := gojson.Unmarshal(body, &page); err != nil {
				return err
			}
			if len(page.Block) > int(to-from) {
				return fmt.Errorf("asked for %d blocks from %d, got %d", to-from, from, len(page.Block))
			}
			for i := range page.Block {
				b := &page.Block[i]
				if want := from + int64(i); b.BlockHeader.RawData.Number != want || b.BlockID == "" {
					return fmt.Errorf("block %d of the range from %d has number %d, want %d", i, from, b.BlockHeader.RawData.Number, want)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Block...)
		if len(page.Block) < int(to-from) {
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
	const path = "/wallet/gettransactioninfobyblocknum"
	var infos []TxInfo
	err := c.call(ctx, path, map[string]int64{"num": num}, func(body []byte) error {
		// java-tron answers {} rather than [] for block 0.
		if isEmptyObject(body) {
			infos = nil
			return nil
		}
		if err := gojson.Unmarshal(body, &infos); err != nil {
			return err
		}
		for i := range infos {
			if infos[i].ID == "" || infos[i].BlockNumber != num {
				return fmt.Errorf("info %d of block %d is for transaction %q in block %d", i, num, clip(infos[i].ID), infos[i].BlockNumber)
			}
		}
		return nil
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
	var ni NodeInfo
	err := c.call(ctx, "/wallet/getnodeinfo", nil, func(body []byte) error {
		return json.Unmarshal(body, &ni)
	})
	if err != nil {
		return nil, err
	}
	return &ni, nil
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
	const path = "/wallet/triggerconstantcontract"
	req := struct {
		Owner     string `json:"owner_address"`
		Contract  string `json:"contract_address"`
		Selector  string `json:"function_selector"`
		Parameter string `json:"parameter"`
		Visible   bool   `json:"visible"`
	}{owner.Hex(), contract.Hex(), selector, hex.EncodeToString(parameter), false}
	var ret []byte
	var callErr *CallError
	err := c.call(ctx, path, req, func(body []byte) error {
		var ans struct {
			Result *struct {
				Result  bool   `json:"result"`
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"result"`
			ConstantResult []string `json:"constant_result"`
			Transaction    *struct {
				Ret []struct {
					Ret string `json:"ret"`
				} `json:"ret"`
			} `json:"transaction"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			return err
		}
		if ans.Result == nil {
			return errors.New("answer has no result")
		}
		if code := ans.Result.Code; code != "" && code != "SUCCESS" || !ans.Result.Result {
			if code == "" {
				code = "UNKNOWN"
			}
			callErr = &CallError{Code: code, Message: hexText(ans.Result.Message)}
			return nil
		}
		var data []byte
		if len(ans.ConstantResult) > 0 {
			var err error
			if data, err = hex.DecodeString(ans.ConstantResult[0]); err != nil {
				return fmt.Errorf("constant_result: %w", err)
			}
		}
		if t := ans.Transaction; t != nil && len(t.Ret) > 0 && t.Ret[0].Ret == "FAILED" {
			callErr = &CallError{Code: "REVERT", Message: hexText(ans.Result.Message), Data: data}
			return nil
		}
		if len(ans.ConstantResult) == 0 {
			return errors.New("answer has no constant_result")
		}
		ret = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	if callErr != nil {
		return nil, fmt.Errorf("tron: %s %s on %s: %w", path, selector, contract, callErr)
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

// errNotFoundAnswer tells call that the answer was {}, which it turns into
// ErrNotFound rather than ErrBadResponse.
var errNotFoundAnswer = errors.New("empty answer")

// call POSTs req as JSON to path, retrying as configured, and hands the
// body of a 200 answer to decode. decode's errors are ErrBadResponse and
// are not retried.
func (c *Client) call(ctx context.Context, path string, req any, decode func([]byte) error) error {
	payload := []byte("{}")
	if req != nil {
		var err error
		if payload, err = json.Marshal(req); err != nil {
			return fmt.Errorf("tron: %s: encoding request: %w", path, err)
		}
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return ctxError(path, err, lastErr)
		}
		start := time.Now()
		status, retryAfter, err := c.attempt(ctx, path, payload, decode)
		var re *retryable
		isRetryable := errors.As(err, &re)
		if c.observe != nil {
			obsErr := err
			if isRetryable {
				obsErr = re.err
			}
			c.observe(CallInfo{Path: path, Attempt: attempt, Duration: time.Since(start), StatusCode: status, Err: obsErr})
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
		if attempt > c.retries {
			var he *HTTPError
			if errors.As(re.err, &he) && he.StatusCode == http.StatusTooManyRequests {
				return fmt.Errorf("tron: giving up after %d attempts: %w", attempt, &RateLimitError{RetryAfter: retryAfter, HTTP: he})
			}
			return fmt.Errorf("tron: giving up after %d attempts: %w", attempt, re.err)
		}
		wait := c.wait.Delay(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, c.maxAfter)
		}
		if err := sleep(ctx, wait); err != nil {
			return ctxError(path, err, lastErr)
		}
	}
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

// attempt makes one request. It returns the status (0 without an answer),
// the Retry-After the node asked for, and an error that is a *retryable
// when another attempt may succeed.
func (c *Client) attempt(ctx context.Context, path string, payload []byte, decode func([]byte) error) (int, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, 0, fmt.Errorf("tron: %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("TRON-PRO-API-KEY", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, &retryable{fmt.Errorf("tron: %s: %w", path, err)}
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		excerpt := readExcerpt(resp.Body)
		he := &HTTPError{Path: path, StatusCode: resp.StatusCode, Body: excerpt}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			ra, _ := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			return resp.StatusCode, ra, &retryable{he}
		default:
			return resp.StatusCode, 0, he
		}
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		// The connection broke or the attempt timed out mid-body.
		return resp.StatusCode, 0, &retryable{fmt.Errorf("tron: %s: reading answer: %w", path, err)}
	}
	if int64(len(body)) > c.maxBody {
		return resp.StatusCode, 0, fmt.Errorf("tron: %s: %w: answer larger than %d bytes", path, ErrBadResponse, c.maxBody)
	}
	if err := checkAnswer(path, body); err != nil {
		return resp.StatusCode, 0, err
	}
	if err := decode(body); err != nil {
		if errors.Is(err, errNotFoundAnswer) {
			return resp.StatusCode, 0, fmt.Errorf("tron: %s: %w", path, ErrNotFound)
		}
		return resp.StatusCode, 0, fmt.Errorf("tron: %s: %w: %w", path, ErrBadResponse, err)
	}
	return resp.StatusCode, 0, nil
}

// checkAnswer rejects what no endpoint can decode: an empty body, and
// java-tron's {"Error":"..."}. The error check unmarshals only small bodies
// with an "Error" key somewhere, so blocks are not parsed twice.
func checkAnswer(path string, body []byte) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return fmt.Errorf("tron: %s: %w: empty body", path, ErrBadResponse)
	}
	if trimmed[0] != '{' || len(trimmed) > 64<<10 || !bytes.Contains(trimmed, []byte(`"Error"`)) {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		// java-tron builds the error by string concatenation, so a quote in
		// the message makes it invalid JSON; it is still an error.
		if bytes.HasPrefix(trimmed, []byte(`{"Error"`)) {
			return &NodeError{Path: path, Message: clip(strings.ToValidUTF8(string(trimmed), "?"))}
		}
		return nil
	}
	raw, ok := obj["Error"]
	if !ok {
		return nil
	}
	var msg string
	if json.Unmarshal(raw, &msg) != nil {
		msg = string(raw)
	}
	return &NodeError{Path: path, Message: clip(msg)}
}

func isEmptyObject(body []byte) bool {
	t := bytes.TrimSpace(body)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return false
	}
	return len(bytes.TrimSpace(t[1:len(t)-1])) == 0
}

// readExcerpt returns the start of an error body and drains a bounded
// amount more, so that the connection can be reused.
func readExcerpt(r io.Reader) string {
	const keep, drain = 512, 64 << 10
	buf, _ := io.ReadAll(io.LimitReader(r, keep))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, drain))
	s := strings.ToValidUTF8(string(buf), "")
	return strings.TrimSpace(s)
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
