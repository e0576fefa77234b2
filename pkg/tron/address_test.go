package tron_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
)

// knownPairs are real mainnet addresses from pkg/fixtures/testdata/tron/README.md.
var knownPairs = []struct{ b58, hex string }{
	{"TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx", "4160bb513e91aa723a10a4020ae6fcce39bce7e240"},
	{"TYD4pB7wGi1p8zK67rBTV3KdfEb9nvNDXh", "41f3f1c189594e2642e5d42d7669b4ec60a69802a9"},
	{"TXncUDXYkRCmwhFikxYMutwAy93fbhPbbv", "41ef51c82ea6336ba1544c4a182a7368e9fbe28274"},
	{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"},
	{"TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre", "416e3b44b96104b26f84057974a1f0c9880f7c9b13"},
	{"TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx", "41ec20315a879c48f5e3a6a1c9826d5225f8b658b8"},
}

func TestParseAddress_KnownPairsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range knownPairs {
		t.Run(p.b58, func(t *testing.T) {
			fromB58, err := tron.ParseAddress(p.b58)
			require.NoError(t, err)
			fromHex, err := tron.ParseAddress(p.hex)
			require.NoError(t, err)
			from0x, err := tron.ParseAddress("0x" + p.hex)
			require.NoError(t, err)
			fromUpper, err := tron.ParseAddress(strings.ToUpper(p.hex))
			require.NoError(t, err)
			from20, err := tron.ParseAddress(p.hex[2:])
			require.NoError(t, err)
			for _, a := range []tron.Address{fromHex, from0x, fromUpper, from20} {
				require.Equal(t, fromB58, a)
			}
			require.Equal(t, p.b58, fromB58.String())
			require.Equal(t, p.hex, fromB58.Hex())
			require.Equal(t, p.hex[2:], strings.TrimPrefix(fromB58.Hex(), "41"))
		})
	}
}

func TestParseAddress_ErrorsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	good := knownPairs[0].b58
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"bad checksum", good[:33] + flip(good[33]), "checksum"},
		{"bad alphabet", "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6V0", "alphabet"},
		{"base58 too short", "TJngGWiRMLgNFScEybQxLEKQ", "bytes"},
		{"hex wrong length", "4160bb513e91aa723a10a4020ae6fcce39bce7e24", "digits"},
		{"hex wrong prefix", "4260bb513e91aa723a10a4020ae6fcce39bce7e240", "prefix"},
		{"hex not hex", "0x41zzbb513e91aa723a10a4020ae6fcce39bce7e240", "hex"},
		// A valid base58check string whose payload has another prefix
		// (a Bitcoin address, prefix 0x00).
		{"base58 wrong prefix", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "prefix"},
		{"huge input", strings.Repeat("T", 10000), "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tron.ParseAddress(c.in)
			require.Error(t, err)
			require.ErrorIs(t, err, tron.ErrInvalidAddress)
			require.Contains(t, err.Error(), c.want)
			require.Less(t, len(err.Error()), 300, "errors stay short on huge input")
		})
	}
}

func TestAddress_JSONIsBase58AndZeroIsOmitted(t *testing.T) {
	t.Parallel()
	a, err := tron.ParseAddress(knownPairs[3].hex)
	require.NoError(t, err)
	type doc struct {
		A tron.Address `json:"a,omitzero"`
		B tron.Address `json:"b,omitzero"`
	}
	out, err := json.Marshal(doc{A: a})
	require.NoError(t, err)
	require.JSONEq(t, `{"a":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}`, string(out))
	var back doc
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, a, back.A)
	require.True(t, back.B.IsZero())
	require.Error(t, json.Unmarshal([]byte(`{"a":"Tnope"}`), &back))
}

func TestAddressFromWord_RejectsDirtyUpperBytes(t *testing.T) {
	t.Parallel()
	w := make([]byte, 32)
	w[31] = 1
	a, ok := tron.AddressFromWord(w)
	require.True(t, ok)
	require.Equal(t, byte(0x41), a[0])
	w[0] = 1
	_, ok = tron.AddressFromWord(w)
	require.False(t, ok)
	_, ok = tron.AddressFromWord(w[:31])
	require.False(t, ok)
}

func flip(c byte) string {
	if c == 'x' {
		return "y"
	}
	return "x"
}

func BenchmarkAddress_String(b *testing.B) {
	a, _ := tron.ParseAddress(knownPairs[0].b58)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.String()
	}
}
