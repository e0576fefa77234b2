package gen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/mongotron/mongotron/pkg/tron"
)

// account is an address with the encodings the generator writes over and
// over, computed once.
type account struct {
	addr  tron.Address
	hex   string // 41… as in contract values
	evm   string // 20 bytes hex, as a log address
	topic string // 32-byte ABI word, as a log topic or argument
}

func newAccount(a tron.Address) account {
	h := hex.EncodeToString(a[:])
	return account{addr: a, hex: h, evm: h[2:], topic: "000000000000000000000000" + h[2:]}
}

// derive returns an address that depends only on the seed, a label and an
// index, so the population is the same whatever the order of generation.
func derive(seed uint64, label string, i uint64) tron.Address {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], seed)
	binary.BigEndian.PutUint64(buf[8:], i)
	h := sha256.New()
	h.Write(buf[:])
	h.Write([]byte(label))
	var sum [32]byte
	h.Sum(sum[:0])
	var a tron.Address
	a[0] = tron.AddressPrefix
	copy(a[1:], sum[:20])
	return a
}

// Token is a TRC20 token the synthetic chain moves. Its address is the real
// mainnet one, so token tables built for mainnet recognise it.
type Token struct {
	Address  tron.Address
	Symbol   string
	Name     string
	Decimals int
	// NoDecimals marks a contract whose decimals() reverts, as a token
	// that predates the optional ERC-20 views does: its decimals are
	// unknown and must stay unknown.
	NoDecimals bool
	// weight is the token's share of the non-USDT TRC20 transfers.
	weight int
	acct   account
}

// mainnetTokens are real mainnet TRC20 contracts; USDT must stay first, as
// most transfers pick it directly.
var mainnetTokens = []struct {
	addr, symbol, name string
	decimals, weight   int
}{
	{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT", "Tether USD", 6, 0},
	{"TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8", "USDC", "USD Coin", 6, 3},
	{"TNUC9Qb1rRpS5CbWLmNMxXBjyFoydXjWFR", "WTRX", "Wrapped TRX", 6, 3},
	{"TCFLL5dx5ZJdKnWuesXxi1VPwjLVmWZZy9", "JST", "JUST GOV v1.0", 18, 2},
	{"TSSMHYeV2uE9qYH95DqyoCuNCzEL1NvU3S", "SUN", "SUN TOKEN", 18, 2},
	{"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", "WIN", "WINK", 6, 1},
	{"TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4", "BTT", "BitTorrent", 18, 1},
}

// trc10Assets are TRC10 token ids seen on mainnet.
var trc10Assets = []string{"1002000", "1000226", "1000317", "1001090", "1004031", "1000451"}

// witnessCount is the number of super representatives producing blocks.
const witnessCount = 27
