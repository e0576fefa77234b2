package match

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Lookalike addresses. Grinding a lookalike of a given address takes about
// 58^4 (11 million) checksums, since the last characters depend on the
// checksum; a birthday search finds pairs in thousands instead: addresses
// that keep their first five bytes share their first four characters, and
// among n of them about n²/(2·58^4) pairs also share the last four (20,000
// gave 20 pairs, 300,000 some triples). These were found that way, once,
// and TestKeyOf_fixtures checks what each one is said to share.
var (
	// victim and poison share TZF5…HUiu.
	victim = b58("TZF52NACDYcTr9WFnDNZ34h5NVTaFjHUiu")
	poison = b58("TZF52N9FDYgd1YVc89kBz5pDW6NYUDHUiu")
	// victim2 and poison2 share TER2…Zd83.
	victim2 = b58("TER2SjWM751BRL1yvMjqsTMTRCUpG1Zd83")
	poison2 = b58("TER2SjUUdRkhhW5N6n8gnAQa2uVRBWZd83")
	// tri1, tri2 and tri3 share TGYm…JrFj.
	tri1 = b58("TGYmyrz9NmTwS3iDbDt8vxbT4qwg6CJrFj")
	tri2 = b58("TGYmyrza69s4b4bMfTMF2cdaVGr34gJrFj")
	tri3 = b58("TGYmyrzoGfieDDngvVvyB1TDv9LT77JrFj")
	// prefixOnly shares victim's first four characters, not its last:
	// TZF5…tpsC.
	prefixOnly = b58("TZF52N9mDqG3znJD4fZ5XDmsQqQKzvtpsC")
	// suffix1 and suffix2 share their last four characters only.
	suffix1 = b58("TRawNtXJ3arQQRRDV5PMo4aHLAGujLe4vw")
	suffix2 = b58("TSMBEc555JHe95fecE4gqqMDccg6Que4vw")
)

// b58 parses a base58check address or panics, for the fixtures above.
func b58(s string) tron.Address {
	a, err := tron.ParseBase58(s)
	if err != nil {
		panic(err)
	}
	return a
}

// stringKey is the lookalike key as the package doc defines it, from the
// address's text.
func stringKey(tb testing.TB, a tron.Address) lookKey {
	tb.Helper()
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	s := a.String()
	require.GreaterOrEqual(tb, len(s), 8)
	var k lookKey
	for _, c := range []byte(s[:4] + s[len(s)-4:]) {
		k = k<<6 | lookKey(strings.IndexByte(alphabet, c))
	}
	return k
}

func TestKeyOf_fixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		a, b  tron.Address
		share bool
	}{
		{"victim and poison", victim, poison, true},
		{"victim2 and poison2", victim2, poison2, true},
		{"tri1 and tri2", tri1, tri2, true},
		{"tri1 and tri3", tri1, tri3, true},
		{"tri2 and tri3", tri2, tri3, true},
		{"prefix only", victim, prefixOnly, false},
		{"suffix only", suffix1, suffix2, false},
		{"different pairs", victim, victim2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as, bs := tt.a.String(), tt.b.String()
			require.NotEqual(t, tt.a, tt.b)
			require.Equal(t, tt.share, as[:4] == bs[:4] && as[len(as)-4:] == bs[len(bs)-4:], "%s %s", as, bs)
			require.Equal(t, tt.share, keyOf(&tt.a) == keyOf(&tt.b))
		})
	}
	require.Equal(t, victim.String()[:4], prefixOnly.String()[:4])
	require.Equal(t, suffix1.String()[30:], suffix2.String()[30:])
}

// TestKeyOf checks the allocation-free key against the address's text, on
// random addresses of every shape String accepts: the usual 0x41 prefix,
// others, and leading zero bytes (leading '1's).
func TestKeyOf(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 5000 {
		var a tron.Address
		for j := range a {
			a[j] = byte(rng.Uint32())
		}
		switch i % 4 {
		case 0, 1:
			a[0] = tron.AddressPrefix
		case 2:
			for j := range rng.IntN(len(a)) {
				a[j] = 0
			}
		}
		if a.IsZero() {
			continue
		}
		require.Equal(t, stringKey(t, a), keyOf(&a), "%x %s", a[:], a.String())
	}
	one := tron.Address{20: 1} // 20 zero bytes: "111…1" and a short tail
	require.Equal(t, stringKey(t, one), keyOf(&one), one.String())
}

// TestKeysOf checks the batch, split over goroutines when large, against
// one key at a time.
func TestKeysOf(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, keysPerWorker - 1, 3*keysPerWorker + 7} {
		as := make([]tron.Address, n)
		for i := range as {
			if i%97 != 5 { // and some zero addresses, which get key 0
				as[i] = addr(uint64(i))
			}
		}
		keys := keysOf(as)
		require.Len(t, keys, n)
		for i := range as {
			want := lookKey(0)
			if !as[i].IsZero() {
				want = keyOf(&as[i])
			}
			require.Equal(t, want, keys[i], "address %d of %d", i, n)
		}
	}
}

// TestKeyOf_paths checks the fast path of 0x41 addresses against the
// whole encoding.
func TestKeyOf_paths(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	for range 5000 {
		var a tron.Address
		a[0] = tron.AddressPrefix
		for j := 1; j < len(a); j++ {
			a[j] = byte(rng.Uint32())
		}
		in := [25]byte(append(a[:], checksum(a)...))
		require.Equal(t, keyOfText(&in), keyOf(&a), "%x", a[:])
	}
}

// checksum is the base58check checksum of a, from its text.
func checksum(a tron.Address) []byte {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n := new(big.Int)
	for _, c := range a.String() {
		n.Mul(n, big.NewInt(58))
		n.Add(n, big.NewInt(int64(strings.IndexRune(alphabet, c))))
	}
	return n.FillBytes(make([]byte, 25))[21:]
}

// TestQuo58p30 checks the quotient on both sides of multiples of 58^30,
// where the estimate needs correcting.
func TestQuo58p30(t *testing.T) {
	t.Parallel()
	d := new(big.Int).Exp(big.NewInt(58), big.NewInt(30), nil)
	rng := rand.New(rand.NewPCG(5, 5))
	limbs := func(x *big.Int) *[4]uint64 {
		b := x.FillBytes(make([]byte, 32))
		var n [4]uint64
		for i := range n {
			n[i] = binary.BigEndian.Uint64(b[8*i:])
		}
		return &n
	}
	for range 2000 {
		k := big.NewInt(int64(58*58*58 + rng.IntN(58*58*58*58-58*58*58)))
		base := new(big.Int).Mul(k, d)
		for _, delta := range []int64{-1, 0, 1, 1 << 62} {
			n := new(big.Int).Add(base, big.NewInt(delta))
			want := new(big.Int).Quo(n, d)
			require.Equal(t, want.Uint64(), quo58p30(limbs(n)), "%s", n)
		}
	}
	// The extremes of 0x41 addresses.
	for _, n := range []*big.Int{
		new(big.Int).Lsh(big.NewInt(0x41), 192),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(0x42), 192), big.NewInt(1)),
	} {
		require.Equal(t, new(big.Int).Quo(n, d).Uint64(), quo58p30(limbs(n)))
	}
}

// requireLookConsistent checks that the lookalike table holds exactly one
// entry per (slot, address) pair of the address table, dead slots
// included (both keep them until a sweep).
func requireLookConsistent(tb testing.TB, ix *Index) {
	tb.Helper()
	type pair struct {
		k    lookKey
		slot int32
	}
	want := map[pair]int{}
	add := func(a tron.Address, v uint32) {
		k := keyOf(&a)
		if v&multi == 0 {
			want[pair{k, int32(v)}]++
			return
		}
		for _, s := range ix.addrs.lists[v&^multi] {
			want[pair{k, s}]++
		}
	}
	ix.addrs.flat.each(func(k *[20]byte, v uint32) (uint32, bool) {
		add(tron.AddressFromEVM(k[:]), v)
		return v, true
	})
	for a, v := range ix.addrs.other {
		add(a, v)
	}
	got := map[pair]int{}
	keys := 0
	ix.look.keys.each(func(k lookKey, v uint32) (uint32, bool) {
		keys++
		if v&multi == 0 {
			got[pair{k, int32(v)}]++
			return v, true
		}
		require.Greater(tb, len(ix.look.lists[v&^multi]), 1, "a list of one slot is stored inline")
		for _, s := range ix.look.lists[v&^multi] {
			got[pair{k, s}]++
		}
		return v, true
	})
	require.Equal(tb, want, got)
	require.Equal(tb, ix.look.keys.len(), keys)
}

// look is hit with Lookalike set.
func look(watched tron.Address, dir event.Direction) []Match {
	return []Match{{SubscriptionID: "sub_a", Watched: watched, Direction: dir, Lookalike: true}}
}

func TestIndex_Match_lookalike(t *testing.T) {
	t.Parallel()
	zero := tron.AmountFromUint64(0)
	kind := func(k event.Kind) func(*event.Event) { return func(e *event.Event) { e.Kind = k } }
	tests := []struct {
		name  string
		sub   *subscription.Subscription
		addrs []tron.Address
		event *event.Event
		want  []Match
	}{
		// Set when the counterparty shares the key with a watched address.
		{"from a lookalike", sub("sub_a"), []tron.Address{victim}, trx(poison, victim), look(victim, event.DirectionIn)},
		{"to a lookalike", sub("sub_a"), []tron.Address{victim}, trx(victim, poison), look(victim, event.DirectionOut)},
		{"zero trc20 from a lookalike", sub("sub_a"), []tron.Address{victim},
			trc20(usdt, poison, victim, zero), look(victim, event.DirectionIn)},
		{"trc10 transfer", sub("sub_a"), []tron.Address{victim},
			modify(trx(poison, victim), kind(event.KindTRC10Transfer)), look(victim, event.DirectionIn)},
		{"trx internal transfer", sub("sub_a"), []tron.Address{victim},
			modify(trx(victim, poison), kind(event.KindTRXInternalTransfer)), look(victim, event.DirectionOut)},
		{"trc10 internal transfer", sub("sub_a"), []tron.Address{victim},
			modify(trx(poison, victim), kind(event.KindTRC10InternalTransfer)), look(victim, event.DirectionIn)},
		{"like another watched address than the matched one", sub("sub_a"), []tron.Address{bob, victim},
			trx(poison, bob), look(bob, event.DirectionIn)},
		{"like either of two watched with the key", sub("sub_a"), []tron.Address{tri1, tri2},
			trx(tri3, tri1), look(tri1, event.DirectionIn)},
		{"direction filter keeps the flag", sub("sub_a", withDirection("in")), []tron.Address{victim},
			trx(poison, victim), look(victim, event.DirectionIn)},

		// Not set otherwise.
		{"ordinary counterparty", sub("sub_a"), []tron.Address{victim}, trx(bob, victim), hit(victim, event.DirectionIn)},
		{"self transfer", sub("sub_a"), []tron.Address{victim, poison}, trx(victim, victim), hit(victim, event.DirectionSelf)},
		{"counterparty watched too, in", sub("sub_a"), []tron.Address{victim, poison},
			trx(poison, victim), hit(victim, event.DirectionIn)},
		{"counterparty watched too, out", sub("sub_a", withDirection("out")), []tron.Address{victim, poison},
			trx(poison, victim), hit(poison, event.DirectionOut)},
		{"same prefix only", sub("sub_a"), []tron.Address{victim}, trx(prefixOnly, victim), hit(victim, event.DirectionIn)},
		{"same suffix only", sub("sub_a"), []tron.Address{suffix1}, trx(suffix2, suffix1), hit(suffix1, event.DirectionIn)},
		{"no counterparty", sub("sub_a"), []tron.Address{victim},
			trc20(usdt, tron.Address{}, victim, zero), hit(victim, event.DirectionIn)},
		{"approval is not a transfer", sub("sub_a"), []tron.Address{victim},
			modify(trc20(usdt, victim, poison, zero), kind(event.KindTRC20Approval)), hit(victim, event.DirectionOut)},
		{"contract call is not a transfer", sub("sub_a"), []tron.Address{victim},
			modify(trx(victim, poison), kind(event.KindContractCall)), hit(victim, event.DirectionOut)},
		{"unknown kind", sub("sub_a"), []tron.Address{victim},
			modify(trx(poison, victim), kind("future_transfer")), hit(victim, event.DirectionIn)},
		{"contracts only", sub("sub_a", withContracts(usdt)), nil,
			trc20(usdt, poison, victim, zero), hit(tron.Address{}, event.DirectionNone)},
		{"all", sub("sub_a", withAll), nil, trx(poison, victim), hit(tron.Address{}, event.DirectionNone)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			require.NoError(t, ix.Upsert(tt.sub, tt.addrs))
			require.Equal(t, tt.want, collect(t, ix, tt.event))
		})
	}
}

// TestIndex_Match_lookalikePerSubscription checks that the flag follows
// each subscription's own address set.
func TestIndex_Match_lookalikePerSubscription(t *testing.T) {
	t.Parallel()
	ix := New()
	require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{victim}))
	require.NoError(t, ix.Upsert(sub("sub_b"), []tron.Address{bob, victim2}))
	require.NoError(t, ix.Upsert(sub("sub_c"), []tron.Address{victim, poison}))
	require.NoError(t, ix.Upsert(sub("sub_d"), []tron.Address{poison}))

	require.Equal(t, []Match{
		{SubscriptionID: "sub_a", Watched: victim, Direction: event.DirectionIn, Lookalike: true},
		{SubscriptionID: "sub_c", Watched: victim, Direction: event.DirectionIn},
		// sub_d watches poison: to it, victim is the lookalike.
		{SubscriptionID: "sub_d", Watched: poison, Direction: event.DirectionOut, Lookalike: true},
	}, collect(t, ix, trx(poison, victim)))

	// poison looks like sub_a's victim, but sub_a is not a party, and
	// sub_b watches nothing poison looks like.
	require.Equal(t, []Match{
		{SubscriptionID: "sub_b", Watched: bob, Direction: event.DirectionIn},
		{SubscriptionID: "sub_c", Watched: poison, Direction: event.DirectionOut},
		{SubscriptionID: "sub_d", Watched: poison, Direction: event.DirectionOut},
	}, collect(t, ix, trx(poison, bob)))
}

// TestIndex_lookalike_updates follows the flag through every change of an
// address set, with sweeps kept back and with sweeps at once (which free
// and recycle slots).
func TestIndex_lookalike_updates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sweepMin int
	}{
		{"garbage kept", 1 << 30},
		{"swept at once", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := New()
			ix.sweepMin = tt.sweepMin
			lookalike := func(e *event.Event) map[string]bool {
				t.Helper()
				requireLookConsistent(t, ix)
				out := map[string]bool{}
				for _, m := range collect(t, ix, e) {
					out[m.SubscriptionID] = m.Lookalike
				}
				return out
			}
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{bob}))
			require.Equal(t, map[string]bool{"sub_a": false}, lookalike(trx(poison, bob)))

			ix.AddAddresses("sub_a", []tron.Address{victim})
			require.Equal(t, map[string]bool{"sub_a": true}, lookalike(trx(poison, bob)), "added address")

			// Two watched addresses of one key: the flag stays until both go.
			ix.AddAddresses("sub_a", []tron.Address{tri1, tri2, tri1})
			require.Equal(t, map[string]bool{"sub_a": true}, lookalike(trx(tri3, bob)))
			ix.RemoveAddresses("sub_a", []tron.Address{tri1, tri1})
			require.Equal(t, map[string]bool{"sub_a": true}, lookalike(trx(tri3, bob)), "tri2 still watched")
			ix.RemoveAddresses("sub_a", []tron.Address{tri2})
			require.Equal(t, map[string]bool{"sub_a": false}, lookalike(trx(tri3, bob)), "none left")

			ix.RemoveAddresses("sub_a", []tron.Address{victim})
			require.Equal(t, map[string]bool{"sub_a": false}, lookalike(trx(poison, bob)), "removed address")

			// Upsert replaces the set, and the keys with it.
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{carol, victim}))
			require.Equal(t, map[string]bool{"sub_a": true}, lookalike(trx(poison, carol)))
			require.NoError(t, ix.Upsert(sub("sub_a"), []tron.Address{carol}))
			require.Equal(t, map[string]bool{"sub_a": false}, lookalike(trx(poison, carol)), "old set's keys are gone")

			// A subscription in a recycled slot inherits no key.
			require.NoError(t, ix.Upsert(sub("sub_b"), []tron.Address{sr1, victim2}))
			require.Equal(t, map[string]bool{"sub_b": true}, lookalike(trx(poison2, sr1)))
			ix.Delete("sub_b")
			ix.Delete("sub_a")
			require.Empty(t, lookalike(trx(poison2, sr1)))
			require.NoError(t, ix.Upsert(sub("sub_c"), []tron.Address{sr1}))
			require.NoError(t, ix.Upsert(sub("sub_d"), []tron.Address{carol}))
			require.Equal(t, map[string]bool{"sub_c": false}, lookalike(trx(poison2, sr1)))
			require.Equal(t, map[string]bool{"sub_d": false}, lookalike(trx(poison, carol)))

			// A subscription whose set empties gets no flag from its
			// contracts.
			require.NoError(t, ix.Upsert(sub("sub_e", withContracts(usdt)), []tron.Address{victim}))
			e := trc20(usdt, poison, victim, tron.AmountFromUint64(0))
			require.Equal(t, map[string]bool{"sub_e": true}, lookalike(e))
			ix.RemoveAddresses("sub_e", []tron.Address{victim})
			require.Equal(t, map[string]bool{"sub_e": false}, lookalike(e))

			if tt.sweepMin == 0 {
				require.Equal(t, ix.Addresses(), ix.look.pairs(), "no dead entries after a sweep")
			}
		})
	}
}
