package tron

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// abiWord is n as a 32-byte big-endian word.
func abiWord(n uint64) []byte {
	w := make([]byte, 32)
	binary.BigEndian.PutUint64(w[24:], n)
	return w
}

// abiString ABI-encodes s as the only return value of a function.
func abiString(s string) []byte {
	out := append(abiWord(32), abiWord(uint64(len(s)))...)
	out = append(out, s...)
	if pad := len(s) % 32; pad != 0 {
		out = append(out, make([]byte, 32-pad)...)
	}
	return out
}

// bytes32 is s zero-padded to 32 bytes, as old tokens return symbol().
func bytes32(s string) []byte {
	w := make([]byte, 32)
	copy(w, s)
	return w
}

var errFakeNode = errors.New("fake node down")

// fakeToken is how a fake contract answers each selector; a selector
// missing from the map reverts.
type fakeToken map[string][]byte

// fakeCaller is a node with a few token contracts. Calls can be held at a
// gate to test sharing and concurrency.
type fakeCaller struct {
	mu       sync.Mutex
	tokens   map[Address]fakeToken
	down     map[Address]bool
	calls    map[string]int // "address selector"
	inFlight int
	maxIn    int
	gate     chan struct{} // nil: answer at once
}

func newFakeCaller() *fakeCaller {
	return &fakeCaller{tokens: map[Address]fakeToken{}, down: map[Address]bool{}, calls: map[string]int{}}
}

func (f *fakeCaller) TriggerConstant(ctx context.Context, _, contract Address, selector string, _ []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls[contract.Hex()+" "+selector]++
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	gate := f.gate
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[contract] {
		return nil, errFakeNode
	}
	ret, ok := f.tokens[contract][selector]
	if !ok {
		return nil, &CallError{Code: "REVERT"}
	}
	return ret, nil
}

func (f *fakeCaller) count(a Address, selector string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[a.Hex()+" "+selector]
}

func (f *fakeCaller) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *fakeCaller) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

// testAddr returns a distinct contract address for each i.
func testAddr(i int) Address {
	a := Address{AddressPrefix}
	binary.BigEndian.PutUint32(a[17:], uint32(i)+1)
	return a
}

// fakeClock is a settable clock for the TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTokenResolver_Resolve(t *testing.T) {
	t.Parallel()
	usdt, err := ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	tests := []struct {
		name      string
		token     fakeToken
		down      bool
		fetchName bool
		addr      *Address
		want      TokenInfo
		wantOK    bool // what Token answers afterwards
		wantErr   error
		wantCalls int
	}{
		{"built-in table", nil, false, false, &usdt, TokenInfo{Symbol: "USDT", Name: "Tether USD", Decimals: 6, Verified: true}, true, nil, 0},
		{"string symbol", fakeToken{selectorDecimals: abiWord(18), selectorSymbol: abiString("WBTT")}, false, false, nil, TokenInfo{Symbol: "WBTT", Decimals: 18}, true, nil, 2},
		{"bytes32 symbol", fakeToken{selectorDecimals: abiWord(8), selectorSymbol: bytes32("MKR")}, false, false, nil, TokenInfo{Symbol: "MKR", Decimals: 8}, true, nil, 2},
		{"zero decimals", fakeToken{selectorDecimals: abiWord(0), selectorSymbol: abiString("PTS")}, false, false, nil, TokenInfo{Symbol: "PTS", Decimals: 0}, true, nil, 2},
		{"with name", fakeToken{selectorDecimals: abiWord(6), selectorSymbol: abiString("ABC"), selectorName: abiString("Alpha Beta\x00")}, false, true, nil, TokenInfo{Symbol: "ABC", Name: "Alpha Beta", Decimals: 6}, true, nil, 3},
		{"no decimals is unknown, not 18", fakeToken{selectorSymbol: abiString("NFT")}, false, false, nil, TokenInfo{Symbol: "NFT", Decimals: -1}, true, nil, 2},
		{"decimals out of range", fakeToken{selectorDecimals: abiWord(256)}, false, false, nil, TokenInfo{Decimals: -1}, false, nil, 2},
		{"empty decimals answer", fakeToken{selectorDecimals: {}}, false, false, nil, TokenInfo{Decimals: -1}, false, nil, 2},
		{"not a contract", nil, false, false, nil, TokenInfo{Decimals: -1}, false, nil, 2},
		{"node down", nil, true, false, nil, TokenInfo{Decimals: -1}, false, errFakeNode, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testAddr(1)
			if tt.addr != nil {
				a = *tt.addr
			}
			fc := newFakeCaller()
			fc.tokens[a] = tt.token
			fc.down[a] = tt.down
			r := NewTokenResolver(TokenResolverConfig{Client: fc, FetchName: tt.fetchName})
			_, ok := r.Token(a)
			require.Equal(t, tt.addr != nil, ok, "only the table answers before Resolve")

			got, err := r.Resolve(t.Context(), a)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.True(t, strings.HasPrefix(err.Error(), "tron: "), err.Error())
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantCalls, fc.total())

			info, ok := r.Token(a)
			require.Equal(t, tt.wantOK, ok)
			if ok {
				require.Equal(t, tt.want, info)
			}
		})
	}
}

func TestTokenResolver_NilClient(t *testing.T) {
	t.Parallel()
	r := NewTokenResolver(TokenResolverConfig{Network: NetworkNile})
	got, err := r.Resolve(t.Context(), testAddr(1))
	require.NoError(t, err)
	require.Equal(t, -1, got.Decimals)
	nileUSDT, err := ParseAddress("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf")
	require.NoError(t, err)
	info, ok := r.Token(nileUSDT)
	require.True(t, ok)
	require.Equal(t, 6, info.Decimals)
}

func TestTokenResolver_TTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		token    fakeToken
		down     bool
		cfg      TokenResolverConfig
		wait     time.Duration // before asking again
		wantMore bool          // whether the second Resolve asks the node
	}{
		{"positive is kept", fakeToken{selectorDecimals: abiWord(6)}, false, TokenResolverConfig{}, 1000 * time.Hour, false},
		{"negative within TTL", fakeToken{}, false, TokenResolverConfig{NegativeTTL: time.Minute}, 59 * time.Second, false},
		{"negative after TTL", fakeToken{}, false, TokenResolverConfig{NegativeTTL: time.Minute}, time.Minute, true},
		{"negative default TTL", fakeToken{}, false, TokenResolverConfig{}, 59 * time.Minute, false},
		{"negative not cached", fakeToken{}, false, TokenResolverConfig{NegativeTTL: -1}, 0, true},
		{"error within TTL", nil, true, TokenResolverConfig{ErrorTTL: time.Minute}, 59 * time.Second, false},
		{"error after TTL", nil, true, TokenResolverConfig{ErrorTTL: time.Minute}, time.Minute, true},
		{"error not cached", nil, true, TokenResolverConfig{ErrorTTL: -1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testAddr(7)
			fc := newFakeCaller()
			fc.tokens[a] = tt.token
			fc.down[a] = tt.down
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			cfg := tt.cfg
			cfg.Client, cfg.Now = fc, clock.Now
			r := NewTokenResolver(cfg)

			first, err1 := r.Resolve(t.Context(), a)
			before := fc.total()
			clock.Advance(tt.wait)
			second, err2 := r.Resolve(t.Context(), a)
			require.Equal(t, tt.wantMore, fc.total() > before)
			require.Equal(t, first, second)
			require.Equal(t, err1 == nil, err2 == nil)
			if tt.down {
				require.ErrorIs(t, err2, errFakeNode)
			}
		})
	}
}

func TestTokenResolver_SharesLookups(t *testing.T) {
	t.Parallel()
	a := testAddr(3)
	fc := newFakeCaller()
	fc.tokens[a] = fakeToken{selectorDecimals: abiWord(6), selectorSymbol: abiString("SHR")}
	fc.gate = make(chan struct{})
	r := NewTokenResolver(TokenResolverConfig{Client: fc})

	const callers = 16
	results := make(chan TokenInfo, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			info, err := r.Resolve(t.Context(), a)
			if err != nil {
				info.Symbol = err.Error()
			}
			results <- info
		})
	}
	require.Eventually(t, func() bool { return fc.running() == 1 }, 5*time.Second, time.Millisecond)
	// Every caller has had time to join the lookup rather than start one.
	require.Never(t, func() bool { return fc.running() > 1 }, 50*time.Millisecond, 5*time.Millisecond)
	close(fc.gate)
	wg.Wait()
	close(results)
	for info := range results {
		require.Equal(t, TokenInfo{Symbol: "SHR", Decimals: 6}, info)
	}
	require.Equal(t, 1, fc.count(a, selectorDecimals))
	require.Equal(t, 1, fc.count(a, selectorSymbol))
}

func TestTokenResolver_LeaderCancelled(t *testing.T) {
	t.Parallel()
	a := testAddr(4)
	fc := newFakeCaller()
	fc.tokens[a] = fakeToken{selectorDecimals: abiWord(2), selectorSymbol: abiString("LDR")}
	fc.gate = make(chan struct{})
	r := NewTokenResolver(TokenResolverConfig{Client: fc})

	leaderCtx, cancelLeader := context.WithCancel(t.Context())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := r.Resolve(leaderCtx, a)
		leaderErr <- err
	}()
	require.Eventually(t, func() bool { return fc.running() == 1 }, 5*time.Second, time.Millisecond)

	waiter := make(chan TokenInfo, 1)
	go func() {
		info, _ := r.Resolve(t.Context(), a)
		waiter <- info
	}()
	cancelLeader()
	require.ErrorIs(t, <-leaderErr, context.Canceled)
	// The waiter takes the lookup over; let it through.
	require.Eventually(t, func() bool { return fc.count(a, selectorDecimals) == 2 }, 5*time.Second, time.Millisecond)
	close(fc.gate)
	require.Equal(t, TokenInfo{Symbol: "LDR", Decimals: 2}, <-waiter)
	// A cancelled lookup says nothing about the token, so it is not cached
	// as a failure.
	info, ok := r.Token(a)
	require.True(t, ok)
	require.Equal(t, 2, info.Decimals)
}

func TestTokenResolver_NoCacheAsksEveryTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token fakeToken
		down  bool
		want  TokenInfo
	}{
		{"token", fakeToken{selectorDecimals: abiWord(6), selectorSymbol: abiString("NC")}, false, TokenInfo{Symbol: "NC", Decimals: 6}},
		{"no decimals", fakeToken{}, false, TokenInfo{Decimals: -1}},
		{"node down", nil, true, TokenInfo{Decimals: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := testAddr(9)
			fc := newFakeCaller()
			fc.tokens[a] = tt.token
			fc.down[a] = tt.down
			r := NewTokenResolver(TokenResolverConfig{Client: fc, NoCache: true})
			for i := 1; i <= 3; i++ {
				got, err := r.Resolve(t.Context(), a)
				require.Equal(t, tt.want, got)
				require.Equal(t, tt.down, err != nil)
				require.Equal(t, i, fc.count(a, selectorDecimals), "every Resolve asks the node")
			}
			_, ok := r.Token(a)
			require.False(t, ok, "Token answers from the built-in table only")
			r.mu.RLock()
			require.Empty(t, r.cache)
			r.mu.RUnlock()
		})
	}
}

func TestTokenResolver_NoCacheSharesLookups(t *testing.T) {
	t.Parallel()
	a := testAddr(10)
	fc := newFakeCaller()
	fc.tokens[a] = fakeToken{selectorDecimals: abiWord(2), selectorSymbol: abiString("NCS")}
	fc.gate = make(chan struct{})
	r := NewTokenResolver(TokenResolverConfig{Client: fc, NoCache: true})
	var wg, started sync.WaitGroup
	for range 8 {
		started.Add(1)
		wg.Go(func() {
			started.Done()
			info, err := r.Resolve(t.Context(), a)
			if err != nil || info.Decimals != 2 {
				t.Errorf("got %+v, %v", info, err)
			}
		})
	}
	started.Wait()
	require.Eventually(t, func() bool { return fc.running() == 1 }, 5*time.Second, time.Millisecond)
	// Every caller has had time to join the lookup rather than start one.
	require.Never(t, func() bool { return fc.running() > 1 }, 50*time.Millisecond, 5*time.Millisecond)
	close(fc.gate)
	wg.Wait()
	require.Equal(t, 1, fc.count(a, selectorDecimals))
	_, ok := r.Token(a)
	require.False(t, ok)
}

func TestTokenResolver_WaiterCancelled(t *testing.T) {
	t.Parallel()
	a := testAddr(5)
	fc := newFakeCaller()
	fc.gate = make(chan struct{})
	r := NewTokenResolver(TokenResolverConfig{Client: fc})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.Resolve(t.Context(), a)
	}()
	require.Eventually(t, func() bool { return fc.running() == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Resolve(ctx, a)
	require.ErrorIs(t, err, context.Canceled)
	close(fc.gate)
	<-done
}

// resolveAll resolves addrs at once, one goroutine each, as the callers
// of a busy ingest would, and joins their errors.
func resolveAll(ctx context.Context, r *TokenResolver, addrs []Address) error {
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { _, errs[i] = r.Resolve(ctx, a) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func TestTokenResolver_MaxConcurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		n             int
		down          map[int]bool
		maxConcurrent int
		wantFailed    int
	}{
		{"bounded by default", 20, nil, 0, 0},
		{"bounded by config", 20, nil, 3, 0},
		{"one at a time", 5, nil, 1, 0},
		{"some fail", 10, map[int]bool{2: true, 7: true}, 4, 2},
		{"none", 0, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCaller()
			var addrs []Address
			for i := range tt.n {
				a := testAddr(i)
				fc.tokens[a] = fakeToken{selectorDecimals: abiWord(uint64(i)), selectorSymbol: abiString(fmt.Sprintf("T%d", i))}
				fc.down[a] = tt.down[i]
				addrs = append(addrs, a, a) // duplicates are looked up once
			}
			// Release the calls slowly so that they overlap.
			fc.gate = make(chan struct{})
			stop := make(chan struct{})
			var feeder sync.WaitGroup
			feeder.Go(func() {
				for {
					select {
					case fc.gate <- struct{}{}:
					case <-stop:
						return
					}
				}
			})
			r := NewTokenResolver(TokenResolverConfig{Client: fc, MaxConcurrent: tt.maxConcurrent})
			err := resolveAll(t.Context(), r, addrs)
			close(stop)
			feeder.Wait()

			bound := orDefault(tt.maxConcurrent, 4)
			require.LessOrEqual(t, fc.maxIn, bound)
			if tt.wantFailed == 0 {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, errFakeNode)
				// Each address is asked for twice, and both fail.
				require.Equal(t, 2*tt.wantFailed, strings.Count(err.Error(), errFakeNode.Error()))
			}
			for i := range tt.n {
				a := testAddr(i)
				require.Equal(t, 1, fc.count(a, selectorDecimals))
				info, ok := r.Token(a)
				require.Equal(t, !tt.down[i], ok)
				if ok {
					require.Equal(t, TokenInfo{Symbol: fmt.Sprintf("T%d", i), Decimals: i}, info)
				}
			}
			// Everything is known now: no more calls.
			before := fc.total()
			require.Equal(t, err == nil, resolveAll(t.Context(), r, addrs) == nil)
			require.Equal(t, before, fc.total())
		})
	}
}

func TestTokenResolver_MaxConcurrentCancelled(t *testing.T) {
	t.Parallel()
	fc := newFakeCaller()
	fc.gate = make(chan struct{}) // never opened
	r := NewTokenResolver(TokenResolverConfig{Client: fc, MaxConcurrent: 2})
	ctx, cancel := context.WithCancel(t.Context())
	timer := time.AfterFunc(20*time.Millisecond, cancel)
	defer timer.Stop()
	addrs := []Address{testAddr(1), testAddr(2), testAddr(3), testAddr(4), testAddr(5)}
	require.ErrorIs(t, resolveAll(ctx, r, addrs), context.Canceled)
	require.LessOrEqual(t, fc.maxIn, 2)
}

func TestTokenResolver_MaxEntries(t *testing.T) {
	t.Parallel()
	fc := newFakeCaller()
	r := NewTokenResolver(TokenResolverConfig{Client: fc, MaxEntries: 3})
	for i := range 10 {
		a := testAddr(i)
		fc.tokens[a] = fakeToken{selectorDecimals: abiWord(1)}
		_, err := r.Resolve(t.Context(), a)
		require.NoError(t, err)
		r.mu.RLock()
		require.LessOrEqual(t, len(r.cache), 3)
		r.mu.RUnlock()
	}
	_, ok := r.Token(testAddr(9))
	require.True(t, ok, "the newest entry is kept")
}

// TestTokenResolver_WithClient runs the resolver against a real client and
// a loopback node answering triggerconstantcontract like java-tron.
func TestTokenResolver_WithClient(t *testing.T) {
	t.Parallel()
	token := testAddr(42)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Contract string `json:"contract_address"`
			Selector string `json:"function_selector"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/wallet/triggerconstantcontract" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var ret []byte
		switch {
		case req.Contract != token.Hex():
			_, _ = fmt.Fprintf(w, `{"result":{"code":"CONTRACT_VALIDATE_ERROR","message":"%x"}}`, "No contract or not a smart contract")
			return
		case req.Selector == selectorDecimals:
			ret = abiWord(6)
		case req.Selector == selectorSymbol:
			ret = abiString("LOOP")
		default:
			_, _ = fmt.Fprintf(w, `{"result":{"result":true,"message":"%x"},"constant_result":[""],"transaction":{"ret":[{"ret":"FAILED"}]}}`, "REVERT opcode executed")
			return
		}
		_, _ = fmt.Fprintf(w, `{"result":{"result":true},"constant_result":["%s"],"transaction":{"ret":[{}]}}`, hex.EncodeToString(ret))
	})
	c, _ := newTestClient(t, h, ClientConfig{})
	r := NewTokenResolver(TokenResolverConfig{Client: c, FetchName: true})
	require.NoError(t, resolveAll(t.Context(), r, []Address{token, testAddr(43)}))
	info, ok := r.Token(token)
	require.True(t, ok)
	require.Equal(t, TokenInfo{Symbol: "LOOP", Decimals: 6}, info)
	_, ok = r.Token(testAddr(43))
	require.False(t, ok)
	var _ TokenLookup = r
}

func TestDecodeSymbol(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 40) // 80 bytes
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"ABI string", abiString("USDT"), "USDT"},
		{"ABI string 32 bytes", abiString(strings.Repeat("A", 32)), strings.Repeat("A", 32)},
		{"ABI empty string", abiString(""), ""},
		{"bytes32", bytes32("DAI"), "DAI"},
		{"bytes32 full", bytes32(strings.Repeat("Z", 32)), strings.Repeat("Z", 32)},
		{"odd offset", append(append(abiWord(64), make([]byte, 32)...), abiString("X")[32:]...), "X"},
		{"control characters", abiString("A\x00B\nC\x7f"), "ABC"},
		{"invalid UTF-8", abiString("T\xffK"), "TK"},
		{"spaces", abiString("  SUN  "), "SUN"},
		{"long cut on a rune boundary", abiString(long), strings.Repeat("é", 32)},
		{"empty", nil, ""},
		{"short", []byte{1, 2, 3}, ""},
		{"offset out of range", append(abiWord(1<<40), abiWord(3)...), ""},
		{"length out of range", append(abiWord(32), abiWord(1000)...), ""},
		{"huge length", append(abiWord(32), bytes.Repeat([]byte{0xff}, 32)...), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, decodeSymbol(tt.in))
		})
	}
}

func TestDecodeABIUint8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     []byte
		want   int
		wantOK bool
	}{
		{"6", abiWord(6), 6, true},
		{"255", abiWord(255), 255, true},
		{"256", abiWord(256), 0, false},
		{"high byte set", append([]byte{1}, make([]byte, 31)...), 0, false},
		{"short", []byte{6}, 0, false},
		{"extra words ignored", append(abiWord(18), abiWord(1)...), 18, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := decodeABIUint8(tt.in)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// FuzzDecodeABIString checks that contract answers, which anyone can
// deploy, never crash the decoder or yield text unfit for display, and that
// well-formed encodings round-trip. Seeds are in testdata/fuzz.
func FuzzDecodeABIString(f *testing.F) {
	f.Add(abiString("USDT"))
	f.Add(bytes32("MKR"))
	f.Add(append(abiWord(32), abiWord(1<<62)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if data, ok := decodeABIString(b); ok {
			require.LessOrEqual(t, len(data), len(b)-64)
		}
		s := decodeSymbol(b)
		require.True(t, utf8.ValidString(s))
		require.LessOrEqual(t, len(s), maxSymbolLen)
		require.Equal(t, strings.TrimSpace(s), s)
		for _, r := range s {
			require.False(t, unicode.IsControl(r), "control character %q", r)
		}

		data, ok := decodeABIString(abiString(string(b)))
		require.True(t, ok)
		require.Equal(t, b, data)
		require.Equal(t, cleanText(b), decodeSymbol(abiString(string(b))))
	})
}
