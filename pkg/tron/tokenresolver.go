package tron

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// ConstantCaller runs read-only contract calls. [*Client] implements it;
// tests fake it.
type ConstantCaller interface {
	TriggerConstant(ctx context.Context, owner, contract Address, selector string, parameter []byte) ([]byte, error)
}

// TokenResolverConfig configures a [TokenResolver]. The zero value resolves
// from the built-in mainnet table only.
type TokenResolverConfig struct {
	// Client asks token contracts for their decimals and symbol. Nil means
	// the built-in table only: every other address resolves to unknown.
	Client ConstantCaller
	// Network selects the built-in table, which answers before the cache
	// and the node. Empty means mainnet.
	Network string
	// Owner is the caller of the contract calls. Zero means 0x41 followed
	// by zeros.
	Owner Address
	// FetchName also asks contracts for name(), one more call per token.
	// False leaves Name empty for tokens outside the built-in table.
	FetchName bool
	// NoCache turns the cache off, for a caller that keeps its own with
	// its own refresh policy: every [TokenResolver.Resolve] asks the node
	// (sharing a lookup already in flight for the same address, within
	// MaxConcurrent), and [TokenResolver.Token] answers from the built-in
	// table only. NegativeTTL, ErrorTTL and MaxEntries are then unused.
	// False caches as described on those fields.
	NoCache bool

	// NegativeTTL is how long a contract that does not answer decimals()
	// stays unknown before it is asked again (it may be a proxy that gets
	// upgraded). Zero means 1h; negative means it is asked every time.
	NegativeTTL time.Duration
	// ErrorTTL is how long a lookup that failed (node unreachable, bad
	// answer) keeps failing from memory, so that a broken token does not
	// cost a full retry cycle per block. Zero means 30s; negative means
	// failures are not remembered.
	ErrorTTL time.Duration
	// MaxEntries bounds the cache. When it is full, expired entries are
	// dropped, then random ones. Zero means 100000; negative means 1.
	MaxEntries int
	// MaxConcurrent bounds the lookups running at once across all
	// callers, to spare the node (and a TronGrid quota). Zero means 4;
	// negative means 1.
	MaxConcurrent int

	// Now returns the time for the TTLs. Nil means time.Now.
	Now func() time.Time
}

// TokenResolver answers token metadata: from the built-in table, from its
// cache, or by asking the contract for decimals() and symbol(). It
// implements [TokenLookup] from memory, so [TokenResolver.Resolve] a
// block's contracts before decoding it. It is safe for concurrent use.
type TokenResolver struct {
	client     ConstantCaller
	table      StaticTokens
	owner      Address
	fetchName  bool
	noCache    bool
	negTTL     time.Duration
	errTTL     time.Duration
	maxEntries int
	workers    int
	now        func() time.Time
	sem        chan struct{}

	mu      sync.RWMutex
	cache   map[Address]tokenEntry
	flights map[Address]*tokenFlight
}

// tokenEntry is a cached answer. A zero expires never expires.
type tokenEntry struct {
	info    TokenInfo
	err     error
	expires time.Time
}

// tokenFlight is a lookup in progress, which later callers for the same
// address wait for instead of asking the node again.
type tokenFlight struct {
	done chan struct{}
	info TokenInfo
	err  error
	// abandoned means the lookup stopped because its caller's context
	// ended, which says nothing about the token: waiters try again.
	abandoned bool
}

// Function selectors, as java-tron's function_selector wants them.
const (
	selectorDecimals = "decimals()" // 0x313ce567
	selectorSymbol   = "symbol()"   // 0x95d89b41
	selectorName     = "name()"     // 0x06fdde03
)

// maxSymbolLen caps symbols and names in bytes: spam tokens put whole
// sentences and URLs there.
const maxSymbolLen = 64

// NewTokenResolver returns a resolver for cfg.
func NewTokenResolver(cfg TokenResolverConfig) *TokenResolver {
	network := orDefault(cfg.Network, NetworkMainnet)
	r := &TokenResolver{
		client:     cfg.Client,
		table:      WellKnownTokens(network),
		owner:      cfg.Owner,
		fetchName:  cfg.FetchName,
		noCache:    cfg.NoCache,
		negTTL:     orDefault(cfg.NegativeTTL, time.Hour),
		errTTL:     orDefault(cfg.ErrorTTL, 30*time.Second),
		maxEntries: orDefault(cfg.MaxEntries, 100000),
		workers:    orDefault(cfg.MaxConcurrent, 4),
		now:        cfg.Now,
		cache:      make(map[Address]tokenEntry),
		flights:    make(map[Address]*tokenFlight),
	}
	if r.workers < 1 {
		r.workers = 1
	}
	if r.maxEntries < 1 {
		r.maxEntries = 1
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.sem = make(chan struct{}, r.workers)
	return r
}

// Token implements [TokenLookup] from memory: the built-in table, then what
// earlier lookups found. ok is false for an address never resolved, one
// whose lookup failed, and a contract that answered neither decimals() nor
// symbol().
func (r *TokenResolver) Token(a Address) (TokenInfo, bool) {
	if t, ok := r.table[a]; ok {
		return t, true
	}
	r.mu.RLock()
	e, ok := r.cache[a]
	r.mu.RUnlock()
	if !ok || e.err != nil || e.info.Decimals < 0 && e.info.Symbol == "" {
		return TokenInfo{Decimals: -1}, false
	}
	return e.info, true
}

// Resolve returns what is known of token contract a, asking the contract
// when neither the table nor the cache knows it. A contract without
// decimals() is not an error: its Decimals is -1 (unknown). Concurrent calls
// for the same address share one lookup. Errors are the node's; they are
// remembered for [TokenResolverConfig.ErrorTTL].
func (r *TokenResolver) Resolve(ctx context.Context, a Address) (TokenInfo, error) {
	if t, ok := r.table[a]; ok {
		return t, nil
	}
	for {
		r.mu.Lock()
		if e, ok := r.cache[a]; ok && r.fresh(e) {
			r.mu.Unlock()
			return e.info, e.err
		}
		if f, ok := r.flights[a]; ok {
			r.mu.Unlock()
			select {
			case <-f.done:
				if f.abandoned {
					continue
				}
				return f.info, f.err
			case <-ctx.Done():
				return TokenInfo{Decimals: -1}, fmt.Errorf("tron: token %s: %w", a, ctx.Err())
			}
		}
		f := &tokenFlight{done: make(chan struct{})}
		r.flights[a] = f
		r.mu.Unlock()
		return r.lead(ctx, a, f)
	}
}

// lead runs the lookup for f and publishes its result, even if the lookup
// panics, so that waiters never hang.
func (r *TokenResolver) lead(ctx context.Context, a Address, f *tokenFlight) (info TokenInfo, err error) {
	f.info, f.err, f.abandoned = TokenInfo{Decimals: -1}, fmt.Errorf("tron: token %s: lookup panicked", a), true
	defer func() {
		r.mu.Lock()
		delete(r.flights, a)
		if !f.abandoned {
			r.store(a, f.info, f.err)
		}
		r.mu.Unlock()
		close(f.done)
	}()
	info, err = r.lookup(ctx, a)
	f.info, f.err, f.abandoned = info, err, err != nil && ctx.Err() != nil
	return info, err
}

// fresh reports whether e may still be served. The caller holds r.mu.
func (r *TokenResolver) fresh(e tokenEntry) bool {
	return e.expires.IsZero() || r.now().Before(e.expires)
}

// store caches a lookup's result, unless the cache is off. The caller
// holds r.mu for writing.
func (r *TokenResolver) store(a Address, info TokenInfo, err error) {
	if r.noCache {
		return
	}
	var ttl time.Duration
	switch {
	case err != nil:
		ttl = r.errTTL
	case info.Decimals < 0:
		ttl = r.negTTL
	}
	if ttl < 0 {
		delete(r.cache, a)
		return
	}
	e := tokenEntry{info: info, err: err}
	if ttl > 0 {
		e.expires = r.now().Add(ttl)
	}
	if _, ok := r.cache[a]; !ok && len(r.cache) >= r.maxEntries {
		r.evict()
	}
	r.cache[a] = e
}

// evict makes room for one entry: expired entries first, then whatever the
// map's random iteration order picks. The caller holds r.mu for writing.
func (r *TokenResolver) evict() {
	for a, e := range r.cache {
		if !r.fresh(e) {
			delete(r.cache, a)
		}
	}
	for a := range r.cache {
		if len(r.cache) < r.maxEntries {
			break
		}
		delete(r.cache, a)
	}
}

// lookup asks the contract, within the concurrency bound.
func (r *TokenResolver) lookup(ctx context.Context, a Address) (TokenInfo, error) {
	info := TokenInfo{Decimals: -1}
	if r.client == nil {
		return info, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return info, fmt.Errorf("tron: token %s: %w", a, ctx.Err())
	}
	defer func() { <-r.sem }()

	ret, err := r.client.TriggerConstant(ctx, r.owner, a, selectorDecimals, nil)
	switch {
	case err == nil:
		if d, ok := decodeABIUint8(ret); ok {
			info.Decimals = d
		}
	case errors.Is(err, ErrCallFailed):
		// No decimals(): not a fungible token, or not a contract at all.
	default:
		return TokenInfo{Decimals: -1}, fmt.Errorf("tron: token %s: decimals(): %w", a, err)
	}
	if info.Symbol, err = r.text(ctx, a, selectorSymbol); err != nil {
		return TokenInfo{Decimals: -1}, err
	}
	if r.fetchName {
		if info.Name, err = r.text(ctx, a, selectorName); err != nil {
			return TokenInfo{Decimals: -1}, err
		}
	}
	return info, nil
}

// text calls a function returning a string (or, in old tokens, bytes32);
// a contract without it gives "".
func (r *TokenResolver) text(ctx context.Context, a Address, selector string) (string, error) {
	ret, err := r.client.TriggerConstant(ctx, r.owner, a, selector, nil)
	switch {
	case err == nil:
		return decodeSymbol(ret), nil
	case errors.Is(err, ErrCallFailed):
		return "", nil
	default:
		return "", fmt.Errorf("tron: token %s: %s: %w", a, selector, err)
	}
}

// decodeABIUint8 reads a uint8 returned in one 32-byte word. Contracts
// declaring decimals as uint256 return the same word; a value over 255 or
// a short answer is not a decimals count.
func decodeABIUint8(b []byte) (int, bool) {
	if len(b) < 32 {
		return 0, false
	}
	for _, c := range b[:31] {
		if c != 0 {
			return 0, false
		}
	}
	return int(b[31]), true
}

// decodeABIString returns the bytes of an ABI-encoded dynamic string (or
// bytes): a head word with the offset of the tail, whose first word is the
// length. ok is false for anything out of bounds or oversized.
func decodeABIString(b []byte) (data []byte, ok bool) {
	if len(b) < 64 {
		return nil, false
	}
	off, ok := abiWordInt(b[:32], len(b))
	if !ok || off > len(b)-32 {
		return nil, false
	}
	n, ok := abiWordInt(b[off:off+32], len(b))
	if !ok || n > len(b)-off-32 {
		return nil, false
	}
	return b[off+32 : off+32+n], true
}

// abiWordInt reads a 32-byte big-endian word that must be at most limit.
func abiWordInt(w []byte, limit int) (int, bool) {
	for _, c := range w[:24] {
		if c != 0 {
			return 0, false
		}
	}
	v := binary.BigEndian.Uint64(w[24:])
	if v > uint64(limit) {
		return 0, false
	}
	return int(v), true
}

// decodeSymbol decodes a symbol() or name() answer: an ABI string, or a
// bytes32 padded with zeros as in old tokens (MKR-style), then cleans it
// for display.
func decodeSymbol(b []byte) string {
	var raw []byte
	if s, ok := decodeABIString(b); ok {
		raw = s
	} else if len(b) == 32 {
		raw = b
	} else {
		return ""
	}
	return cleanText(raw)
}

// cleanText makes contract-supplied text safe to show: valid UTF-8, no
// control characters or zero padding, no surrounding space, and at most
// maxSymbolLen bytes, cut on a rune boundary.
func cleanText(raw []byte) string {
	s := strings.ToValidUTF8(string(raw), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxSymbolLen {
		cut := maxSymbolLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}
