package decode_test

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
)

func loadBlock(t testing.TB) *tron.Block {
	t.Helper()
	var b tron.Block
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "getblockbynum-43811922.json"), &b))
	return &b
}

func loadLedger(t testing.TB) map[string]tron.TxInfo {
	t.Helper()
	var m map[string]tron.TxInfo
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "gettransactioninfobyid-ledger.json"), &m))
	return m
}

// TestDecodeBlock_Mainnet43811922 pins the decoding of a whole real block:
// the block id and every txID verify, and the events per kind are exactly
// what its 198 transactions hold.
func TestDecodeBlock_Mainnet43811922(t *testing.T) {
	t.Parallel()
	b := loadBlock(t)
	require.Len(t, b.Transactions, 198)
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(b, nil)
	require.NoError(t, err)

	counts := map[event.Kind]int{}
	ids := map[string]bool{}
	transferCalls := 0
	memos := map[string]int{}
	flags := map[string]int{}
	for i, e := range evs {
		counts[e.Kind]++
		if e.MemoEncoding != "" {
			memos[string(e.Kind)+"/"+e.MemoEncoding]++
		}
		require.Equal(t, e.Kind.IsTransfer(), e.Flags != nil, "flags on every transfer, on nothing else")
		if e.Flags != nil && len(e.Flags) == 0 {
			flags[string(e.Kind)+"/clean"]++
		}
		for _, f := range e.Flags {
			flags[string(e.Kind)+"/"+string(f)]++
		}
		require.False(t, ids[e.ID], "duplicate id %s", e.ID)
		ids[e.ID] = true
		require.Equal(t, e.TxID+":0", e.ID)
		require.Equal(t, int64(43811922), e.Block.Number)
		require.Equal(t, "00000000029c845221998b944fbc7fdb174bdee264ecea7edcdad50d198bc305", e.Block.ID)
		require.Equal(t, "2022-09-01T06:40:42Z", e.Block.Timestamp.Format("2006-01-02T15:04:05Z07:00"))
		require.Equal(t, i, e.TxIndex, "one event per transaction, in block order")
		require.Equal(t, b.Transactions[i].Ret[0].ContractRet == "SUCCESS", e.Success)
		require.False(t, e.From.IsZero())
		if e.Kind == event.KindContractCall && e.Data.Method == "a9059cbb" {
			transferCalls++
		}
	}
	require.Equal(t, map[event.Kind]int{
		event.KindTRXTransfer:   73,
		event.KindTRC10Transfer: 62,
		event.KindContractCall:  63,
	}, counts)
	require.Equal(t, 61, transferCalls, "61 of the calls are transfer(address,uint256)")
	// The memos of this block are spam, scams among them (links hidden
	// with zero-width spaces): all valid UTF-8.
	require.Equal(t, map[string]int{"trx_transfer/utf8": 41, "trc10_transfer/utf8": 60}, memos)
	// One TRC10 transfer is of the real BTT (id 1002000); the 61 others
	// are of tokens nobody vouches for. No transfer is of zero.
	require.Equal(t, map[string]int{"trx_transfer/clean": 73, "trc10_transfer/clean": 1, "trc10_transfer/unverified_token": 61}, flags)

	btt := evs[59]
	require.Equal(t, "a73bf3d86b236da347599a513edd3fcd3a68fb65d24507fca791ed0d8beea4ef:0", btt.ID)
	require.Equal(t, "1002000", btt.Data.AssetID)
	require.Equal(t, "BTTOLD", btt.Token.Symbol)
	require.Equal(t, 6, *btt.Token.Decimals)
	require.True(t, btt.Token.Verified)
	require.Equal(t, "1888", btt.Amount.String())
	require.Equal(t, "0.001888", btt.AmountDecimal)
	require.Equal(t, []event.Flag{}, btt.Flags)
	require.Contains(t, btt.Memo, "sdhas", "a verified token says nothing of its sender's memo")

	first := evs[0]
	require.Equal(t, "TXHhpqfMYWGHJ4R2FgT44m6gY6Spngb8wd", first.From.String())
	require.Equal(t, "TJf36AH1KC7UoJwM2gDGg9Pufy2oG1rbgQ", first.To.String())
	require.Equal(t, "1", first.Amount.String())
	require.Equal(t, "0.000001", first.AmountDecimal)
	require.True(t, first.Token.Verified, "TRX is always verified")
	require.Equal(t, []event.Flag{}, first.Flags)

	out, err := json.Marshal(evs[3])
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"event","prev_cursor":"","id":"de3dee59b20a2ad2cdfefba435232d68379f1695c8619c77e29690f207a7fdc4:0",
		"kind":"trc10_transfer","network":"mainnet",
		"block":{"number":43811922,"id":"00000000029c845221998b944fbc7fdb174bdee264ecea7edcdad50d198bc305","timestamp":"2022-09-01T06:40:42Z"},
		"tx_id":"de3dee59b20a2ad2cdfefba435232d68379f1695c8619c77e29690f207a7fdc4","tx_index":3,"index":0,
		"success":true,"confirmations":0,"removed":false,
		"from":"TTmVQ8ZkpXVkLoGRzffsGxQtextAox6kNG","to":"THtDir5ur5zp1mAjWXaPhYXZskSpaBa83c",
		"token":{"verified":false},"amount":"10000000","flags":["unverified_token"],
		"memo":"F\u200bI\u200bL\u200b空\u200b投\u200b，恭\u200b喜\u200b你\u200b中\u200b签，打\u200b开 ww\u200bw.tro\u200bn0.xy\u200bz 可\u200b兑\u200b换\u200b3\u200b5\u200b0\u200b0\u200bT\u200bR\u200bX",
		"memo_encoding":"utf8","solidified":false,
		"data":{"contract_type":"TransferAssetContract","asset_id":"1004089"}}`, string(out))
}

func TestDecodeBlock_RefusesTamperedData(t *testing.T) {
	t.Parallel()
	cases := map[string]func(b *tron.Block){
		"block id":      func(b *tron.Block) { b.BlockID = strings.Repeat("0", 64) },
		"header":        func(b *tron.Block) { b.BlockHeader.RawData.Timestamp += 3000 },
		"tx raw data":   func(b *tron.Block) { b.Transactions[5].RawDataHex = b.Transactions[6].RawDataHex },
		"tx id":         func(b *tron.Block) { b.Transactions[7].TxID = b.Transactions[8].TxID },
		"missing infos": func(*tron.Block) {},
		"bad owner hex": func(b *tron.Block) { b.Transactions[0].RawData.Contract[0].Parameter.Value.OwnerAddress = "41zz" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := loadBlock(t)
			mutate(b)
			var infos []tron.TxInfo
			if name == "missing infos" {
				infos = []tron.TxInfo{}
			}
			// The owner check must hold even when ids are not verified.
			d := decode.NewDecoder(decode.DecoderConfig{SkipVerify: name == "bad owner hex"})
			_, err := d.DecodeBlock(b, infos)
			require.Error(t, err)
		})
	}
}

// TestDecodeTxInfo_LedgerUSDTTransfers checks every USDT Transfer log in the
// Ledger fixture against an independent reading of its topics and data.
func TestDecodeTxInfo_LedgerUSDTTransfers(t *testing.T) {
	t.Parallel()
	infos := loadLedger(t)
	d := decode.NewDecoder(decode.DecoderConfig{})
	ids := make([]string, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	seen := 0
	for _, id := range ids {
		info := infos[id]
		evs, err := d.DecodeTxInfo(&info, -1)
		require.NoError(t, err, id)
		require.Len(t, evs, len(info.Log), id)
		for i, l := range info.Log {
			if len(l.Topics) != 3 || l.Topics[0] != decode.TopicTransfer || l.Address != "a614f803b6fd780986a42c78ec9c7f77e6ded13c" {
				continue
			}
			seen++
			e := evs[i]
			require.Equal(t, event.KindTRC20Transfer, e.Kind)
			require.Equal(t, id+":"+itoa(1+i), e.ID)
			require.Equal(t, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", e.Contract.String())
			require.Equal(t, refBase58(l.Topics[1][24:]), e.From.String())
			require.Equal(t, refBase58(l.Topics[2][24:]), e.To.String())
			want, ok := new(big.Int).SetString(l.Data, 16)
			require.True(t, ok)
			require.Equal(t, want.String(), e.Amount.String())
			require.Equal(t, "USDT", e.Token.Symbol)
			require.Equal(t, 6, *e.Token.Decimals)
			require.True(t, e.Token.Verified, "USDT by its address")
			// No signer in an info alone: third_party_spender is never set.
			require.Equal(t, []event.Flag{}, e.Flags)
			require.Empty(t, e.Memo)
			require.True(t, e.Success)
			require.Equal(t, info.BlockNumber, e.Block.Number)
		}
	}
	require.Equal(t, 9, seen, "the fixture holds nine USDT transfers")
	// The fixture's README names one sender; pin it.
	got := infos["0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99"]
	evs, err := d.DecodeTxInfo(&got, 0)
	require.NoError(t, err)
	require.Equal(t, "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre", evs[0].From.String())
}

// TestDecodeBlock_ReceiptsDecideSuccessAndAmounts pairs real receipts from
// the Ledger fixture with transactions of the matching contract type: the
// OUT_OF_ENERGY call is a failure with its reason, and withdraw_amount and
// unfreeze_amount become the amounts of reward_claim and unstake.
func TestDecodeBlock_ReceiptsDecideSuccessAndAmounts(t *testing.T) {
	t.Parallel()
	infos := loadLedger(t)
	owner := "416e3b44b96104b26f84057974a1f0c9880f7c9b13"
	cases := []struct {
		txID, contractType string
		value              tron.ContractValue
		ret                string
		wantKind           event.Kind
		wantSuccess        bool
		wantAmount         string
		wantReceipt        string
	}{
		{"13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a", "TriggerSmartContract",
			tron.ContractValue{OwnerAddress: owner, ContractAddress: "41a614f803b6fd780986a42c78ec9c7f77e6ded13c", Data: "a9059cbb"},
			"OUT_OF_ENERGY", event.KindContractCall, false, "", "OUT_OF_ENERGY"},
		// The receipt alone must fail a transaction whose block entry
		// claims success.
		{"13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a", "TriggerSmartContract",
			tron.ContractValue{OwnerAddress: owner, ContractAddress: "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"},
			"SUCCESS", event.KindContractCall, false, "", "OUT_OF_ENERGY"},
		{"5364d83113409e07330c8af72a6334c2c49b0909cbf68191eba734d23131427f", "WithdrawBalanceContract",
			tron.ContractValue{OwnerAddress: owner}, "SUCCESS", event.KindRewardClaim, true, "6600255", ""},
		{"56eddcf4efa284fc4ab7de6ee23da2246aa86d48e91c11164ccbdd080f2531e2", "UnfreezeBalanceContract",
			tron.ContractValue{OwnerAddress: owner}, "SUCCESS", event.KindUnstake, true, "5000000", ""},
	}
	d := decode.NewDecoder(decode.DecoderConfig{SkipVerify: true})
	for _, c := range cases {
		t.Run(c.contractType+"/"+c.ret, func(t *testing.T) {
			info, ok := infos[c.txID]
			require.True(t, ok)
			b := &tron.Block{
				BlockID:     "x",
				BlockHeader: tron.BlockHeader{RawData: tron.BlockHeaderRaw{Number: info.BlockNumber, Timestamp: info.BlockTimeStamp}},
				Transactions: []tron.Transaction{{
					TxID: c.txID,
					Ret:  []tron.TxRet{{ContractRet: c.ret}},
					RawData: tron.TxRaw{Contract: []tron.Contract{{
						Type: c.contractType, Parameter: tron.ContractParameter{Value: c.value},
					}}},
				}},
			}
			evs, err := d.DecodeBlock(b, []tron.TxInfo{info})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			e := evs[0]
			require.Equal(t, c.wantKind, e.Kind)
			require.Equal(t, c.wantSuccess, e.Success)
			require.Equal(t, c.wantAmount, e.Amount.String())
			require.Equal(t, c.wantReceipt, e.Data.Receipt)
			if !c.wantSuccess {
				require.Contains(t, e.Data.Message, "Not enough energy")
			}
		})
	}
}

// TestDecodeBlock_FailedTransactionNeverAnnouncesASuccessfulTransfer covers
// the rule for every kind the block alone carries.
func TestDecodeBlock_FailedTransactionNeverAnnouncesASuccessfulTransfer(t *testing.T) {
	t.Parallel()
	b := loadBlock(t)
	for i := range b.Transactions {
		b.Transactions[i].Ret[0].ContractRet = "REVERT"
	}
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(b, nil)
	require.NoError(t, err)
	require.Len(t, evs, 198)
	for _, e := range evs {
		require.False(t, e.Success, e.ID)
		require.Equal(t, "REVERT", e.Data.Receipt)
	}
}

func TestDecodeTxInfo_LogKinds(t *testing.T) {
	t.Parallel()
	word := func(h string) string { return strings.Repeat("0", 64-len(h)) + h }
	from, to := "6e3b44b96104b26f84057974a1f0c9880f7c9b13", "ec20315a879c48f5e3a6a1c9826d5225f8b658b8"
	info := tron.TxInfo{
		ID:          strings.Repeat("ab", 32),
		BlockNumber: 7,
		Receipt:     tron.Receipt{Result: "SUCCESS"},
		Log: []tron.Log{
			{Address: "a614f803b6fd780986a42c78ec9c7f77e6ded13c", Topics: []string{decode.TopicTransfer, word(from), word(to)}, Data: word("ffffffffffffffffffffffffffffffff")},
			{Address: "a614f803b6fd780986a42c78ec9c7f77e6ded13c", Topics: []string{decode.TopicApproval, word(from), word(to)}, Data: word("1")},
			// TRC721: the token id is indexed too, so it is no amount.
			{Address: "1111111111111111111111111111111111111111", Topics: []string{decode.TopicTransfer, word(from), word(to), word("5")}},
			{Address: "1111111111111111111111111111111111111111", Topics: []string{"1234"}, Data: "00"},
			// A Transfer whose "address" topic has dirty upper bytes is
			// not a transfer we can trust.
			{Address: "1111111111111111111111111111111111111111", Topics: []string{decode.TopicTransfer, "ff" + word(from)[2:], word(to)}, Data: word("1")},
		},
	}
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeTxInfo(&info, 3)
	require.NoError(t, err)
	kinds := []event.Kind{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
		require.Equal(t, 3, e.TxIndex)
	}
	require.Equal(t, []event.Kind{event.KindTRC20Transfer, event.KindTRC20Approval, event.KindContractLog, event.KindContractLog, event.KindContractLog}, kinds)
	require.Equal(t, "340282366920938463463374607431768211455", evs[0].Amount.String(), "128-bit amounts stay exact")
	require.Equal(t, "340282366920938463463374607431768.211455", evs[0].AmountDecimal)
	require.Equal(t, "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre", evs[1].From.String())
	require.Equal(t, "TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx", evs[1].To.String())
	require.Equal(t, 3, *evs[3].Data.LogIndex)
	require.Nil(t, evs[2].Token, "unknown tokens stay unknown")
	require.Empty(t, evs[2].AmountDecimal)
	require.True(t, evs[0].Token.Verified)
	require.Equal(t, []event.Flag{}, evs[0].Flags)
	require.Nil(t, evs[1].Flags, "approvals carry no flags")
	for _, e := range evs[2:] {
		require.Nil(t, e.Flags, "logs carry no flags")
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// refBase58 is a deliberately naive base58check encoder (math/big), so the
// decoder's fast encoder is checked against an independent one.
func refBase58(evmHex string) string {
	payload, err := hex.DecodeString("41" + evmHex)
	if err != nil {
		panic(err)
	}
	sum := sha256twice(payload)
	full := append(payload, sum[:4]...)
	n := new(big.Int).SetBytes(full)
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	var out []byte
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, big.NewInt(58), mod)
		out = append([]byte{alphabet[mod.Int64()]}, out...)
	}
	return string(out)
}

// TestDecodeBlock_PartialInfos pins what a recorded block with only some of
// its infos gives: an error by default (at the head the node is not done),
// the block-alone events plus the logs it has with PartialInfos, and an
// error either way for an info of another block.
func TestDecodeBlock_PartialInfos(t *testing.T) {
	t.Parallel()
	b := loadBlock(t)
	word := func(h string) string { return strings.Repeat("0", 64-len(h)) + h }
	usdtCall := b.Transactions[1].TxID
	infos := []tron.TxInfo{{ID: usdtCall, Receipt: tron.Receipt{Result: "SUCCESS"}, Log: []tron.Log{{
		Address: "a614f803b6fd780986a42c78ec9c7f77e6ded13c",
		Topics:  []string{decode.TopicTransfer, word("4d5a62a45b04a10f08728c19863cf17e4b2a9cf7"), word("fa47e56b15cbf1e60dc50267257c1ab10820d3dc")},
		Data:    word("77359400"),
	}}}}

	_, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(b, infos)
	require.ErrorIs(t, err, decode.ErrMalformed)

	evs, err := decode.NewDecoder(decode.DecoderConfig{PartialInfos: true}).DecodeBlock(b, infos)
	require.NoError(t, err)
	require.Len(t, evs, 199)
	require.Equal(t, usdtCall+":1", evs[2].ID)
	require.Equal(t, event.KindTRC20Transfer, evs[2].Kind)
	require.Equal(t, "2000000000", evs[2].Amount.String())
	require.Equal(t, "2000", evs[2].AmountDecimal)
	require.Equal(t, []event.Flag{}, evs[2].Flags, "the transaction's signer is the sender: no third party")

	foreign := append(infos, tron.TxInfo{ID: strings.Repeat("cd", 32)})
	for _, partial := range []bool{false, true} {
		_, err := decode.NewDecoder(decode.DecoderConfig{PartialInfos: partial}).DecodeBlock(b, foreign)
		require.ErrorIs(t, err, decode.ErrMalformed)
	}
}
