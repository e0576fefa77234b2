package tron_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	largest := "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	cases := []struct {
		in   string
		ok   bool
		want string
	}{
		{"0", true, "0"},
		{"1500000", true, "1500000"},
		{"18446744073709551616", true, "18446744073709551616"}, // 2^64
		{largest, true, largest},
		{largest[:len(largest)-1] + "6", false, ""},
		{"", false, ""},
		{"-1", false, ""},
		{"1.5", false, ""},
		{"1e6", false, ""},
		{" 1", false, ""},
		{"01", false, ""},
		{"0x10", false, ""},
	}
	for _, c := range cases {
		a, err := tron.ParseAmount(c.in)
		if !c.ok {
			require.Error(t, err, c.in)
			require.ErrorIs(t, err, tron.ErrInvalidAmount)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, a.String())
	}
}

func TestAmount_CmpIsExactBeyondFloat(t *testing.T) {
	t.Parallel()
	a, _ := tron.ParseAmount("100000000000000000000000001")
	b, _ := tron.ParseAmount("100000000000000000000000000")
	require.Equal(t, 1, a.Cmp(b))
	require.Equal(t, -1, b.Cmp(a))
	require.Equal(t, 0, a.Cmp(a))
	require.Equal(t, -1, tron.Amount{}.Cmp(tron.AmountFromUint64(0)), "no amount sorts below zero")
}

func TestAmount_Decimal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		n    uint64
		dec  int
		want string
	}{
		{1500000, 6, "1.5"},
		{1, 6, "0.000001"},
		{1000000, 6, "1"},
		{0, 6, "0"},
		{123, 0, "123"},
		{120, 2, "1.2"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, tron.AmountFromUint64(c.n).Decimal(c.dec), "%d/%d", c.n, c.dec)
	}
	big, _ := tron.ParseAmount("123456789012345678901234567890")
	require.Equal(t, "123456789012.34567890123456789", big.Decimal(18))
}

func TestAmount_JSONOmitsOnlyNoAmount(t *testing.T) {
	t.Parallel()
	type doc struct {
		A tron.Amount `json:"a,omitzero"`
	}
	out, _ := json.Marshal(doc{})
	require.JSONEq(t, `{}`, string(out))
	out, _ = json.Marshal(doc{A: tron.AmountFromUint64(0)})
	require.JSONEq(t, `{"a":"0"}`, string(out))
	var d doc
	require.NoError(t, json.Unmarshal([]byte(`{"a":"42"}`), &d))
	require.Equal(t, "42", d.A.String())
	require.Error(t, json.Unmarshal([]byte(`{"a":"4.2"}`), &d))
}
