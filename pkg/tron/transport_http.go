package tron

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
)

// Blocks and transaction infos are decoded with goccy/go-json: a 300-tx
// block is about half a megabyte of JSON, and encoding/json reads it at
// ~120 MB/s, which alone would cap catch-up near 250 blocks/s per core;
// go-json reads the same structs about seven times faster.

// httpTransport calls a full node's HTTP API: a POST of a JSON body per
// call, answered with JSON (visible=false, so hex addresses).
type httpTransport struct {
	base      string
	apiKey    string
	keyHeader string
	maxBody   int64
	http      *http.Client
}

var httpPaths = [...]string{
	opNowBlock:        "/wallet/getnowblock",
	opSolidNowBlock:   "/walletsolidity/getnowblock",
	opBlockByNum:      "/wallet/getblockbynum",
	opBlockRange:      "/wallet/getblockbylimitnext",
	opTxInfos:         "/wallet/gettransactioninfobyblocknum",
	opNodeInfo:        "/wallet/getnodeinfo",
	opTriggerConstant: "/wallet/triggerconstantcontract",
}

func (t *httpTransport) path(o op) string { return httpPaths[o] }

func (t *httpTransport) close() error {
	t.http.CloseIdleConnections()
	return nil
}

// newHTTPClient keeps more idle connections per host than
// http.DefaultTransport's 2, because ingest fetches blocks and infos
// concurrently from a single node and each new TLS connection to TronGrid
// costs a round trip or two.
func newHTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

func (t *httpTransport) block(ctx context.Context, o op, num int64) (*Block, attemptMeta, error) {
	var req any
	if o == opBlockByNum {
		req = map[string]int64{"num": num}
	}
	var b Block
	meta, err := t.post(ctx, t.path(o), req, func(body []byte) error {
		return gojson.Unmarshal(body, &b)
	})
	if err != nil {
		return nil, meta, err
	}
	return &b, meta, nil
}

func (t *httpTransport) blockRange(ctx context.Context, from, to int64) ([]Block, attemptMeta, error) {
	var page struct {
		Block []Block `json:"block"`
	}
	meta, err := t.post(ctx, t.path(opBlockRange), map[string]int64{"startNum": from, "endNum": to}, func(body []byte) error {
		return gojson.Unmarshal(body, &page)
	})
	return page.Block, meta, err
}

func (t *httpTransport) txInfos(ctx context.Context, num int64) ([]TxInfo, attemptMeta, error) {
	var infos []TxInfo
	meta, err := t.post(ctx, t.path(opTxInfos), map[string]int64{"num": num}, func(body []byte) error {
		// java-tron answers {} rather than [] for block 0.
		if isEmptyObject(body) {
			infos = nil
			return nil
		}
		return gojson.Unmarshal(body, &infos)
	})
	return infos, meta, err
}

func (t *httpTransport) nodeInfo(ctx context.Context) (*NodeInfo, attemptMeta, error) {
	var ni NodeInfo
	meta, err := t.post(ctx, t.path(opNodeInfo), nil, func(body []byte) error {
		return json.Unmarshal(body, &ni)
	})
	if err != nil {
		return nil, meta, err
	}
	return &ni, meta, nil
}

func (t *httpTransport) triggerConstant(ctx context.Context, r *constantRequest) (*constantAnswer, attemptMeta, error) {
	req := struct {
		Owner     string `json:"owner_address"`
		Contract  string `json:"contract_address"`
		Selector  string `json:"function_selector"`
		Parameter string `json:"parameter"`
		Visible   bool   `json:"visible"`
	}{r.owner.Hex(), r.contract.Hex(), r.selector, hex.EncodeToString(r.parameter), false}
	var out constantAnswer
	meta, err := t.post(ctx, t.path(opTriggerConstant), req, func(body []byte) error {
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
		if r := ans.Result; r != nil {
			// visible=false answers carry the message as hex.
			out.hasResult, out.ok, out.code, out.message = true, r.Result, r.Code, hexText(r.Message)
		}
		for i, s := range ans.ConstantResult {
			b, err := hex.DecodeString(s)
			if err != nil {
				return fmt.Errorf("constant_result %d: %w", i, err)
			}
			out.results = append(out.results, b)
		}
		out.reverted = ans.Transaction != nil && len(ans.Transaction.Ret) > 0 && ans.Transaction.Ret[0].Ret == "FAILED"
		return nil
	})
	if err != nil {
		return nil, meta, err
	}
	return &out, meta, nil
}

// post makes one request: req as the JSON body ({} for nil), the body of
// a 200 answer handed to decode, whose errors are ErrBadResponse.
func (t *httpTransport) post(ctx context.Context, path string, req any, decode func([]byte) error) (attemptMeta, error) {
	payload := []byte("{}")
	if req != nil {
		var err error
		if payload, err = json.Marshal(req); err != nil {
			return attemptMeta{}, fmt.Errorf("tron: %s: encoding request: %w", path, err)
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewReader(payload))
	if err != nil {
		return attemptMeta{}, fmt.Errorf("tron: %s: %w", path, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if t.apiKey != "" {
		hreq.Header.Set(t.keyHeader, t.apiKey)
	}
	resp, err := t.http.Do(hreq)
	if err != nil {
		return attemptMeta{}, &retryable{fmt.Errorf("tron: %s: %w", path, err)}
	}
	defer resp.Body.Close()
	meta := attemptMeta{status: resp.StatusCode}

	if resp.StatusCode != http.StatusOK {
		excerpt := readExcerpt(resp.Body)
		he := &HTTPError{Path: path, StatusCode: resp.StatusCode, Body: excerpt}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			meta.retryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			return meta, &retryable{he}
		}
		return meta, he
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, t.maxBody+1))
	if err != nil {
		// The connection broke or the attempt timed out mid-body.
		return meta, &retryable{fmt.Errorf("tron: %s: reading answer: %w", path, err)}
	}
	if int64(len(body)) > t.maxBody {
		return meta, fmt.Errorf("tron: %s: %w: answer larger than %d bytes", path, ErrBadResponse, t.maxBody)
	}
	if err := checkAnswer(path, body); err != nil {
		return meta, err
	}
	if err := decode(body); err != nil {
		return meta, fmt.Errorf("tron: %s: %w: %w", path, ErrBadResponse, err)
	}
	return meta, nil
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
