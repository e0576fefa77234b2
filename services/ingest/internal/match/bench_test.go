package match

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Shape of the benchmark index.
const (
	benchSubs      = 10_000
	benchPairs     = 1_000_000
	benchShared    = 10_000 // hot addresses several subscriptions watch
	benchEvents    = 1 << 16
	benchHitRate   = 0.10
	benchSharedPct = 5 // percent of a subscription's addresses taken from the hot ones
)

// benchAddr returns a pseudo-random address for n (splitmix64), so that
// building the index keeps no address slice alive to spoil the memory
// figure.
func benchAddr(n uint64) tron.Address {
	var b [20]byte
	for i := 0; i < 20; i += 8 {
		n += 0x9e3779b97f4a7c15
		z := n
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], z)
		copy(b[i:], w[:])
	}
	return tron.AddressFromEVM(b[:])
}

// benchSizes returns skewed (Zipf, s=1) address set sizes for benchSubs
// subscriptions, capped at subscription.MaxAddresses, summing to benchPairs.
func benchSizes() []int {
	sizes := make([]int, benchSubs)
	var sum float64
	for i := range sizes {
		sum += 1 / float64(i+1)
	}
	total := 0
	for i := range sizes {
		sizes[i] = max(1, min(subscription.MaxAddresses, int(math.Floor(benchPairs/sum/float64(i+1)))))
		total += sizes[i]
	}
	for i := 1; total < benchPairs; i = i%(benchSubs-1) + 1 {
		sizes[i]++
		total++
	}
	return sizes
}

// benchIndex is the index of BenchmarkMatch and what its events need.
type benchIndex struct {
	ix           *Index
	bytesPerPair float64
	// watched returns the n-th watched address of the build.
	watched func(n int) tron.Address
	pairs   int
}

// buildBenchIndex builds 10,000 subscriptions holding 1,000,000 addresses,
// measuring the heap the index takes.
func buildBenchIndex(tb testing.TB) *benchIndex {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	sizes := benchSizes()
	usdt := benchAddr(math.MaxUint64)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	ix := New()
	next := uint64(benchShared)
	for i, n := range sizes {
		s := sub(fmt.Sprintf("sub_%08d", i), withConfirmations(i%20))
		switch i % 10 {
		case 0:
			withContracts(usdt)(s)
		case 1, 2:
			withKinds(event.KindTRC20Transfer, event.KindTRXTransfer)(s)
		case 3:
			withDirection(subscription.DirectionIn)(s)
		}
		as := make([]tron.Address, n)
		for j := range as {
			if rng.IntN(100) < benchSharedPct {
				as[j] = benchAddr(uint64(rng.IntN(benchShared)))
			} else {
				as[j] = benchAddr(next)
				next++
			}
		}
		if err := ix.Upsert(s, as); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	pairs := ix.Addresses()
	return &benchIndex{
		ix:           ix,
		bytesPerPair: float64(after.HeapAlloc-before.HeapAlloc) / float64(pairs),
		watched:      func(n int) tron.Address { return benchAddr(uint64(n) % next) },
		pairs:        pairs,
	}
}

// benchEventsFor returns events of which about benchHitRate have a
// watched party.
func benchEventsFor(bi *benchIndex) []*event.Event {
	rng := rand.New(rand.NewPCG(9, 9))
	usdt := benchAddr(math.MaxUint64)
	events := make([]*event.Event, benchEvents)
	unwatched := func() tron.Address { return benchAddr(1<<40 + rng.Uint64N(1<<40)) }
	for i := range events {
		e := &event.Event{Kind: event.KindTRXTransfer, Success: rng.IntN(20) != 0, From: unwatched(), To: unwatched(),
			Amount: tron.AmountFromUint64(rng.Uint64N(1e12))}
		if rng.IntN(10) < 6 {
			e.Kind, e.Contract = event.KindTRC20Transfer, usdt
		}
		if rng.Float64() < benchHitRate {
			w := bi.watched(rng.IntN(1 << 30))
			if rng.IntN(2) == 0 {
				e.To = w
			} else {
				e.From = w
			}
		}
		events[i] = e
	}
	return events
}

// BenchmarkMatch matches events against 10,000 subscriptions holding
// 1,000,000 addresses. events/s is per core under -cpu 1; B/address is the
// heap the whole index takes per watched (subscription, address) pair.
func BenchmarkMatch(b *testing.B) {
	bi := buildBenchIndex(b)
	events := benchEventsFor(bi)
	matches := 0
	count := func(Match) { matches++ }
	i := 0
	for b.Loop() {
		bi.ix.Match(events[i&(benchEvents-1)], count)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
	b.ReportMetric(bi.bytesPerPair, "B/address")
	b.ReportMetric(float64(bi.pairs), "addresses")
	runtime.KeepAlive(bi.ix)
}

// BenchmarkMatchParallel is BenchmarkMatch from every core at once, to show
// what the read lock costs under contention.
func BenchmarkMatchParallel(b *testing.B) {
	bi := buildBenchIndex(b)
	events := benchEventsFor(bi)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(benchEvents)
		for pb.Next() {
			bi.ix.Match(events[i&(benchEvents-1)], func(Match) {})
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkUpsert100k installs one subscription of 100,000 addresses into
// an empty index. keys-ms is the part of ns/op spent on the lookalike keys,
// before the write lock is taken; the rest pauses matching.
func BenchmarkUpsert100k(b *testing.B) {
	as := make([]tron.Address, subscription.MaxAddresses)
	for i := range as {
		as[i] = benchAddr(uint64(i))
	}
	s := sub("sub_big", withContracts(benchAddr(math.MaxUint64)))
	var keys time.Duration
	for b.Loop() {
		start := time.Now()
		_ = keysOf(as)
		keys += time.Since(start)
		ix := New()
		if err := ix.Upsert(s, as); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := b.Elapsed() - keys // the keys are worked out twice above
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(keys.Milliseconds())/float64(b.N), "keys-ms")
	b.ReportMetric(float64(b.N)*float64(len(as))/elapsed.Seconds(), "addresses/s")
}

// BenchmarkAddRemove10k adds then removes a bulk call's worth of
// addresses (docs/api.md's limit of 10,000) on a subscription of the full
// benchmark index, which must cost the same whatever the index holds.
func BenchmarkAddRemove10k(b *testing.B) {
	bi := buildBenchIndex(b)
	as := make([]tron.Address, subscription.MaxAddressesPerCall)
	for i := range as {
		as[i] = benchAddr(1<<50 + uint64(i))
	}
	for b.Loop() {
		bi.ix.AddAddresses("sub_00000042", as)
		bi.ix.RemoveAddresses("sub_00000042", as)
	}
	b.ReportMetric(float64(b.N)*2*float64(len(as))/b.Elapsed().Seconds(), "addresses/s")
}

// BenchmarkDelete deletes and re-creates a 100,000-address subscription in
// the full benchmark index: the sweep it triggers now and then is
// amortised over the deletions.
func BenchmarkDelete(b *testing.B) {
	bi := buildBenchIndex(b)
	as := make([]tron.Address, subscription.MaxAddresses)
	for i := range as {
		as[i] = benchAddr(1<<52 + uint64(i))
	}
	s := sub("sub_big")
	for b.Loop() {
		b.StopTimer()
		if err := bi.ix.Upsert(s, as); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		bi.ix.Delete("sub_big")
	}
}

// Shape of BenchmarkMatchBlock: an exchange's deposit addresses split over
// a few subscriptions, and one block's worth of transfers.
const (
	blockSubs       = 4
	blockPairs      = subscription.MaxAddresses // 100,000 watched addresses in all
	blockEvents     = 512                       // transfers in a busy block
	blockHitPct     = 25                        // percent of transfers touching a watched address
	blockFlaggedPct = 10                        // percent carrying a decoder flag
)

// buildBlockBench returns an index of blockPairs addresses over blockSubs
// subscriptions (plain, exclude_flags, only_verified, solidified with
// direction in) and one block of transfer events of the TRX, TRC10 and
// TRC20 kinds, a quarter of which touch a watched address.
func buildBlockBench(tb testing.TB) (*Index, []*event.Event) {
	tb.Helper()
	ix := New()
	per := blockPairs / blockSubs
	for i := range blockSubs {
		s := sub(fmt.Sprintf("sub_block%d", i))
		switch i {
		case 1:
			s.ExcludeFlags = []string{string(event.FlagZeroAmount), string(event.FlagLookalike)}
		case 2:
			s.OnlyVerified = true
		case 3:
			s.Finality = subscription.FinalitySolidified
			withDirection(subscription.DirectionIn)(s)
		}
		as := make([]tron.Address, per)
		for j := range as {
			as[j] = benchAddr(uint64(i*per + j))
		}
		if err := ix.Upsert(s, as); err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(11, 11))
	usdt := benchAddr(math.MaxUint64)
	verified := &event.Token{Symbol: "USDT", Verified: true}
	unverified := &event.Token{Symbol: "USDT"}
	kinds := []event.Kind{event.KindTRC20Transfer, event.KindTRC20Transfer, event.KindTRC20Transfer,
		event.KindTRXTransfer, event.KindTRXTransfer, event.KindTRC10Transfer, event.KindTRXInternalTransfer}
	events := make([]*event.Event, blockEvents)
	for i := range events {
		e := &event.Event{Kind: kinds[rng.IntN(len(kinds))], Success: true,
			From: benchAddr(1<<40 + rng.Uint64N(1<<40)), To: benchAddr(1<<40 + rng.Uint64N(1<<40)),
			Amount: tron.AmountFromUint64(rng.Uint64N(1e12)), Flags: []event.Flag{}}
		switch e.Kind {
		case event.KindTRC20Transfer:
			e.Contract, e.Token = usdt, verified
			if rng.IntN(5) == 0 {
				e.Token = unverified
			}
		case event.KindTRC10Transfer:
			e.Token = unverified
		}
		if rng.IntN(100) < blockFlaggedPct {
			e.Flags = append(e.Flags, event.FlagZeroAmount)
		}
		if rng.IntN(100) < blockHitPct {
			w := benchAddr(uint64(rng.IntN(blockPairs)))
			if rng.IntN(2) == 0 {
				e.To = w
			} else {
				e.From = w
			}
		}
		events[i] = e
	}
	return ix, events
}

// BenchmarkMatchBlock matches one block of transfers against 100,000
// watched addresses in four subscriptions, with the flag filters and the
// lookalike check in play; ns/event is the figure to compare.
func BenchmarkMatchBlock(b *testing.B) {
	ix, events := buildBlockBench(b)
	matches := 0
	count := func(Match) { matches++ }
	for b.Loop() {
		for _, e := range events {
			ix.Match(e, count)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
	b.ReportMetric(float64(matches)/float64(b.N*len(events)), "matches/event")
}

// BenchmarkKeyOf is the lookalike key of one address: the cost a transfer
// matched through an address pays once per counterparty, and Upsert once
// per address, before taking the lock.
func BenchmarkKeyOf(b *testing.B) {
	as := make([]tron.Address, 1024)
	for i := range as {
		as[i] = benchAddr(uint64(i))
	}
	var sink lookKey
	i := 0
	for b.Loop() {
		sink ^= keyOf(&as[i&1023])
		i++
	}
	runtime.KeepAlive(sink)
}
