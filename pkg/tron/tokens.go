package tron

import (
	"fmt"
	"strconv"
	"sync"
)

// TokenInfo is what is known of a token: its symbol and, when known, its
// decimals. Decimals < 0 means unknown; nothing here ever assumes 18.
type TokenInfo struct {
	Symbol   string
	Name     string
	Decimals int
	// Verified is true only for the entries of the built-in well-known
	// tables ([WellKnownTokens], [WellKnownTRC10]), which are matched by
	// contract address or TRC10 id. What a contract says of itself
	// (symbol(), name()) never makes a token verified: anyone can deploy
	// a token called "USDT".
	Verified bool
}

// TokenLookup answers from memory whether a token contract is known. It must
// not block: the decoder calls it for every log.
type TokenLookup interface {
	Token(contract Address) (TokenInfo, bool)
}

// Networks Mongotron knows by name.
const (
	NetworkMainnet = "mainnet"
	NetworkNile    = "nile"
	NetworkShasta  = "shasta"
)

// wellKnown is the built-in TRC20 table, per network. Every address is
// checked against its checksum when the table is first used.
var wellKnown = map[string][]struct {
	addr     string
	symbol   string
	name     string
	decimals int
}{
	NetworkMainnet: {
		{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT", "Tether USD", 6},
		{"TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8", "USDC", "USD Coin", 6},
		{"TPYmHEhy5n8TCEfYGqW2rPxsghSfzghPDn", "USDD", "Decentralized USD (old)", 18},
		{"TXDk8mbtRbXeYuMNS83CfKPaYYT8XWv9Hz", "USDD", "Decentralized USD", 18},
		{"TNUC9Qb1rRpS5CbWLmNMxXBjyFoydXjWFR", "WTRX", "Wrapped TRX", 6},
		{"TCFLL5dx5ZJdKnWuesXxi1VPwjLVmWZZy9", "JST", "JUST GOV", 18},
		{"TSSMHYeV2uE9qYH95DqyoCuNCzEL1NvU3S", "SUN", "SUN TOKEN", 18},
		{"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", "WIN", "WINK", 6},
		{"TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4", "BTT", "BitTorrent", 18},
	},
	NetworkNile: {
		{"TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", "USDT", "Tether USD", 6},
	},
	NetworkShasta: {
		{"TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs", "USDT", "Tether USD", 6},
	},
}

// wellKnownTRC10 is the built-in TRC10 table, per network, keyed by the
// numeric token id (never by name: TRC10 names are not unique since
// proposal 14, and counterfeit names have been used in thefts).
//
// Sources: mainnet 1002000 is the original BitTorrent token
// (getassetissuebyid: name "BitTorrent", abbr "BTT", precision 6, owner
// TF5Bn4cJCT6GVeUgyCN4rBhDg42KBrpAjg, as recorded in public TronGrid
// fixtures). It is listed under BTTOLD, as Tronscan shows it since the 2022
// redenomination, so that it is not mistaken for the TRC20 BTT of the table
// above (one BTTOLD became 1000 BTT). Nile and Shasta have no TRC10 entry:
// their test tokens are anyone's.
var wellKnownTRC10 = map[string][]struct {
	id       int64
	symbol   string
	name     string
	decimals int
}{
	NetworkMainnet: {
		{1002000, "BTTOLD", "BitTorrent (legacy TRC10 BTT)", 6},
	},
	NetworkNile:   {},
	NetworkShasta: {},
}

// TRC10IDsSinceBlock is the mainnet block from which TRC10 transfers name
// their token by numeric id (proposal 14, allowSameTokenName). Before it,
// asset_name and callValueInfo.tokenId held the token's name, which is not
// looked up in [WellKnownTRC10].
const TRC10IDsSinceBlock = 5537806

// StaticTokens is a fixed [TokenLookup].
type StaticTokens map[Address]TokenInfo

// Token implements [TokenLookup].
func (s StaticTokens) Token(a Address) (TokenInfo, bool) {
	t, ok := s[a]
	return t, ok
}

// StaticTRC10 is a fixed table of TRC10 tokens keyed by their numeric id in
// base 10 ("1002000").
type StaticTRC10 map[string]TokenInfo

// Token returns what the table knows of TRC10 token id.
func (s StaticTRC10) Token(id string) (TokenInfo, bool) {
	t, ok := s[id]
	return t, ok
}

type builtinTables struct {
	trc20 map[string]StaticTokens
	trc10 map[string]StaticTRC10
}

var builtin = sync.OnceValues(func() (builtinTables, error) {
	out := builtinTables{
		trc20: make(map[string]StaticTokens, len(wellKnown)),
		trc10: make(map[string]StaticTRC10, len(wellKnownTRC10)),
	}
	for network, list := range wellKnown {
		m := make(StaticTokens, len(list))
		for _, t := range list {
			a, err := ParseBase58(t.addr)
			if err != nil {
				return builtinTables{}, fmt.Errorf("tron: built-in token %s on %s: %w", t.symbol, network, err)
			}
			if _, dup := m[a]; dup {
				return builtinTables{}, fmt.Errorf("tron: built-in token %s on %s: duplicate address", t.symbol, network)
			}
			m[a] = TokenInfo{Symbol: t.symbol, Name: t.name, Decimals: t.decimals, Verified: true}
		}
		out.trc20[network] = m
	}
	for network, list := range wellKnownTRC10 {
		m := make(StaticTRC10, len(list))
		for _, t := range list {
			if t.id < 1000001 {
				return builtinTables{}, fmt.Errorf("tron: built-in TRC10 %s on %s: id %d is below 1000001", t.symbol, network, t.id)
			}
			m[strconv.FormatInt(t.id, 10)] = TokenInfo{Symbol: t.symbol, Name: t.name, Decimals: t.decimals, Verified: true}
		}
		out.trc10[network] = m
	}
	return out, nil
})

func tables() builtinTables {
	t, err := builtin()
	if err != nil {
		panic(err) // a typo in the tables above; TestWellKnownTokens pins it
	}
	return t
}

// WellKnownTokens returns the built-in TRC20 table of a network (empty for
// a network it has none for). Every entry is Verified. The caller must not
// modify it.
func WellKnownTokens(network string) StaticTokens {
	return tables().trc20[network]
}

// WellKnownTRC10 returns the built-in TRC10 table of a network, keyed by
// numeric token id (empty for a network it has none for). Every entry is
// Verified. The caller must not modify it.
func WellKnownTRC10(network string) StaticTRC10 {
	return tables().trc10[network]
}
