package gen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/holiman/uint256"

	"github.com/mongotron/mongotron/pkg/tron"
)

// TrapKind says what a [Trap] is.
type TrapKind string

// The kinds of trap the generator makes. Each names one thing a deposit
// pipeline must get right, and the [Trap] fields it fills.
const (
	// TrapInternalTRX is one internal transaction (Frame) of a successful
	// contract call moving TRX: From (the paying contract) sent Amount
	// sun to To. It should give exactly one internal TRX transfer.
	TrapInternalTRX TrapKind = "internal_trx"
	// TrapInternalTRC10 is the same for a TRC10 token, TokenID.
	TrapInternalTRC10 TrapKind = "internal_trc10"
	// TrapRejectedFrame is an internal transaction marked rejected in a
	// successful transaction: it carries a value (Amount) but moved
	// nothing, and must not credit To.
	TrapRejectedFrame TrapKind = "rejected_frame"
	// TrapFailedWithFrames is a failed (REVERT) contract call whose info
	// still lists Frames internal transactions with values; they moved
	// nothing. FramesRejected says whether the frames are marked
	// rejected, as java-tron marks them; when not, only the receipt tells.
	TrapFailedWithFrames TrapKind = "failed_with_frames"
	// TrapFakeUSDT is a Transfer log (LogIndex) of a contract that is not
	// USDT but answers symbol() "USDT", name() "Tether USD" and
	// decimals() 6, at an address sharing USDT's first and last four
	// characters.
	TrapFakeUSDT TrapKind = "fake_usdt"
	// TrapPoisoning is address poisoning: Signer, neither party, called
	// the real USDT's transferFrom(Victim, Lookalike, 0), which logs a
	// Transfer (LogIndex) of 0 from Victim (also From) to Lookalike (also
	// To), an address with Victim's first and last four characters.
	TrapPoisoning TrapKind = "poisoning"
	// TrapNoDecimals is a Transfer log (LogIndex) of the token whose
	// decimals() reverts: its amount cannot be scaled.
	TrapNoDecimals TrapKind = "no_decimals_token"
	// TrapMemoUTF8 is a TRX or TRC10 (TokenID) transfer whose raw_data.data
	// is UTF-8 text, Memo; HasURL when the text holds a link, as scam
	// memos do.
	TrapMemoUTF8 TrapKind = "memo_utf8"
	// TrapMemoHex is a TRX or TRC10 transfer whose raw_data.data is not
	// valid UTF-8; Memo is its hex.
	TrapMemoHex TrapKind = "memo_hex"
)

// TrapKinds lists every [TrapKind].
func TrapKinds() []TrapKind {
	return []TrapKind{
		TrapInternalTRX, TrapInternalTRC10, TrapRejectedFrame, TrapFailedWithFrames,
		TrapFakeUSDT, TrapPoisoning, TrapNoDecimals, TrapMemoUTF8, TrapMemoHex,
	}
}

// Trap is one trap the generator put in a block: a transaction, and for
// those that hold several, the internal transaction or log it is about.
// Addresses are base58 in JSON; fields that do not apply to a kind are
// left out.
type Trap struct {
	Kind TrapKind `json:"kind"`
	// TxID and TxIndex locate the transaction in its block.
	TxID    string `json:"tx_id"`
	TxIndex int    `json:"tx_index"`
	// Scenario says what the transaction does: swap_to_trx,
	// swap_from_trx, multisend, multisig, dapp_withdraw, airdrop,
	// poisoning, transfer; "ordinary" for the plain memos of the ordinary
	// mix, which are listed (as memo_utf8) so that every memo is, even
	// with no traps.
	Scenario string `json:"scenario,omitempty"`
	// Frame is the index of the internal transaction in the info's
	// internal_transactions.
	Frame *int `json:"frame,omitempty"`
	// Frames and FramesRejected describe a failed transaction's internal
	// transactions (see [TrapFailedWithFrames]).
	Frames         int  `json:"frames,omitempty"`
	FramesRejected bool `json:"frames_rejected,omitempty"`
	// LogIndex is the index of the Transfer log in the info's log.
	LogIndex *int `json:"log_index,omitempty"`
	// Contract is the contract the transaction calls, or whose log it is.
	Contract tron.Address `json:"contract,omitzero"`
	// From, To and Amount (sun, or base units) are what moved, or would
	// have.
	From   tron.Address `json:"from,omitzero"`
	To     tron.Address `json:"to,omitzero"`
	Amount tron.Amount  `json:"amount,omitzero"`
	// TokenID is the TRC10 token id.
	TokenID string `json:"token_id,omitempty"`
	// Signer, Victim and Lookalike describe a poisoning.
	Signer    tron.Address `json:"signer,omitzero"`
	Victim    tron.Address `json:"victim,omitzero"`
	Lookalike tron.Address `json:"lookalike,omitzero"`
	// Memo is the memo: text for memo_utf8, hex for memo_hex.
	Memo   string `json:"memo,omitempty"`
	HasURL bool   `json:"has_url,omitempty"`
}

// fakeUSDTAddress was ground once (a million checksums: addresses
// starting TR7N picked at random until one ended Lj6t) to share the first
// and last four characters of the real USDT,
// TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t, as scam tokens do;
// TestGenerator_TrapTokens pins it.
const fakeUSDTAddress = "TR7NtbGtGsDPQybMbwGfxdFMj4h8oeLj6t"

// trapWorld is what the traps need besides the population: the contracts
// they call and the accounts that attack.
type trapWorld struct {
	lookalikes []Lookalike
	victims    []account
	looks      []account
	fakeUSDT   Token
	noDecimals Token
	multisend  account
	safes      []account
	dapp       account
	airdropper account
	poisoners  []account
}

func newTrapWorld(seed uint64) trapWorld {
	fake, err := tron.ParseBase58(fakeUSDTAddress)
	if err != nil {
		panic(fmt.Sprintf("gen: fake USDT address: %v", err)) // pinned by TestGenerator_TrapTokens
	}
	nd := derive(seed, "no-decimals-token", 0)
	w := trapWorld{
		fakeUSDT:   Token{Address: fake, Symbol: "USDT", Name: "Tether USD", Decimals: 6, acct: newAccount(fake)},
		noDecimals: Token{Address: nd, Symbol: "PTS", Name: "Loyalty Points", NoDecimals: true, acct: newAccount(nd)},
		multisend:  newAccount(derive(seed, "multisend", 0)),
		dapp:       newAccount(derive(seed, "dapp", 0)),
		airdropper: newAccount(derive(seed, "airdropper", 0)),
	}
	for i := range lookalikeCount {
		l := grindLookalike(seed, i)
		w.lookalikes = append(w.lookalikes, l)
		w.victims = append(w.victims, newAccount(l.Victim))
		w.looks = append(w.looks, newAccount(l.Lookalike))
	}
	for i := range 3 {
		w.safes = append(w.safes, newAccount(derive(seed, "safe", uint64(i))))
	}
	for i := range 8 {
		w.poisoners = append(w.poisoners, newAccount(derive(seed, "poisoner", uint64(i))))
	}
	return w
}

// Lookalikes returns the victim/lookalike pairs the poisonings use.
func (g *Generator) Lookalikes() []Lookalike { return append([]Lookalike(nil), g.world.lookalikes...) }

// TrapTokens returns the TRC20 contracts only traps move: the fake USDT,
// then the token whose decimals() reverts.
func (g *Generator) TrapTokens() []Token { return []Token{g.world.fakeUSDT, g.world.noDecimals} }

// isTrap says whether transaction i of a block is a trap: a hash of its
// position, so that the decision does not depend on the transactions
// before it.
func (g *Generator) isTrap(number int64, fork uint32, i int) bool {
	return g.trapPPM > 0 && mix(g.seed, uint64(number), uint64(fork), 4, uint64(i))%1_000_000 < g.trapPPM
}

// trapWeights is the mix of trap scenarios, per hundred traps.
var trapWeights = [...]struct {
	scenario string
	weight   int
}{
	{"swap", 20},
	{"multisend", 14},
	{"multisig", 6},
	{"dapp_withdraw", 8},
	{"failed", 8},
	{"fake_usdt", 10},
	{"poisoning", 12},
	{"no_decimals", 4},
	{"memo", 18},
}

// noteCall is the note of an internal transaction made by a CALL: "call".
const noteCall = "63616c6c"

// trapBuilder returns a builder for the trap at position i with its own
// random stream, so that a trap changes nothing else of the block.
func (b *builder) trapBuilder(i int) *builder {
	g := b.g
	r := rand.New(rand.NewPCG(mix(g.seed, uint64(b.number), uint64(b.fork), 5, uint64(i)), mix(g.seed, uint64(b.number), uint64(b.fork), 6, uint64(i))))
	return &builder{
		g: g, r: r, zipf: rand.NewZipf(r, 1.1, 1, uint64(g.n-1)),
		number: b.number, fork: b.fork, ts: b.ts, recent: b.recent, raw: b.raw,
	}
}

// trap makes a transaction as a trap, and the records saying what it is.
// Which transaction of the block it is shows in b's seed (trapBuilder).
func (b *builder) trap() (tron.Transaction, tron.TxInfo, error) {
	total := 0
	for _, w := range trapWeights {
		total += w.weight
	}
	x := b.r.IntN(total)
	scenario := trapWeights[len(trapWeights)-1].scenario
	for _, w := range trapWeights {
		if x < w.weight {
			scenario = w.scenario
			break
		}
		x -= w.weight
	}
	var p parts
	switch scenario {
	case "swap":
		if b.r.IntN(10) < 6 {
			p = b.swapToTRX()
		} else {
			p = b.swapFromTRX()
		}
	case "multisend":
		p = b.multisend()
	case "multisig":
		p = b.multisig()
	case "dapp_withdraw":
		p = b.dappWithdraw()
	case "failed":
		p = b.failedWithFrames()
	case "fake_usdt":
		p = b.fakeUSDT()
	case "poisoning":
		p = b.poisoning()
	case "no_decimals":
		p = b.noDecimals()
	default:
		p = b.memoTransfer()
	}
	return b.finish(p.c, p.feeLimit, p.memo, p.out, p.info)
}

// parts is a transaction before finish.
type parts struct {
	c        tron.Contract
	feeLimit int64
	memo     string
	out      outcome
	info     tron.TxInfo
}

func (b *builder) baseInfo() tron.TxInfo {
	return tron.TxInfo{BlockNumber: b.number, BlockTimeStamp: b.ts}
}

// record notes a trap of the transaction being built.
func (b *builder) record(t Trap) { b.pending = append(b.pending, t) }

func intPtr(v int) *int { return &v }

func amountOf(v *uint256.Int) tron.Amount {
	w := v.Bytes32()
	return tron.AmountFromWord(w[:])
}

// frame returns an internal transaction; its hash is set by finish, once
// the transaction id is known.
func frame(caller, to *account, value int64, tokenID string) tron.InternalTx {
	return tron.InternalTx{
		CallerAddress:     caller.hex,
		TransferToAddress: to.hex,
		CallValueInfo:     []tron.CallValueInfo{{CallValue: value, TokenID: tokenID}},
		Note:              noteCall,
	}
}

// frameHash is the hash of internal transaction j of a transaction.
func frameHash(txID string, j int) string {
	h := sha256.New()
	h.Write([]byte(txID))
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], uint32(j))
	h.Write(buf[:])
	return hex.EncodeToString(h.Sum(nil))
}

// recordFrames records every internal transaction of p that moves a value.
func (b *builder) recordFrames(p *parts, scenario string) {
	contract := tron.Address{}
	if a, err := tron.ParseHex(p.info.ContractAddress); err == nil {
		contract = a
	}
	for j, f := range p.info.InternalTransactions {
		v := f.CallValueInfo[0]
		if v.CallValue == 0 {
			continue
		}
		from, _ := tron.ParseHex(f.CallerAddress)
		to, _ := tron.ParseHex(f.TransferToAddress)
		t := Trap{Kind: TrapInternalTRX, Scenario: scenario, Frame: intPtr(j), Contract: contract, From: from, To: to, Amount: tron.AmountFromInt64(v.CallValue), TokenID: v.TokenID}
		switch {
		case f.Rejected:
			t.Kind = TrapRejectedFrame
		case v.TokenID != "":
			t.Kind = TrapInternalTRC10
		}
		b.record(t)
	}
}

func (b *builder) trxAmount() int64 { return b.logUniform(1_000_000, 50_000_000_000) }

// swapToTRX sells a token for TRX through the router
// (swapExactTokensForETH): the pair pays WTRX to the router, which
// unwraps it (WTRX pays the router TRX) and pays the user.
func (b *builder) swapToTRX() parts {
	g := b.g
	user := b.account()
	tok := b.swapToken()
	wtrx := &g.tokens[2]
	pair := g.pairOf(tok, wtrx)
	router := &g.router
	in := b.tokenAmount(tok)
	out := b.trxAmount()
	outW := wordU64(uint64(out))
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[2+b.r.IntN(len(feeLimits)-2)], out: outcome{ret: "SUCCESS"}}
	p.info.ContractAddress = router.hex
	p.info.Log = []tron.Log{
		{Address: tok.acct.evm, Topics: []string{topicTransfer, user.topic, pair.topic}, Data: word(in)},
		{Address: wtrx.acct.evm, Topics: []string{topicTransfer, pair.topic, router.topic}, Data: outW},
		{Address: pair.evm, Topics: []string{topicSync}, Data: word(b.tokenAmount(tok)) + word(b.tokenAmount(wtrx))},
		{Address: pair.evm, Topics: []string{topicSwap, router.topic, router.topic}, Data: word(in) + wordU64(0) + wordU64(0) + outW},
		{Address: wtrx.acct.evm, Topics: []string{topicWithdrawal, router.topic}, Data: outW},
	}
	p.info.InternalTransactions = []tron.InternalTx{
		frame(router, &tok.acct, 0, ""),    // transferFrom
		frame(router, &pair, 0, ""),        // swap
		frame(&pair, &wtrx.acct, 0, ""),    // WTRX transfer to the router
		frame(router, &wtrx.acct, 0, ""),   // withdraw
		frame(&wtrx.acct, router, out, ""), // the unwrapped TRX
		frame(router, user, out, ""),       // paid to the user
	}
	minOut := uint64(out) / 100 * 99
	data := selSwapExactTokensForETH + word(in) + wordU64(minOut) + wordU64(0xa0) + user.topic +
		wordU64(uint64(b.ts/1000+600)) + wordU64(2) + tok.acct.topic + wtrx.acct.topic
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: user.hex, ContractAddress: router.hex, Data: data})
	p.out.result = wordU64(32) + wordU64(2) + word(in) + outW
	p.info.Receipt = b.energyReceipt(90_000+b.r.Int64N(110_000), 420, "SUCCESS")
	b.recordFrames(&p, "swap_to_trx")
	return p
}

// swapFromTRX buys a token with TRX (swapExactETHForTokens): the router
// wraps the call value, paying it to WTRX in an internal transaction.
func (b *builder) swapFromTRX() parts {
	g := b.g
	user := b.account()
	tok := b.swapToken()
	wtrx := &g.tokens[2]
	pair := g.pairOf(wtrx, tok)
	router := &g.router
	in := b.trxAmount()
	inW := wordU64(uint64(in))
	out := b.tokenAmount(tok)
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[2+b.r.IntN(len(feeLimits)-2)], out: outcome{ret: "SUCCESS"}}
	p.info.ContractAddress = router.hex
	p.info.Log = []tron.Log{
		{Address: wtrx.acct.evm, Topics: []string{topicDeposit, router.topic}, Data: inW},
		{Address: wtrx.acct.evm, Topics: []string{topicTransfer, router.topic, pair.topic}, Data: inW},
		{Address: tok.acct.evm, Topics: []string{topicTransfer, pair.topic, user.topic}, Data: word(out)},
		{Address: pair.evm, Topics: []string{topicSync}, Data: word(b.tokenAmount(wtrx)) + word(b.tokenAmount(tok))},
		{Address: pair.evm, Topics: []string{topicSwap, router.topic, user.topic}, Data: inW + wordU64(0) + wordU64(0) + word(out)},
	}
	p.info.InternalTransactions = []tron.InternalTx{
		frame(router, &wtrx.acct, in, ""), // deposit: the TRX wrapped
		frame(router, &wtrx.acct, 0, ""),  // WTRX transfer to the pair
		frame(router, &pair, 0, ""),       // swap
		frame(&pair, &tok.acct, 0, ""),    // token transfer to the user
	}
	minOut := new(uint256.Int).Div(out, uint256.NewInt(100))
	minOut.Mul(minOut, uint256.NewInt(99))
	data := selSwapExactETHForTokens + word(minOut) + wordU64(0x80) + user.topic +
		wordU64(uint64(b.ts/1000+600)) + wordU64(2) + wtrx.acct.topic + tok.acct.topic
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: user.hex, ContractAddress: router.hex, Data: data, CallValue: in})
	p.out.result = wordU64(32) + wordU64(2) + inW + word(out)
	p.info.Receipt = b.energyReceipt(90_000+b.r.Int64N(110_000), 400, "SUCCESS")
	b.recordFrames(&p, "swap_from_trx")
	return p
}

// swapToken returns the token a TRX swap trades: USDT most of the time,
// never WTRX itself.
func (b *builder) swapToken() *Token {
	if b.r.IntN(10) < 7 {
		return &b.g.tokens[0]
	}
	for {
		t := b.otherToken()
		if t != &b.g.tokens[2] {
			return t
		}
	}
}

// recipient returns a population account, or now and then a poisoning
// victim, so that victims have a history of their own.
func (b *builder) recipient(victimOneIn int) *account {
	if b.r.IntN(victimOneIn) == 0 {
		return &b.g.world.victims[b.r.IntN(len(b.g.world.victims))]
	}
	return b.account()
}

// multisend pays TRX to several addresses from one call
// (disperseEther), the call value funding them. The contract pays with
// send(), which does not revert: a recipient contract that refuses leaves
// a rejected internal transaction in a successful transaction.
func (b *builder) multisend() parts {
	ms := &b.g.world.multisend
	owner := b.account()
	n := 2 + b.r.IntN(5)
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[1+b.r.IntN(len(feeLimits)-1)], out: outcome{ret: "SUCCESS"}}
	p.info.ContractAddress = ms.hex
	addrs, values := wordU64(uint64(n)), wordU64(uint64(n))
	var total int64
	rejected := -1
	if b.r.IntN(3) == 0 {
		rejected = b.r.IntN(n)
	}
	for j := range n {
		to := b.recipient(10)
		v := b.logUniform(1_000_000, 5_000_000_000)
		total += v
		f := frame(ms, to, v, "")
		f.Rejected = j == rejected
		p.info.InternalTransactions = append(p.info.InternalTransactions, f)
		addrs += to.topic
		values += wordU64(uint64(v))
	}
	data := selDisperseEther + wordU64(0x40) + wordU64(uint64(0x60+32*n)) + addrs + values
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: owner.hex, ContractAddress: ms.hex, Data: data, CallValue: total})
	p.info.Receipt = b.energyReceipt(25_000+int64(n)*9_000+b.r.Int64N(4_000), 350+int64(64*n), "SUCCESS")
	b.recordFrames(&p, "multisend")
	return p
}

// multisig is a payout from a Safe-like multisig wallet: an owner
// executes a transaction the other owners signed, and the wallet pays TRX
// from its own balance.
func (b *builder) multisig() parts {
	safe := &b.g.world.safes[b.r.IntN(len(b.g.world.safes))]
	owner := b.account()
	to := b.recipient(10)
	v := b.logUniform(10_000_000, 200_000_000_000)
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[1+b.r.IntN(len(feeLimits)-1)], out: outcome{ret: "SUCCESS"}}
	p.info.ContractAddress = safe.hex
	var txHash [32]byte
	for k := 0; k < 32; k += 8 {
		binary.BigEndian.PutUint64(txHash[k:], b.r.Uint64())
	}
	p.info.Log = []tron.Log{{Address: safe.evm, Topics: []string{topicExecutionSuccess}, Data: hex.EncodeToString(txHash[:]) + wordU64(0)}}
	p.info.InternalTransactions = []tron.InternalTx{frame(safe, to, v, "")}
	sig := signature(b.r)
	data := selExecTransaction + to.topic + wordU64(uint64(v)) + wordU64(0x140) +
		wordU64(0) + wordU64(0) + wordU64(0) + wordU64(0) + wordU64(0) + wordU64(0) + wordU64(0x160) +
		wordU64(0) + wordU64(65) + sig + strings.Repeat("0", 2*96-len(sig))
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: owner.hex, ContractAddress: safe.hex, Data: data})
	p.out.result = wordU64(1)
	p.info.Receipt = b.energyReceipt(45_000+b.r.Int64N(20_000), 610, "SUCCESS")
	b.recordFrames(&p, "multisig")
	return p
}

// dappWithdraw is a withdrawal from a dapp paying in a TRC10 token.
func (b *builder) dappWithdraw() parts {
	dapp := &b.g.world.dapp
	user := b.account()
	asset := trc10Assets[b.r.IntN(len(trc10Assets))]
	v := b.logUniform(1, 10_000_000_000)
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[b.r.IntN(len(feeLimits))], out: outcome{ret: "SUCCESS"}}
	p.info.ContractAddress = dapp.hex
	p.info.InternalTransactions = []tron.InternalTx{frame(dapp, user, v, asset)}
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: user.hex, ContractAddress: dapp.hex, Data: selWithdraw + wordU64(uint64(v))})
	p.info.Receipt = b.energyReceipt(18_000+b.r.Int64N(8_000), 310, "SUCCESS")
	b.recordFrames(&p, "dapp_withdraw")
	return p
}

// failedWithFrames is a multisend or a swap to TRX that reverted: no
// logs, nothing moved, but the info lists the internal transactions it
// made before reverting.
func (b *builder) failedWithFrames() parts {
	var p parts
	scenario := "multisend"
	if b.r.IntN(2) == 0 {
		p = b.multisend()
	} else {
		p, scenario = b.swapToTRX(), "swap_to_trx"
	}
	b.pending = b.pending[:0]
	rejected := b.r.IntN(2) == 0
	for j := range p.info.InternalTransactions {
		p.info.InternalTransactions[j].Rejected = rejected
	}
	p.info.Log = nil
	energy := p.info.Receipt.EnergyUsageTotal / 2
	reason := "multisend: insufficient value"
	if scenario == "swap_to_trx" {
		reason = "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"
	}
	p.out = outcome{ret: "REVERT", message: "REVERT opcode executed", result: errorData(reason)}
	p.info.Receipt = b.energyReceipt(energy, p.info.Receipt.NetUsage+p.info.Receipt.NetFee/1000, "REVERT")
	contract, _ := tron.ParseHex(p.info.ContractAddress)
	owner, _ := tron.ParseHex(p.c.Parameter.Value.OwnerAddress)
	b.record(Trap{Kind: TrapFailedWithFrames, Scenario: scenario, Frames: len(p.info.InternalTransactions), FramesRejected: rejected, Contract: contract, From: owner})
	return p
}

// tokenTransfer is a TRC20 transfer(to, amount) by from, with its log.
func (b *builder) tokenTransfer(tok *Token, from, to *account, amount *uint256.Int, energy int64) parts {
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[b.r.IntN(len(feeLimits))], out: outcome{ret: "SUCCESS", result: wordU64(1)}}
	p.info.ContractAddress = tok.acct.hex
	p.info.Log = []tron.Log{{Address: tok.acct.evm, Topics: []string{topicTransfer, from.topic, to.topic}, Data: word(amount)}}
	p.c = contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: from.hex, ContractAddress: tok.acct.hex, Data: selTransfer + to.topic + word(amount)})
	p.info.Receipt = b.energyReceipt(energy, 345, "SUCCESS")
	return p
}

// fakeUSDT moves the fake USDT: an "airdrop" to a population address, or
// a transfer to a victim from its lookalike, so that the victim's history
// shows "USDT" received from an address that looks like its own.
func (b *builder) fakeUSDT() parts {
	w := &b.g.world
	tok := &w.fakeUSDT
	from, to := &w.airdropper, b.account()
	if b.r.IntN(2) == 0 {
		k := b.r.IntN(len(w.victims))
		from, to = &w.looks[k], &w.victims[k]
	}
	amount := uint256.NewInt(uint64(b.logUniform(1, 5_000)) * 1_000_000)
	p := b.tokenTransfer(tok, from, to, amount, 14_000+b.r.Int64N(20_000))
	b.record(Trap{Kind: TrapFakeUSDT, Scenario: "airdrop", LogIndex: intPtr(0), Contract: tok.Address, From: from.addr, To: to.addr, Amount: amountOf(amount), Signer: from.addr})
	return p
}

// poisoning is transferFrom(victim, lookalike, 0) on the real USDT by a
// third party: the token allows it (no allowance is needed for 0), and
// the victim's history now shows a transfer to an address that looks
// like its own.
func (b *builder) poisoning() parts {
	w := &b.g.world
	usdt := &b.g.tokens[0]
	k := b.r.IntN(len(w.victims))
	victim, look := &w.victims[k], &w.looks[k]
	signer := &w.poisoners[b.r.IntN(len(w.poisoners))]
	zero := new(uint256.Int)
	p := parts{info: b.baseInfo(), feeLimit: feeLimits[b.r.IntN(3)], out: outcome{ret: "SUCCESS", result: wordU64(1)}}
	p.info.ContractAddress = usdt.acct.hex
	p.info.Log = []tron.Log{{Address: usdt.acct.evm, Topics: []string{topicTransfer, victim.topic, look.topic}, Data: word(zero)}}
	p.c = contract("TriggerSmartContract", tron.ContractValue{
		OwnerAddress: signer.hex, ContractAddress: usdt.acct.hex, Data: selTransferFrom + victim.topic + look.topic + word(zero),
	})
	p.info.Receipt = b.energyReceipt(18_000+b.r.Int64N(12_000), 377, "SUCCESS")
	b.record(Trap{
		Kind: TrapPoisoning, Scenario: "poisoning", LogIndex: intPtr(0), Contract: usdt.Address,
		From: victim.addr, To: look.addr, Amount: tron.AmountFromUint64(0),
		Signer: signer.addr, Victim: victim.addr, Lookalike: look.addr,
	})
	return p
}

// noDecimals moves the token whose decimals() reverts.
func (b *builder) noDecimals() parts {
	tok := &b.g.world.noDecimals
	from, to := b.pair()
	amount := uint256.NewInt(uint64(b.logUniform(1, 1_000_000_000_000)))
	p := b.tokenTransfer(tok, from, to, amount, 12_000+b.r.Int64N(15_000))
	b.record(Trap{Kind: TrapNoDecimals, Scenario: "transfer", LogIndex: intPtr(0), Contract: tok.Address, From: from.addr, To: to.addr, Amount: amountOf(amount)})
	return p
}

// Memos of the memo traps. The links are to .example domains: real scam
// memos link to phishing sites and fake airdrops.
var (
	textMemos = []string{
		"order #58213 paid", "rent for March", "谢谢 thanks", "payment ✅", "gift 🎁 for you",
		"salary 2025-01", "Оплата по счёту 17", "refund",
	}
	urlMemos = []string{
		"🎁 You received 5,000 USDT! Claim at https://usdt-airdrop.example/claim",
		"Your wallet is at risk, verify now: https://tronlink-verify.example/secure",
		"TRX giveaway for active wallets → http://trx-bonus.example",
		"Congratulations! Visit https://tron-rewards.example/?ref=8812 to unlock your reward",
	}
)

// memoTransfer is a TRX or TRC10 transfer with a memo: text, text with a
// link, or bytes that are not UTF-8.
func (b *builder) memoTransfer() parts {
	from := b.account()
	to := b.recipient(10)
	for to == from {
		to = b.account()
	}
	var (
		memo   []byte
		hasURL bool
	)
	switch x := b.r.IntN(10); {
	case x < 4:
		memo = []byte(textMemos[b.r.IntN(len(textMemos))])
	case x < 8:
		memo, hasURL = []byte(urlMemos[b.r.IntN(len(urlMemos))]), true
	default:
		// 0xff never appears in UTF-8.
		memo = make([]byte, 6+b.r.IntN(20))
		for j := range memo {
			memo[j] = byte(b.r.UintN(256))
		}
		memo[0] = 0xff
	}
	p := parts{info: b.baseInfo(), out: outcome{ret: "SUCCESS"}, memo: hex.EncodeToString(memo)}
	p.info.ContractResult = emptyResult
	t := Trap{Kind: TrapMemoUTF8, Scenario: "transfer", From: from.addr, To: to.addr, Memo: string(memo), HasURL: hasURL}
	if !utf8.Valid(memo) {
		t.Kind, t.Memo = TrapMemoHex, p.memo
	}
	size := int64(266 + len(memo))
	if b.r.IntN(10) < 3 {
		asset := trc10Assets[b.r.IntN(len(trc10Assets))]
		v := b.logUniform(1, 10_000_000_000)
		p.c = contract("TransferAssetContract", tron.ContractValue{
			AssetName: hex.EncodeToString([]byte(asset)), OwnerAddress: from.hex, ToAddress: to.hex, Amount: v,
		})
		t.TokenID, t.Amount = asset, tron.AmountFromInt64(v)
		size += 17
	} else {
		// Scam memos ride on dust; real payments on real amounts.
		v := b.logUniform(1, 1_000_000_000_000)
		if hasURL {
			v = b.logUniform(1, 1_000_000)
		}
		p.c = contract("TransferContract", tron.ContractValue{OwnerAddress: from.hex, ToAddress: to.hex, Amount: v})
		t.Amount = tron.AmountFromInt64(v)
	}
	p.info.Receipt = bandwidth(b.r, size)
	p.info.Fee = p.info.Receipt.NetFee
	b.record(t)
	return p
}
