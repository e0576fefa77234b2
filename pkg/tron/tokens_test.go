package tron_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
)

// TestWellKnownTokens pins the built-in TRC20 tables: every address passes
// its checksum (the table would panic otherwise), every entry is verified
// and has known decimals, and a token is found by address, never by symbol.
func TestWellKnownTokens(t *testing.T) {
	t.Parallel()
	for _, network := range []string{tron.NetworkMainnet, tron.NetworkNile, tron.NetworkShasta} {
		m := tron.WellKnownTokens(network)
		require.NotEmpty(t, m, network)
		for a, info := range m {
			require.True(t, info.Verified, "%s %s", network, a)
			require.GreaterOrEqual(t, info.Decimals, 0, "%s %s", network, a)
			require.NotEmpty(t, info.Symbol)
			back, err := tron.ParseBase58(a.String())
			require.NoError(t, err)
			require.Equal(t, a, back)
		}
	}
	require.Empty(t, tron.WellKnownTokens("devnet"), "an unknown network has no table")

	usdt, err := tron.ParseBase58("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	info, ok := tron.WellKnownTokens(tron.NetworkMainnet).Token(usdt)
	require.True(t, ok)
	require.Equal(t, tron.TokenInfo{Symbol: "USDT", Name: "Tether USD", Decimals: 6, Verified: true}, info)
	// Mainnet USDT's address means nothing on Nile.
	_, ok = tron.WellKnownTokens(tron.NetworkNile).Token(usdt)
	require.False(t, ok)
}

func TestWellKnownTRC10(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network, id string
		want        tron.TokenInfo
		wantOK      bool
	}{
		{tron.NetworkMainnet, "1002000", tron.TokenInfo{Symbol: "BTTOLD", Name: "BitTorrent (legacy TRC10 BTT)", Decimals: 6, Verified: true}, true},
		// Lookups are by exact id: no name, no padding, no other network.
		{tron.NetworkMainnet, "BitTorrent", tron.TokenInfo{}, false},
		{tron.NetworkMainnet, "01002000", tron.TokenInfo{}, false},
		{tron.NetworkMainnet, "1004089", tron.TokenInfo{}, false},
		{tron.NetworkNile, "1002000", tron.TokenInfo{}, false},
		{tron.NetworkShasta, "1002000", tron.TokenInfo{}, false},
		{"devnet", "1002000", tron.TokenInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/"+tt.id, func(t *testing.T) {
			t.Parallel()
			got, ok := tron.WellKnownTRC10(tt.network).Token(tt.id)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
