package decode_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Real address pairs (fixtures README).
const (
	addrA    = "416e3b44b96104b26f84057974a1f0c9880f7c9b13" // TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre
	addrB    = "41ec20315a879c48f5e3a6a1c9826d5225f8b658b8" // TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx
	addrC    = "4160bb513e91aa723a10a4020ae6fcce39bce7e240" // TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx
	usdtHex  = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c" // TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t
	otherHex = "41f3f1c189594e2642e5d42d7669b4ec60a69802a9" // TYD4pB7wGi1p8zK67rBTV3KdfEb9nvNDXh
)

// oneTx returns a one-transaction block (ids unchecked) and its info.
func oneTx(contractType string, v tron.ContractValue, data string, logs ...tron.Log) (*tron.Block, []tron.TxInfo) {
	id := strings.Repeat("ef", 32)
	b := &tron.Block{
		BlockID:     "x",
		BlockHeader: tron.BlockHeader{RawData: tron.BlockHeaderRaw{Number: 70_000_000, Timestamp: 1_740_000_000_000}},
		Transactions: []tron.Transaction{{
			TxID: id,
			Ret:  []tron.TxRet{{ContractRet: "SUCCESS"}},
			RawData: tron.TxRaw{Data: data, Contract: []tron.Contract{{
				Type: contractType, Parameter: tron.ContractParameter{Value: v},
			}}},
		}},
	}
	return b, []tron.TxInfo{{ID: id, BlockNumber: 70_000_000, Receipt: tron.Receipt{Result: "SUCCESS"}, Log: logs}}
}

func transferLog(contractHex, fromHex, toHex, amountHex string) tron.Log {
	return tron.Log{Address: contractHex[2:], Topics: []string{decode.TopicTransfer, word(fromHex[2:]), word(toHex[2:])}, Data: word(amountHex)}
}

func approvalLog(contractHex, ownerHex, spenderHex, amountHex string) tron.Log {
	return tron.Log{Address: contractHex[2:], Topics: []string{decode.TopicApproval, word(ownerHex[2:]), word(spenderHex[2:])}, Data: word(amountHex)}
}

func mustAddr(t testing.TB, h string) tron.Address {
	t.Helper()
	a, err := tron.ParseHex(h)
	require.NoError(t, err)
	return a
}

func TestMemo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, wantMemo, wantEnc string
		wantErr                       bool
	}{
		{"empty", "", "", "", false},
		{"ascii", "68656c6c6f", "hello", decode.MemoUTF8, false},
		{"utf8", "e4bda0e5a5bd", "你好", decode.MemoUTF8, false},
		{"upper-case hex", "68454C4C4F", "hELLO", decode.MemoUTF8, false},
		// An exchange deposit id is often plain digits.
		{"digits", "3132333435", "12345", decode.MemoUTF8, false},
		{"NUL is valid UTF-8", "00", "\x00", decode.MemoUTF8, false},
		{"not UTF-8", "ff00fe", "ff00fe", decode.MemoHex, false},
		{"not UTF-8 upper-case", "FF00FE", "ff00fe", decode.MemoHex, false},
		{"truncated UTF-8", "e4bd", "e4bd", decode.MemoHex, false},
		{"not hex", "zz", "", "", true},
		{"odd length", "abc", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			memo, enc, err := decode.Memo(tt.data)
			if tt.wantErr {
				require.ErrorIs(t, err, decode.ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantMemo, memo)
			require.Equal(t, tt.wantEnc, enc)
		})
	}
}

// TestDecodeBlock_Memos: TRX and TRC10 transfers carry the transaction's
// raw_data.data; other kinds never do; an empty memo is absent from JSON.
func TestDecodeBlock_Memos(t *testing.T) {
	t.Parallel()
	trx := tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, Amount: 1}
	trc10 := tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, Amount: 1, AssetName: "31303032303030"}
	call := tron.ContractValue{OwnerAddress: addrA, ContractAddress: usdtHex}
	tests := []struct {
		name, contractType string
		value              tron.ContractValue
		data               string
		wantMemo, wantEnc  string
		wantErr            bool
	}{
		{"trx utf8", "TransferContract", trx, "6465706f7369742d3432", "deposit-42", "utf8", false},
		{"trx hex", "TransferContract", trx, "c3", "c3", "hex", false},
		{"trx none", "TransferContract", trx, "", "", "", false},
		{"trc10 utf8", "TransferAssetContract", trc10, "6d656d6f", "memo", "utf8", false},
		{"trc10 hex", "TransferAssetContract", trc10, "fffe", "fffe", "hex", false},
		{"contract call keeps no memo", "TriggerSmartContract", call, "6d656d6f", "", "", false},
		{"trx memo not hex", "TransferContract", trx, "xyz0", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, infos := oneTx(tt.contractType, tt.value, tt.data)
			evs, err := decode.NewDecoder(decode.DecoderConfig{SkipVerify: true}).DecodeBlock(b, infos)
			if tt.wantErr {
				require.ErrorIs(t, err, decode.ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, tt.wantMemo, evs[0].Memo)
			require.Equal(t, tt.wantEnc, evs[0].MemoEncoding)
			out, err := json.Marshal(evs[0])
			require.NoError(t, err)
			require.Equal(t, tt.wantMemo != "", strings.Contains(string(out), `"memo":`), string(out))
		})
	}
}

// TestDecodeBlock_Flags sets each flag exactly where it belongs: every
// transfer kind has flags ([] when clean), nothing else has any.
func TestDecodeBlock_Flags(t *testing.T) {
	t.Parallel()
	fakeUSDT := mustAddr(t, otherHex)
	usdt := mustAddr(t, usdtHex)
	lookups := map[string]tron.TokenLookup{
		"builtin": nil,
		// A contract that calls itself USDT is not USDT: verified comes
		// from the address only.
		"fake USDT": tron.StaticTokens{fakeUSDT: {Symbol: "USDT", Name: "Tether USD", Decimals: 6}, usdt: {Symbol: "USDT", Name: "Tether USD", Decimals: 6, Verified: true}},
		// The decoder believes the lookup's Verified, not the symbol.
		"unverified USDT": tron.StaticTokens{usdt: {Symbol: "USDT", Decimals: 6}},
	}
	trigger := func(owner string) tron.ContractValue {
		return tron.ContractValue{OwnerAddress: owner, ContractAddress: usdtHex, Data: "a9059cbb"}
	}
	tests := []struct {
		name, lookup, contractType string
		value                      tron.ContractValue
		logs                       []tron.Log
		wantKind                   event.Kind
		wantFlags                  []event.Flag // nil: not a transfer, no flags at all
		wantVerified               bool
		wantSymbol                 string
	}{
		{name: "trx", contractType: "TransferContract", value: tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, Amount: 1},
			wantKind: event.KindTRXTransfer, wantFlags: []event.Flag{}, wantVerified: true, wantSymbol: "TRX"},
		{name: "trx zero", contractType: "TransferContract", value: tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB},
			wantKind: event.KindTRXTransfer, wantFlags: []event.Flag{event.FlagZeroAmount}, wantVerified: true, wantSymbol: "TRX"},
		{name: "trc10 verified", contractType: "TransferAssetContract", value: tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, Amount: 5, AssetName: "31303032303030"},
			wantKind: event.KindTRC10Transfer, wantFlags: []event.Flag{}, wantVerified: true, wantSymbol: "BTTOLD"},
		{name: "trc10 unverified", contractType: "TransferAssetContract", value: tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, Amount: 5, AssetName: "31303034303839"},
			wantKind: event.KindTRC10Transfer, wantFlags: []event.Flag{event.FlagUnverifiedToken}},
		{name: "trc10 unverified zero", contractType: "TransferAssetContract", value: tron.ContractValue{OwnerAddress: addrA, ToAddress: addrB, AssetName: "31303034303839"},
			wantKind: event.KindTRC10Transfer, wantFlags: []event.Flag{event.FlagZeroAmount, event.FlagUnverifiedToken}},
		{name: "usdt sent by its owner", contractType: "TriggerSmartContract", value: trigger(addrA),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{}, wantVerified: true, wantSymbol: "USDT"},
		{name: "usdt pulled by its receiver", contractType: "TriggerSmartContract", value: trigger(addrB),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{}, wantVerified: true, wantSymbol: "USDT"},
		{name: "usdt moved by a third party", contractType: "TriggerSmartContract", value: trigger(addrC),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{event.FlagThirdPartySpender}, wantVerified: true, wantSymbol: "USDT"},
		// Address poisoning: transferFrom(victim, lookalike, 0) by anyone.
		{name: "poisoning", contractType: "TriggerSmartContract", value: trigger(addrC),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "0")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{event.FlagZeroAmount, event.FlagThirdPartySpender}, wantVerified: true, wantSymbol: "USDT"},
		{name: "fake usdt", lookup: "fake USDT", contractType: "TriggerSmartContract", value: trigger(addrA),
			logs:     []tron.Log{transferLog(otherHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{event.FlagUnverifiedToken}, wantSymbol: "USDT"},
		{name: "real usdt beside the fake", lookup: "fake USDT", contractType: "TriggerSmartContract", value: trigger(addrA),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{}, wantVerified: true, wantSymbol: "USDT"},
		{name: "lookup says unverified", lookup: "unverified USDT", contractType: "TriggerSmartContract", value: trigger(addrA),
			logs:     []tron.Log{transferLog(usdtHex, addrA, addrB, "f4240")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{event.FlagUnverifiedToken}, wantSymbol: "USDT"},
		{name: "unknown token, all three", contractType: "TriggerSmartContract", value: trigger(addrC),
			logs:     []tron.Log{transferLog(otherHex, addrA, addrB, "0")},
			wantKind: event.KindTRC20Transfer, wantFlags: []event.Flag{event.FlagZeroAmount, event.FlagUnverifiedToken, event.FlagThirdPartySpender}},
		{name: "approval gets none", contractType: "TriggerSmartContract", value: trigger(addrC),
			logs:     []tron.Log{approvalLog(otherHex, addrA, addrB, "0")},
			wantKind: event.KindTRC20Approval},
		{name: "contract log gets none", contractType: "TriggerSmartContract", value: trigger(addrC),
			logs:     []tron.Log{{Address: usdtHex[2:], Topics: []string{strings.Repeat("12", 32)}}},
			wantKind: event.KindContractLog},
		{name: "stake gets none", contractType: "FreezeBalanceV2Contract", value: tron.ContractValue{OwnerAddress: addrA, FrozenBalance: 0},
			wantKind: event.KindStake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, infos := oneTx(tt.contractType, tt.value, "", tt.logs...)
			d := decode.NewDecoder(decode.DecoderConfig{SkipVerify: true, Tokens: lookups[tt.lookup]})
			evs, err := d.DecodeBlock(b, infos)
			require.NoError(t, err)
			var e *event.Event
			for i := range evs {
				if evs[i].Kind == event.KindContractCall {
					require.Nil(t, evs[i].Flags, "contract calls carry no flags")
					continue
				}
				e = &evs[i]
			}
			require.NotNil(t, e)
			require.Equal(t, tt.wantKind, e.Kind)
			require.Equal(t, tt.wantKind.IsTransfer(), e.Flags != nil)
			require.Equal(t, tt.wantFlags, e.Flags)
			if tt.wantKind.IsTransfer() {
				require.NotNil(t, e.Token, "every transfer says whether its token is verified")
				require.Equal(t, tt.wantVerified, e.Token.Verified)
				require.Equal(t, tt.wantSymbol, e.Token.Symbol)
				out, err := json.Marshal(e)
				require.NoError(t, err)
				require.Contains(t, string(out), `"flags":[`)
			}
		})
	}
}

// TestDecodeTxInfo_NoSignerNoThirdPartyFlag: the info alone does not say
// who signed, so third_party_spender is left unset, not guessed.
func TestDecodeTxInfo_NoSignerNoThirdPartyFlag(t *testing.T) {
	t.Parallel()
	_, infos := oneTx("TriggerSmartContract", tron.ContractValue{}, "", transferLog(usdtHex, addrA, addrB, "0"))
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeTxInfo(&infos[0], 0)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, []event.Flag{event.FlagZeroAmount}, evs[0].Flags)
}

// TestDecodeBlock_FlagsSurviveCopies: events are copied per subscription,
// and a flag one copy adds (lookalike) must not show up in another.
func TestDecodeBlock_FlagsSurviveCopies(t *testing.T) {
	t.Parallel()
	for _, amount := range []string{"f4240", "0"} {
		b, infos := oneTx("TriggerSmartContract", tron.ContractValue{OwnerAddress: addrC, ContractAddress: usdtHex}, "", transferLog(usdtHex, addrA, addrB, amount))
		evs, err := decode.NewDecoder(decode.DecoderConfig{SkipVerify: true}).DecodeBlock(b, infos)
		require.NoError(t, err)
		orig := evs[1]
		before := append([]event.Flag(nil), orig.Flags...)
		a, c := orig, orig
		a.AddFlag(event.FlagLookalike)
		c.AddFlag(event.FlagZeroAmount)
		require.Equal(t, before, orig.Flags, "the decoded event is unchanged")
		require.True(t, a.HasFlag(event.FlagLookalike))
		require.False(t, c.HasFlag(event.FlagLookalike))
		require.Equal(t, before, evs[1].Flags)
	}
}
