package decode_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
)

// The Shasta block 1,000,000 and its transaction infos (see the fixtures'
// README): six dice-game calls whose receipts hold eight internal frames,
// three of them paying TRX out.
const (
	shastaBlockID = "00000000000f424013e51b18e0782a32fa079ddafdb2f4c343468cf8896dc887"
	payout1Tx     = "98d0f4149bf8023a9df4d2b754f6c728a5b6d021c4497c6cd5452b97f01b0548"
	payout2Tx     = "4ef51a5760bf98dc2dd752658f48db1445e8ca75f8a6efe14d5a462a15edd3f0"
	payout3Tx     = "80e07e3f2b92a0e9974b1398964e006288836dee82aa3a81e579a512e6581354"
	diceHex       = "8d9dd663cf90256fdf2faba2a1be71f8a0147f8c"
)

func loadShasta(t testing.TB) (*tron.Block, []tron.TxInfo) {
	t.Helper()
	var b tron.Block
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "getblock-shasta-1000000.json"), &b))
	byID := loadInternalInfos(t)
	infos := make([]tron.TxInfo, 0, len(b.Transactions))
	for _, tx := range b.Transactions {
		info, ok := byID[tx.TxID]
		require.True(t, ok, "no info for %s", tx.TxID)
		infos = append(infos, info)
	}
	return &b, infos
}

func loadInternalInfos(t testing.TB) map[string]tron.TxInfo {
	t.Helper()
	var m map[string]tron.TxInfo
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "gettransactioninfobyid-internal.json"), &m))
	return m
}

func shastaDecoder() *decode.Decoder {
	return decode.NewDecoder(decode.DecoderConfig{Network: tron.NetworkShasta})
}

// TestDecodeBlock_InternalTransfersFromRealReceipts decodes a whole real
// block with every id verified: the three TRX payouts of its receipts are
// trx_internal_transfer events with exact parties, amounts and ids, after
// their transaction's logs; the five zero-value frames give nothing.
func TestDecodeBlock_InternalTransfersFromRealReceipts(t *testing.T) {
	t.Parallel()
	b, infos := loadShasta(t)
	require.Equal(t, shastaBlockID, b.BlockID)
	evs, err := shastaDecoder().DecodeBlock(b, infos)
	require.NoError(t, err)

	counts := map[event.Kind]int{}
	ids := map[string]bool{}
	for i := range evs {
		e := &evs[i]
		counts[e.Kind]++
		require.False(t, ids[e.ID], "duplicate id %s", e.ID)
		ids[e.ID] = true
		if i > 0 {
			require.True(t, evs[i-1].Before(e), "events in chain order: %s before %s", evs[i-1].ID, e.ID)
		}
	}
	require.Equal(t, map[event.Kind]int{
		event.KindContractCall:          6,
		event.KindContractLog:           10,
		event.KindTRXInternalTransfer:   3,
		event.KindTRC10InternalTransfer: 0,
	}, withZero(counts, event.KindTRC10InternalTransfer))

	type want struct {
		txID, from, to, amount, decimal, hash string
		txIndex, index, frame                 int
	}
	wants := []want{
		{payout1Tx, "41" + diceHex, "413a5bfb715d2086ec513b64e98531e2f58154c44c", "700000", "0.7",
			"a630ff6999c4762637d5cecf109c55e225064bd11afcbb1ae301fbaa21cf3a78", 1, 5, 1},
		// The player of this bet (the transaction's owner) wins 2457.95 TRX.
		{payout2Tx, "41" + diceHex, "41f07e117a4b5f1fda66f8fcedf44065f1dafc5ad7", "2457950000", "2457.95",
			"b31eeb5d614133be49ff5be526d8bd258583b478c5daad9713b68591141b5f10", 3, 5, 2},
		{payout3Tx, "41" + diceHex, "413a5bfb715d2086ec513b64e98531e2f58154c44c", "550000", "0.55",
			"bc9897f79e4eaa5f795626b853a29baacb132283f5d0e6f94c0462894683cf9b", 4, 5, 1},
	}
	var got []event.Event
	for _, e := range evs {
		if e.Kind == event.KindTRXInternalTransfer {
			got = append(got, e)
		}
	}
	require.Len(t, got, len(wants))
	for i, w := range wants {
		e := got[i]
		require.Equal(t, w.txID+":"+itoa(w.index), e.ID)
		require.Equal(t, w.txID, e.TxID)
		require.Equal(t, w.txIndex, e.TxIndex)
		require.Equal(t, w.index, e.Index)
		require.Equal(t, refBase58(w.from[2:]), e.From.String())
		require.Equal(t, refBase58(w.to[2:]), e.To.String())
		require.Equal(t, w.amount, e.Amount.String())
		require.Equal(t, w.decimal, e.AmountDecimal)
		require.True(t, e.Success)
		require.Equal(t, int64(1000000), e.Block.Number)
		require.Equal(t, shastaBlockID, e.Block.ID)
		require.Equal(t, "shasta", e.Network)
		require.Equal(t, "TRX", e.Token.Symbol)
		require.Equal(t, 6, *e.Token.Decimals)
		require.True(t, e.Token.Verified)
		require.Equal(t, []event.Flag{}, e.Flags)
		require.Empty(t, e.Memo, "internal transfers have no memo")
		require.Equal(t, "TriggerSmartContract", e.Data.ContractType)
		require.Equal(t, w.frame, *e.Data.InternalIndex)
		require.Equal(t, w.hash, e.Data.InternalHash)
		require.Equal(t, "call", e.Data.Note)
		require.Empty(t, e.Data.AssetID)
		// After the transaction's logs: C=1 contract, then its logs.
		require.Greater(t, e.Index, len(infosByID(infos)[w.txID].Log))
	}
	require.Equal(t, b.Transactions[3].RawData.Contract[0].Parameter.Value.OwnerAddress, got[1].To.Hex(), "the bettor, owner of the transaction")
}

func withZero(m map[event.Kind]int, kinds ...event.Kind) map[event.Kind]int {
	for _, k := range kinds {
		m[k] += 0
	}
	return m
}

func infosByID(infos []tron.TxInfo) map[string]tron.TxInfo {
	m := make(map[string]tron.TxInfo, len(infos))
	for _, i := range infos {
		m[i.ID] = i
	}
	return m
}

// TestDecodeTxInfo_InternalTransfersMatchDecodeBlock checks that the info
// alone gives the same internal transfers with the same ids, minus what
// only the transaction knows (its contract type).
func TestDecodeTxInfo_InternalTransfersMatchDecodeBlock(t *testing.T) {
	t.Parallel()
	b, infos := loadShasta(t)
	full, err := shastaDecoder().DecodeBlock(b, infos)
	require.NoError(t, err)
	want := map[string]event.Event{}
	for _, e := range full {
		if e.Kind == event.KindTRXInternalTransfer || e.Kind == event.KindContractLog {
			want[e.ID] = e
		}
	}
	n := 0
	for i := range infos {
		evs, err := shastaDecoder().DecodeTxInfo(&infos[i], i)
		require.NoError(t, err)
		for _, e := range evs {
			w, ok := want[e.ID]
			require.True(t, ok, "%s not decoded from the block", e.ID)
			require.Equal(t, w.Kind, e.Kind)
			require.Equal(t, w.From, e.From)
			require.Equal(t, w.To, e.To)
			require.Equal(t, w.Amount, e.Amount)
			if e.Kind == event.KindTRXInternalTransfer {
				require.Empty(t, e.Data.ContractType)
				require.Equal(t, *w.Data.InternalIndex, *e.Data.InternalIndex)
			}
			n++
		}
	}
	require.Equal(t, len(want), n)
}

// TestDecodeBlock_FailedTransactionHasNoInternalTransfer: a failed
// transaction moved nothing, whatever its receipt's frames say, whether the
// block's contractRet or the receipt says it failed.
func TestDecodeBlock_FailedTransactionHasNoInternalTransfer(t *testing.T) {
	t.Parallel()
	cases := map[string]func(b *tron.Block, infos []tron.TxInfo){
		"contractRet REVERT": func(b *tron.Block, _ []tron.TxInfo) { b.Transactions[3].Ret[0].ContractRet = "REVERT" },
		"receipt REVERT":     func(_ *tron.Block, infos []tron.TxInfo) { infos[3].Receipt.Result = "REVERT" },
		"result FAILED":      func(_ *tron.Block, infos []tron.TxInfo) { infos[3].Result = "FAILED" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, infos := loadShasta(t)
			mutate(b, infos)
			// The block id does not cover ret and the receipts.
			evs, err := shastaDecoder().DecodeBlock(b, infos)
			require.NoError(t, err)
			n := 0
			for _, e := range evs {
				if e.Kind == event.KindTRXInternalTransfer {
					require.NotEqual(t, payout2Tx, e.TxID)
					n++
				}
			}
			require.Equal(t, 2, n, "the other two payouts stay")
			if name == "contractRet REVERT" {
				return // the info alone does not know
			}
			evs, err = shastaDecoder().DecodeTxInfo(&infos[3], 3)
			require.NoError(t, err)
			for _, e := range evs {
				require.NotEqual(t, event.KindTRXInternalTransfer, e.Kind)
			}
		})
	}
}

func word(h string) string { return strings.Repeat("0", 64-len(h)) + h }

// internalInfo builds a successful transaction info with the given frames
// and one log.
func internalInfo(frames ...tron.InternalTx) tron.TxInfo {
	return tron.TxInfo{
		ID:          strings.Repeat("ab", 32),
		BlockNumber: 70_000_000,
		Receipt:     tron.Receipt{Result: "SUCCESS"},
		Log:         []tron.Log{{Address: diceHex, Topics: []string{strings.Repeat("11", 32)}}},
		// The frames are set by the caller.
		InternalTransactions: frames,
	}
}

const (
	noteCall     = "63616c6c"
	callerHex    = "41" + diceHex
	receiverHex  = "41ec20315a879c48f5e3a6a1c9826d5225f8b658b8" // TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx
	receiverB58  = "TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx"
	delegateNote = "64656c65676174655265736f757263654f66456e65726779" // delegateResourceOfEnergy
)

func frame(hash, note string, rejected bool, values ...tron.CallValueInfo) tron.InternalTx {
	return tron.InternalTx{Hash: hash, CallerAddress: callerHex, TransferToAddress: receiverHex, CallValueInfo: values, Note: note, Rejected: rejected}
}

// TestDecodeTxInfo_InternalTransferIDs pins the id scheme: the k-th
// callValueInfo entry over all frames is index 1+len(logs)+k, whether or
// not an earlier entry gave an event, so ids never shift and never collide
// with the log ids.
func TestDecodeTxInfo_InternalTransferIDs(t *testing.T) {
	t.Parallel()
	info := internalInfo(
		frame("h0", noteCall, false, tron.CallValueInfo{}),                                                                   // index 2: zero
		frame("h1", noteCall, true, tron.CallValueInfo{CallValue: 9}),                                                        // 3: rejected
		frame("h2", delegateNote, false, tron.CallValueInfo{CallValue: 500_000_000}),                                         // 4: a delegation moves no TRX
		frame("h3", noteCall, false, tron.CallValueInfo{CallValue: 7}, tron.CallValueInfo{TokenID: "1002000", CallValue: 3}), // 5, 6
		frame("h4", "", false, tron.CallValueInfo{CallValue: 8}),                                                             // 7: no note, no guess
		frame("h5", "63616C6C", false, tron.CallValueInfo{CallValue: 1}),                                                     // 8: upper-case hex is still "call"
	)
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeTxInfo(&info, 4)
	require.NoError(t, err)
	type got struct {
		id    string
		kind  event.Kind
		frame int
	}
	var gots []got
	for _, e := range evs {
		g := got{id: e.ID[len(info.ID)+1:], kind: e.Kind}
		if e.Data.InternalIndex != nil {
			g.frame = *e.Data.InternalIndex
		}
		gots = append(gots, g)
	}
	require.Equal(t, []got{
		{"1", event.KindContractLog, 0},
		{"5", event.KindTRXInternalTransfer, 3},
		{"6", event.KindTRC10InternalTransfer, 3},
		{"8", event.KindTRXInternalTransfer, 5},
	}, gots)
	for _, e := range evs[1:] {
		require.Equal(t, 4, e.TxIndex)
		require.Equal(t, receiverB58, e.To.String())
	}
	require.Equal(t, "call", evs[3].Data.Note)
}

// TestDecodeTxInfo_InternalTransferKinds covers what the real receipts do
// not hold: TRC10 values, rejected frames, notes that move nothing, and
// malformed frames.
func TestDecodeTxInfo_InternalTransferKinds(t *testing.T) {
	t.Parallel()
	dec6 := 6
	tests := []struct {
		name       string
		network    string
		frame      tron.InternalTx
		wantKind   event.Kind // "" for no transfer event
		wantAmount string
		wantDec    string
		wantToken  *event.Token
		wantAsset  string
		wantFlags  []event.Flag
		wantNote   string
		wantErr    bool
	}{
		{name: "TRX", frame: frame("h", noteCall, false, tron.CallValueInfo{CallValue: 1_500_000}),
			wantKind: event.KindTRXInternalTransfer, wantAmount: "1500000", wantDec: "1.5",
			wantToken: &event.Token{Symbol: "TRX", Decimals: &dec6, Verified: true}, wantFlags: []event.Flag{}, wantNote: "call"},
		{name: "TRX named _", frame: frame("h", noteCall, false, tron.CallValueInfo{TokenID: "_", CallValue: 2}),
			wantKind: event.KindTRXInternalTransfer, wantAmount: "2", wantDec: "0.000002",
			wantToken: &event.Token{Symbol: "TRX", Decimals: &dec6, Verified: true}, wantFlags: []event.Flag{}, wantNote: "call"},
		{name: "TRC10 on the list", frame: frame("h", noteCall, false, tron.CallValueInfo{}, tron.CallValueInfo{TokenID: "1002000", CallValue: 2_500_000}),
			wantKind: event.KindTRC10InternalTransfer, wantAmount: "2500000", wantDec: "2.5",
			wantToken: &event.Token{Symbol: "BTTOLD", Name: "BitTorrent (legacy TRC10 BTT)", Decimals: &dec6, Verified: true},
			wantAsset: "1002000", wantFlags: []event.Flag{}, wantNote: "call"},
		{name: "TRC10 off the list has unknown decimals", frame: frame("h", noteCall, false, tron.CallValueInfo{}, tron.CallValueInfo{TokenID: "1004089", CallValue: 10}),
			wantKind: event.KindTRC10InternalTransfer, wantAmount: "10", wantToken: &event.Token{},
			wantAsset: "1004089", wantFlags: []event.Flag{event.FlagUnverifiedToken}, wantNote: "call"},
		{name: "TRC10 1002000 is not verified on Nile", network: tron.NetworkNile,
			frame:    frame("h", noteCall, false, tron.CallValueInfo{}, tron.CallValueInfo{TokenID: "1002000", CallValue: 10}),
			wantKind: event.KindTRC10InternalTransfer, wantAmount: "10", wantToken: &event.Token{},
			wantAsset: "1002000", wantFlags: []event.Flag{event.FlagUnverifiedToken}, wantNote: "call"},
		{name: "create", frame: frame("h", "637265617465", false, tron.CallValueInfo{CallValue: 5}),
			wantKind: event.KindTRXInternalTransfer, wantAmount: "5", wantDec: "0.000005",
			wantToken: &event.Token{Symbol: "TRX", Decimals: &dec6, Verified: true}, wantFlags: []event.Flag{}, wantNote: "create"},
		{name: "suicide", frame: frame("h", "73756963696465", false, tron.CallValueInfo{CallValue: 5}),
			wantKind: event.KindTRXInternalTransfer, wantAmount: "5", wantDec: "0.000005",
			wantToken: &event.Token{Symbol: "TRX", Decimals: &dec6, Verified: true}, wantFlags: []event.Flag{}, wantNote: "suicide"},
		{name: "rejected", frame: frame("h", noteCall, true, tron.CallValueInfo{CallValue: 1_500_000})},
		{name: "rejected TRC10", frame: frame("h", noteCall, true, tron.CallValueInfo{}, tron.CallValueInfo{TokenID: "1002000", CallValue: 1})},
		{name: "zero", frame: frame("h", noteCall, false, tron.CallValueInfo{})},
		{name: "negative", frame: frame("h", noteCall, false, tron.CallValueInfo{CallValue: -5})},
		{name: "delegation", frame: frame("h", delegateNote, false, tron.CallValueInfo{CallValue: 500_000_000})},
		{name: "stake", frame: frame("h", "667265657a6542616c616e63655632466f72456e65726779", false, tron.CallValueInfo{CallValue: 1_000_000_000})},
		{name: "not hex note", frame: frame("h", "call", false, tron.CallValueInfo{CallValue: 1})},
		{name: "no transferTo", frame: tron.InternalTx{CallerAddress: callerHex, Note: noteCall, CallValueInfo: []tron.CallValueInfo{{CallValue: 1}}}, wantErr: true},
		{name: "bad caller", frame: tron.InternalTx{CallerAddress: "41zz", TransferToAddress: receiverHex, Note: noteCall, CallValueInfo: []tron.CallValueInfo{{CallValue: 1}}}, wantErr: true},
		// A rejected or zero frame is never read, so it cannot fail the block.
		{name: "bad but rejected", frame: tron.InternalTx{CallerAddress: "41zz", Note: noteCall, Rejected: true, CallValueInfo: []tron.CallValueInfo{{CallValue: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info := internalInfo(tt.frame)
			evs, err := decode.NewDecoder(decode.DecoderConfig{Network: tt.network}).DecodeTxInfo(&info, 0)
			if tt.wantErr {
				require.ErrorIs(t, err, decode.ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, event.KindContractLog, evs[0].Kind)
			if tt.wantKind == "" {
				require.Len(t, evs, 1, "no transfer event")
				return
			}
			require.Len(t, evs, 2)
			e := evs[1]
			require.Equal(t, tt.wantKind, e.Kind)
			require.Equal(t, callerHex, e.From.Hex())
			require.Equal(t, receiverB58, e.To.String())
			require.Equal(t, tt.wantAmount, e.Amount.String())
			require.Equal(t, tt.wantDec, e.AmountDecimal)
			require.Equal(t, tt.wantToken, e.Token)
			require.Equal(t, tt.wantAsset, e.Data.AssetID)
			require.Equal(t, tt.wantFlags, e.Flags)
			require.Equal(t, tt.wantNote, e.Data.Note)
			require.Equal(t, "h", e.Data.InternalHash)
			require.Equal(t, 0, *e.Data.InternalIndex)
			require.True(t, e.Success)
		})
	}
}

// TestDecodeTxInfo_RejectedFrameOfSuccessfulTransaction: java-tron rejects
// a single frame when a nested call reverts and the transaction carries on
// and succeeds; the rejected frame moved nothing, the others did. (No real
// receipt with a rejected frame was found in public data; see the
// fixtures' README.)
func TestDecodeTxInfo_RejectedFrameOfSuccessfulTransaction(t *testing.T) {
	t.Parallel()
	info := loadInternalInfos(t)[payout2Tx]
	info.InternalTransactions = append([]tron.InternalTx(nil), info.InternalTransactions...)
	info.InternalTransactions[2].Rejected = true
	evs, err := shastaDecoder().DecodeTxInfo(&info, 3)
	require.NoError(t, err)
	for _, e := range evs {
		require.Equal(t, event.KindContractLog, e.Kind)
	}
	require.Len(t, evs, 2)

	// Un-rejected, the payout keeps the id it would have had.
	info.InternalTransactions[2].Rejected = false
	evs, err = shastaDecoder().DecodeTxInfo(&info, 3)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, payout2Tx+":5", evs[2].ID)
}

// TestInternalStats counts what the ingest compares to notice a node that
// saves no internal transactions.
func TestInternalStats(t *testing.T) {
	t.Parallel()
	b, infos := loadShasta(t)
	calls, frames := decode.InternalStats(b, infos)
	require.Equal(t, 3, calls, "three bets sent TRX")
	require.Equal(t, 8, frames)
	require.Zero(t, decode.MissingInternalFrames(b, infos))

	stripped := make([]tron.TxInfo, len(infos))
	copy(stripped, infos)
	for i := range stripped {
		stripped[i].InternalTransactions = nil
	}
	calls, frames = decode.InternalStats(b, stripped)
	require.Equal(t, 3, calls)
	require.Zero(t, frames)
	// The dice contract logs only from itself, so stripping its frames
	// leaves no trace the sharper test can see.
	require.Zero(t, decode.MissingInternalFrames(b, stripped))

	// A failed call with value does not count.
	b.Transactions[1].Ret[0].ContractRet = "REVERT"
	calls, _ = decode.InternalStats(b, infos)
	require.Equal(t, 2, calls)
	calls, frames = decode.InternalStats(b, nil)
	require.Zero(t, calls)
	require.Zero(t, frames)
}

// TestMissingInternalFrames: a call whose receipt holds a log of another
// contract ran that contract through an internal call, so a receipt
// without frames comes from a node that does not save them.
func TestMissingInternalFrames(t *testing.T) {
	t.Parallel()
	router := "416e0617948fe030a7e4970f8389d4ad295f249b7e" // SunSwap V2 router, TKzxdSv2FZKQrEqkKVgp5DcwEXBEKMg2Ax
	usdtLog := tron.Log{Address: "a614f803b6fd780986a42c78ec9c7f77e6ded13c", Topics: []string{decode.TopicTransfer, word("1"), word("2")}, Data: word("5")}
	routerLog := tron.Log{Address: router[2:], Topics: []string{strings.Repeat("22", 32)}}
	mk := func(ret string, logs []tron.Log, frames []tron.InternalTx) (*tron.Block, []tron.TxInfo) {
		id := strings.Repeat("cd", 32)
		b := &tron.Block{Transactions: []tron.Transaction{{TxID: id, Ret: []tron.TxRet{{ContractRet: ret}}, RawData: tron.TxRaw{Contract: []tron.Contract{{
			Type: "TriggerSmartContract", Parameter: tron.ContractParameter{Value: tron.ContractValue{OwnerAddress: receiverHex, ContractAddress: router}},
		}}}}}}
		return b, []tron.TxInfo{{ID: id, Receipt: tron.Receipt{Result: ret}, Log: logs, InternalTransactions: frames}}
	}
	tests := []struct {
		name   string
		ret    string
		logs   []tron.Log
		frames []tron.InternalTx
		want   int
	}{
		{"swap without frames", "SUCCESS", []tron.Log{routerLog, usdtLog}, nil, 1},
		{"swap with frames", "SUCCESS", []tron.Log{routerLog, usdtLog}, []tron.InternalTx{frame("h", noteCall, false, tron.CallValueInfo{})}, 0},
		{"logs of the called contract only", "SUCCESS", []tron.Log{routerLog}, nil, 0},
		{"failed", "REVERT", []tron.Log{usdtLog}, nil, 0},
		{"no logs", "SUCCESS", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, infos := mk(tt.ret, tt.logs, tt.frames)
			require.Equal(t, tt.want, decode.MissingInternalFrames(b, infos))
		})
	}
}

// TestDecodeBlock_IDsNeverCollide decodes every real fixture and checks
// that ids are unique and events sorted in chain order.
func TestDecodeBlock_IDsNeverCollide(t *testing.T) {
	t.Parallel()
	b, infos := loadShasta(t)
	evs, err := shastaDecoder().DecodeBlock(b, infos)
	require.NoError(t, err)
	mainnet, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(loadBlock(t), nil)
	require.NoError(t, err)
	evs = append(evs, mainnet...)
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		require.NotEqual(t, ids[i-1], ids[i])
	}
}
