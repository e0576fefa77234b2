// Package gen generates the synthetic chain: deterministic blocks with a
// mainnet-like mix of transactions and the transaction infos a full node
// would return for them. A block depends only on the seed, its number, its
// fork generation and the ids of the few blocks before it (its parent and
// the blocks its transactions reference), never on the content of earlier
// blocks, so any block can be regenerated on demand.
//
// A share of the transactions ([Config.TrapRate]) are traps: what real
// chains hold and deposit pipelines must survive (internal transactions,
// rejected ones, failed calls listing them, a fake USDT, address
// poisoning with lookalike addresses, memos). [Output.Traps] says where
// each one is.
package gen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Config configures a [Generator].
type Config struct {
	// Seed makes the chain: the same seed gives the same blocks.
	Seed uint64
	// TxsPerBlock is the mean number of transactions per block; each block
	// holds between 80% and 120% of it. Zero or negative means empty blocks.
	TxsPerBlock int
	// Addresses is the size of the account population. Zero or less means
	// 10000; fewer than 2 is raised to 2 so a transfer has two ends.
	Addresses int
	// TrapRate is the fraction of transactions that are traps (see
	// [TrapKind]) instead of ordinary ones, at most 1. Zero or less means
	// none.
	TrapRate float64
}

// Generator makes blocks. It holds no mutable state after New and is safe
// for concurrent use.
type Generator struct {
	seed uint64
	txs  int
	// n is the size of the Zipf-skewed population; pop holds it.
	n         int
	pop       []account
	witnesses []account
	tokens    []Token
	// otherWeights is the cumulative weight of tokens[1:].
	otherWeights []int
	router       account
	// trapPPM is the share of traps, per million transactions.
	trapPPM uint64
	world   trapWorld
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	n := cfg.Addresses
	if n <= 0 {
		n = 10000
	}
	n = max(n, 2)
	g := &Generator{seed: cfg.Seed, txs: max(cfg.TxsPerBlock, 0), n: n}
	if cfg.TrapRate > 0 {
		g.trapPPM = uint64(min(cfg.TrapRate, 1) * 1_000_000)
	}
	g.world = newTrapWorld(cfg.Seed)
	g.pop = make([]account, n)
	for i := range g.pop {
		g.pop[i] = newAccount(derive(cfg.Seed, "account", uint64(i)))
	}
	g.witnesses = make([]account, witnessCount)
	for i := range g.witnesses {
		g.witnesses[i] = newAccount(derive(cfg.Seed, "witness", uint64(i)))
	}
	g.router = newAccount(derive(cfg.Seed, "router", 0))
	g.tokens = MainnetTokens()
	total := 0
	for _, t := range g.tokens[1:] {
		total += t.weight
		g.otherWeights = append(g.otherWeights, total)
	}
	return g
}

// MainnetTokens returns the TRC20 tokens the chain moves, USDT first. They
// are real mainnet contracts, so a replayed mainnet block's tokens are
// among them too.
func MainnetTokens() []Token {
	out := make([]Token, 0, len(mainnetTokens))
	for _, t := range mainnetTokens {
		a, err := tron.ParseBase58(t.addr)
		if err != nil {
			panic(fmt.Sprintf("gen: built-in token %s: %v", t.symbol, err)) // pinned by TestGenerator_Tokens
		}
		out = append(out, Token{Address: a, Symbol: t.symbol, Name: t.name, Decimals: t.decimals, weight: t.weight, acct: newAccount(a)})
	}
	return out
}

// Tokens returns the mainnet TRC20 tokens the chain moves, USDT first;
// [Generator.TrapTokens] returns the others.
func (g *Generator) Tokens() []Token { return append([]Token(nil), g.tokens...) }

// mix hashes the seed and the values into 64 bits (splitmix64 steps), so
// that nearby block numbers give unrelated streams.
func mix(seed uint64, vals ...uint64) uint64 {
	z := seed ^ 0x9e3779b97f4a7c15
	for _, v := range vals {
		z ^= v
		z += 0x9e3779b97f4a7c15
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
	}
	return z
}

// TxCount returns how many transactions block number holds in fork
// generation fork.
func (g *Generator) TxCount(number int64, fork uint32) int {
	if g.txs == 0 {
		return 0
	}
	lo, hi := g.txs*4/5, g.txs*6/5
	return lo + int(mix(g.seed, uint64(number), uint64(fork), 1)%uint64(hi-lo+1))
}

// zeroRoot is the txTrieRoot java-tron writes for an empty block.
const zeroRoot = "0000000000000000000000000000000000000000000000000000000000000000"

// Header returns the raw header of a block. It is cheap (no transaction is
// generated) because the chain's ids are computed from headers alone: the
// txTrieRoot is derived from the seed, since nobody verifies it. A replaced
// block (fork > 0) is produced by another witness, which is both what a
// real fork looks like and what makes its id differ.
func (g *Generator) Header(number int64, fork uint32, parentID string, timestamp int64) tron.BlockHeaderRaw {
	root := zeroRoot
	if g.TxCount(number, fork) > 0 {
		var buf [24]byte
		binary.BigEndian.PutUint64(buf[:8], g.seed)
		binary.BigEndian.PutUint64(buf[8:16], uint64(number))
		binary.BigEndian.PutUint64(buf[16:], uint64(fork))
		sum := sha256.Sum256(buf[:])
		root = hex.EncodeToString(sum[:])
	}
	w := g.witnesses[(uint64(number)+7*uint64(fork))%witnessCount]
	return tron.BlockHeaderRaw{
		Number:         number,
		TxTrieRoot:     root,
		WitnessAddress: w.hex,
		ParentHash:     parentID,
		Version:        32,
		Timestamp:      timestamp,
	}
}

// BlockInput is what [Generator.Block] needs besides the seed.
type BlockInput struct {
	// Header is the block's raw header, from [Generator.Header].
	Header tron.BlockHeaderRaw
	// ID is the id Header hashes to.
	ID string
	// Fork is the block's fork generation (0 until a reorg replaces it).
	Fork uint32
	// Recent holds the ids of the blocks before this one, parent first;
	// transactions reference one of them. It must not be empty.
	Recent []string
}

// Output is a generated block.
type Output struct {
	Block tron.Block
	// Infos holds one transaction info per transaction, in order.
	Infos []tron.TxInfo
	// Traps lists the block's traps in transaction order; nil when it
	// has none.
	Traps []Trap
}

// Block returns a block, its transaction infos and its traps. A trap
// takes the place of the ordinary transaction at its position, which is
// generated all the same so that the other transactions of the block do
// not depend on where the traps are.
func (g *Generator) Block(in BlockInput) (Output, error) {
	h := in.Header
	if len(in.Recent) == 0 {
		return Output{}, fmt.Errorf("gen: block %d: no recent block ids to reference", h.Number)
	}
	r := rand.New(rand.NewPCG(mix(g.seed, uint64(h.Number), uint64(in.Fork), 2), mix(g.seed, uint64(h.Number), uint64(in.Fork), 3)))
	b := tron.Block{
		BlockID:     in.ID,
		BlockHeader: tron.BlockHeader{RawData: h, WitnessSignature: signature(r)},
	}
	n := g.TxCount(h.Number, in.Fork)
	if n == 0 {
		return Output{Block: b, Infos: []tron.TxInfo{}}, nil
	}
	bb := &builder{
		g:      g,
		r:      r,
		zipf:   rand.NewZipf(r, 1.1, 1, uint64(g.n-1)),
		number: h.Number,
		fork:   in.Fork,
		ts:     h.Timestamp,
		recent: in.Recent,
		raw:    make([]byte, 0, 512),
	}
	b.Transactions = make([]tron.Transaction, 0, n)
	infos := make([]tron.TxInfo, 0, n)
	var traps []Trap
	for i := range n {
		bb.pending = bb.pending[:0]
		tx, info, err := bb.tx(i)
		if err != nil {
			return Output{}, fmt.Errorf("gen: block %d tx %d: %w", h.Number, i, err)
		}
		pending := bb.pending
		if g.isTrap(h.Number, in.Fork, i) {
			tb := bb.trapBuilder(i)
			if tx, info, err = tb.trap(); err != nil {
				return Output{}, fmt.Errorf("gen: block %d trap %d: %w", h.Number, i, err)
			}
			pending = tb.pending
		}
		for _, t := range pending {
			t.TxID, t.TxIndex = tx.TxID, i
			traps = append(traps, t)
		}
		b.Transactions = append(b.Transactions, tx)
		infos = append(infos, info)
	}
	return Output{Block: b, Infos: infos, Traps: traps}, nil
}

// signature returns 65 bytes that look like a secp256k1 signature with its
// recovery id.
func signature(r *rand.Rand) string {
	var s [65]byte
	for i := 0; i < 64; i += 8 {
		binary.LittleEndian.PutUint64(s[i:], r.Uint64())
	}
	s[64] = byte(r.IntN(2))
	return hex.EncodeToString(s[:])
}
