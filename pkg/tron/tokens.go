package tron

import (
	"fmt"
	"sync"
)

// TokenInfo is what is known of a token: its symbol and, when known, its
// decimals. Decimals < 0 means unknown; nothing here ever assumes 18.
type TokenInfo struct {
	Symbol   string
	Name     string
	Decimals int
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

// wellKnown is the built-in table, per network. Every address is checked
// against its checksum when the table is first used.
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

// StaticTokens is a fixed [TokenLookup].
type StaticTokens map[Address]TokenInfo

// Token implements [TokenLookup].
func (s StaticTokens) Token(a Address) (TokenInfo, bool) {
	t, ok := s[a]
	return t, ok
}

var builtin = sync.OnceValues(func() (map[string]StaticTokens, error) {
	out := make(map[string]StaticTokens, len(wellKnown))
	for network, list := range wellKnown {
		m := make(StaticTokens, len(list))
		for _, t := range list {
			a, err := ParseBase58(t.addr)
			if err != nil {
				return nil, fmt.Errorf("tron: built-in token %s on %s: %w", t.symbol, network, err)
			}
			m[a] = TokenInfo{Symbol: t.symbol, Name: t.name, Decimals: t.decimals}
		}
		out[network] = m
	}
	return out, nil
})

// WellKnownTokens returns the built-in token table of a network (empty for
// a network it has none for). The caller must not modify it.
func WellKnownTokens(network string) StaticTokens {
	m, err := builtin()
	if err != nil {
		panic(err) // a typo in the table above; TestWellKnownTokens pins it
	}
	return m[network]
}
