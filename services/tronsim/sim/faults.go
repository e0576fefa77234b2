package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults is what one node endpoint does wrong (see [Sim.NewEndpoint]): a
// real node or its proxy on a bad day. The zero value is a healthy node.
// Faults apply to the node API (/wallet/…, /walletsolidity/… and the gRPC
// services), never to the control API (/sim/…).
//
// As JSON (GET and POST /sim/faults) the fields are snake_case and the
// latency is a Go duration string: {"error_rate":0.1,"latency":"250ms",
// "rate_limit":5,"stall":false,"lag":20,"corrupt_blocks":false,
// "corrupt_receipts":false}.
type Faults struct {
	// ErrorRate is the share of node API requests that fail: HTTP 500, 503
	// or a dropped connection; gRPC Internal or Unavailable. Zero means
	// none; at most 1.
	ErrorRate float64
	// Latency is added to every node API request. Zero means none.
	Latency time.Duration
	// RateLimit is the number of requests per second above which requests
	// are refused: HTTP 429 with Retry-After, gRPC ResourceExhausted with
	// "retry-after" metadata (whole seconds). Zero means unlimited.
	RateLimit float64
	// Stall stops the endpoint's head where it is when Stall is set: blocks
	// above it are not found, and getnodeinfo reports it. False follows the
	// chain.
	Stall bool
	// Lag makes the endpoint serve the chain as it was Lag blocks ago: its
	// head is the chain's head minus Lag (never below the first block), and
	// blocks above it are not found. Zero means in sync.
	Lag int
	// CorruptBlocks tampers with every block served (head, by number,
	// ranges) so that it no longer verifies: on an even block number, or a
	// block without transactions, the block id no longer hashes from the
	// header; otherwise one transaction's id no longer hashes from its raw
	// data. False serves blocks as they are.
	CorruptBlocks bool
	// CorruptReceipts makes every transaction-info list served (by block
	// number) no longer match its block one to one: on an even block number
	// the last entry is dropped, otherwise one entry's id is changed; a
	// block without transactions gets one made-up entry. False serves them
	// as they are.
	CorruptReceipts bool
}

// Validate reports every out-of-range field at once.
func (f Faults) Validate() error {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 || math.IsNaN(f.ErrorRate) {
		errs = append(errs, fmt.Errorf("error rate %g: must be between 0 and 1", f.ErrorRate))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %s: must not be negative", f.Latency))
	}
	if f.RateLimit < 0 || math.IsNaN(f.RateLimit) || math.IsInf(f.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("rate limit %g: must be a non-negative number", f.RateLimit))
	}
	if f.Lag < 0 {
		errs = append(errs, fmt.Errorf("lag %d: must not be negative", f.Lag))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tronsim: invalid faults: %w", err)
	}
	return nil
}

// clamped returns f with every out-of-range field brought into range.
func (f Faults) clamped() Faults {
	if math.IsNaN(f.ErrorRate) {
		f.ErrorRate = 0
	}
	f.ErrorRate = min(max(f.ErrorRate, 0), 1)
	f.Latency = max(f.Latency, 0)
	if math.IsNaN(f.RateLimit) || math.IsInf(f.RateLimit, 0) {
		f.RateLimit = 0
	}
	f.RateLimit = max(f.RateLimit, 0)
	f.Lag = max(f.Lag, 0)
	return f
}

// faultsJSON is the wire form of [Faults].
type faultsJSON struct {
	ErrorRate       float64 `json:"error_rate"`
	Latency         string  `json:"latency"`
	RateLimit       float64 `json:"rate_limit"`
	Stall           bool    `json:"stall"`
	Lag             int     `json:"lag"`
	CorruptBlocks   bool    `json:"corrupt_blocks"`
	CorruptReceipts bool    `json:"corrupt_receipts"`
}

// MarshalJSON writes the snake_case form, the latency as a Go duration
// string.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		ErrorRate: f.ErrorRate, Latency: f.Latency.String(), RateLimit: f.RateLimit,
		Stall: f.Stall, Lag: f.Lag, CorruptBlocks: f.CorruptBlocks, CorruptReceipts: f.CorruptReceipts,
	})
}

// UnmarshalJSON sets the fields the object holds and leaves the others as
// they are, so that {"stall":true} stalls an endpoint and keeps its other
// faults. Keys match in snake_case, camelCase or the Go field names
// ("error_rate", "errorRate", "ErrorRate"); an unknown key is an error, as
// a misspelt fault would otherwise be silently ignored. The latency is a
// Go duration string ("250ms") or a number of nanoseconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return fmt.Errorf("tronsim: faults: %w", err)
	}
	if m == nil {
		return errors.New("tronsim: faults: want a JSON object")
	}
	var errs []error
	for k, raw := range m {
		var err error
		switch strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k)) {
		case "errorrate":
			err = json.Unmarshal(raw, &f.ErrorRate)
		case "latency":
			err = unmarshalDuration(raw, &f.Latency)
		case "ratelimit":
			err = json.Unmarshal(raw, &f.RateLimit)
		case "stall":
			err = json.Unmarshal(raw, &f.Stall)
		case "lag":
			err = json.Unmarshal(raw, &f.Lag)
		case "corruptblocks":
			err = json.Unmarshal(raw, &f.CorruptBlocks)
		case "corruptreceipts":
			err = json.Unmarshal(raw, &f.CorruptReceipts)
		default:
			err = errors.New("unknown fault")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tronsim: faults: %w", err)
	}
	return nil
}

func unmarshalDuration(raw json.RawMessage, d *time.Duration) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return errors.New(`want a duration such as "250ms"`)
	}
	*d = time.Duration(n)
	return nil
}

// outcome is what an endpoint's faults make of one node API request.
type outcome int

const (
	pass outcome = iota
	// refused: the rate limit is exceeded.
	refused
	// failInternal: answer 500 (gRPC Internal).
	failInternal
	// failUnavailable: answer 503 (gRPC Unavailable).
	failUnavailable
	// dropped: close the connection without an answer (gRPC Unavailable).
	dropped
	// gone: the request ended while it waited out the latency.
	gone
)

// admit applies e's faults to one node API request: the rate limit, then
// the latency, then the error rate. It counts the request and what was
// injected, on e and on its simulator. retryAfter is the whole seconds a
// refused request should wait.
func (e *Endpoint) admit(ctx context.Context) (o outcome, retryAfter int) {
	e.s.requests.Add(1)
	e.requests.Add(1)
	e.mu.Lock()
	f := e.f
	if f.RateLimit > 0 {
		if ok, retry := e.takeTokenLocked(time.Now()); !ok {
			e.mu.Unlock()
			e.s.rateLimited.Add(1)
			e.rateLimited.Add(1)
			return refused, retry
		}
	}
	e.mu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return gone, 0
		}
	}
	if f.ErrorRate == 0 {
		return pass, 0
	}
	e.mu.Lock()
	hit := e.rng.Float64() < f.ErrorRate
	kind := 0
	if hit {
		kind = e.rng.IntN(3)
	}
	e.mu.Unlock()
	if !hit {
		return pass, 0
	}
	e.s.injected.Add(1)
	e.injected.Add(1)
	switch kind {
	case 0:
		return failInternal, 0
	case 1:
		return failUnavailable, 0
	default:
		return dropped, 0
	}
}

// takeTokenLocked takes a token from the bucket (capacity one second of
// requests, at least one). When there is none it says how many whole
// seconds until there is. e.mu must be held.
func (e *Endpoint) takeTokenLocked(now time.Time) (ok bool, retryAfter int) {
	rate := e.f.RateLimit
	capacity := max(rate, 1)
	if !e.last.IsZero() {
		e.tokens = min(capacity, e.tokens+now.Sub(e.last).Seconds()*rate)
	}
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		return true, 0
	}
	return false, max(1, int(math.Ceil((1-e.tokens)/rate)))
}

// withFaults wraps a node API handler in e's faults. The TRON-PRO-API-KEY
// header is accepted and ignored, like any other.
func (e *Endpoint) withFaults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch o, retry := e.admit(r.Context()); o {
		case pass:
			h.ServeHTTP(w, r)
		case refused:
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			writeJSON(w, http.StatusTooManyRequests, []byte(`{"Error":"rate limit exceeded"}`))
		case failInternal:
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		case failUnavailable:
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		case dropped:
			// The server closes the connection without an answer and,
			// for this value, without logging a stack.
			panic(http.ErrAbortHandler)
		case gone:
		}
	})
}
