package gen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"

	"github.com/holiman/uint256"

	"github.com/mongotron/mongotron/pkg/tron"
)

// kind is one kind of synthetic transaction.
type kind int

const (
	kindTRX kind = iota
	kindTRC10
	kindUSDT
	kindTRC20
	kindSwap
	kindApprove
	kindFreeze
	kindUnfreeze
	kindDelegate
	kindUndelegate
	kindVote
	kindWithdrawReward
	kindWithdrawExpire
	kindAccountCreate
)

// kindWeights is the mix per thousand transactions, roughly mainnet's in
// 2024-25: USDT and TRX transfers dominate, staking is a few percent.
var kindWeights = [...]int{
	kindTRX:            285,
	kindTRC10:          60,
	kindUSDT:           380,
	kindTRC20:          80,
	kindSwap:           50,
	kindApprove:        10,
	kindFreeze:         25,
	kindUnfreeze:       15,
	kindDelegate:       25,
	kindUndelegate:     15,
	kindVote:           20,
	kindWithdrawReward: 15,
	kindWithdrawExpire: 10,
	kindAccountCreate:  10,
}

var kindCumulative = func() (c [len(kindWeights)]int) {
	total := 0
	for i, w := range kindWeights {
		total += w
		c[i] = total
	}
	return c
}()

// failPerMille is the share of transactions that fail; only contract calls
// fail, as a failed system contract never makes it into a block.
const failPerMille = 20

// builder generates the transactions of one block.
type builder struct {
	g      *Generator
	r      *rand.Rand
	zipf   *rand.Zipf
	number int64
	fork   uint32
	ts     int64
	recent []string
	raw    []byte
	// pending holds the traps of the transaction being built.
	pending []Trap
}

// outcome is how a transaction ended.
type outcome struct {
	ret     string // contractRet: SUCCESS, REVERT, OUT_OF_ENERGY
	message string // resMessage, plain text
	result  string // contractResult[0], hex
}

func (b *builder) pickKind() kind {
	x := b.r.IntN(kindCumulative[len(kindCumulative)-1])
	for i, c := range kindCumulative {
		if x < c {
			return kind(i)
		}
	}
	return kindTRX
}

func (b *builder) account() *account { return &b.g.pop[b.zipf.Uint64()] }

// pair returns two different accounts.
func (b *builder) pair() (*account, *account) {
	from := b.zipf.Uint64()
	to := b.zipf.Uint64()
	if to == from {
		to = (from + 1 + b.r.Uint64N(uint64(len(b.g.pop)-1))) % uint64(len(b.g.pop))
	}
	return &b.g.pop[from], &b.g.pop[to]
}

// fresh returns an address nobody in the population has, for account
// creations and activations.
func (b *builder) fresh(i int) account {
	return newAccount(derive(b.g.seed, "fresh", uint64(b.number)<<24|uint64(b.fork)<<12|uint64(i)))
}

// logUniform returns an integer between lo and hi spread evenly in
// magnitude, as real amounts are; about a third are rounded to two
// significant digits, as people type them.
func (b *builder) logUniform(lo, hi int64) int64 {
	v := int64(math.Exp(math.Log(float64(lo)) + b.r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
	if b.r.IntN(3) == 0 && v >= 100 {
		p := int64(1)
		for v/p >= 100 {
			p *= 10
		}
		v = v / p * p
	}
	return min(max(v, lo), hi)
}

// tokenAmount returns an amount of tok worth between about 0.1 and 100000
// whole tokens, in base units.
func (b *builder) tokenAmount(tok *Token) *uint256.Int {
	whole := b.logUniform(100, 100_000_000) // thousandths of a token
	v := uint256.NewInt(uint64(whole))
	scale := uint256.NewInt(10)
	scale.Exp(scale, uint256.NewInt(uint64(tok.Decimals)))
	v.Mul(v, scale)
	return v.Div(v, uint256.NewInt(1000))
}

func (b *builder) otherToken() *Token {
	ws := b.g.otherWeights
	x := b.r.IntN(ws[len(ws)-1])
	for i, c := range ws {
		if x < c {
			return &b.g.tokens[1+i]
		}
	}
	return &b.g.tokens[1]
}

func (b *builder) tx(i int) (tron.Transaction, tron.TxInfo, error) {
	k := b.pickKind()
	failed := false
	if b.r.IntN(1000) < failPerMille {
		failed = true
		switch x := b.r.IntN(100); {
		case x < 70:
			k = kindUSDT
		case x < 85:
			k = kindTRC20
		default:
			k = kindSwap
		}
	}
	info := tron.TxInfo{BlockNumber: b.number, BlockTimeStamp: b.ts}
	var (
		c        tron.Contract
		feeLimit int64
		out      = outcome{ret: "SUCCESS"}
		memo     string
	)
	switch k {
	case kindTRX:
		from, to := b.pair()
		toAcct := to
		info.Receipt = bandwidth(b.r, 266)
		if b.r.IntN(100) < 3 {
			fresh := b.fresh(i)
			toAcct = &fresh
			info.Fee, info.Receipt = 1_100_000, tron.Receipt{NetFee: 100_000}
		}
		text := ""
		if b.r.IntN(50) == 0 {
			text = memos[b.r.IntN(len(memos))]
			memo = hex.EncodeToString([]byte(text))
		}
		amount := b.logUniform(1, 1_000_000_000_000)
		c = contract("TransferContract", tron.ContractValue{OwnerAddress: from.hex, ToAddress: toAcct.hex, Amount: amount})
		if text != "" {
			// Plain memos are part of the ordinary mix; they are listed
			// with the traps so that every memo is.
			b.record(Trap{Kind: TrapMemoUTF8, Scenario: "ordinary", From: from.addr, To: toAcct.addr, Amount: tron.AmountFromInt64(amount), Memo: text})
		}
		info.ContractResult = emptyResult
		info.Fee += info.Receipt.NetFee
	case kindTRC10:
		from, to := b.pair()
		asset := trc10Assets[b.r.IntN(len(trc10Assets))]
		c = contract("TransferAssetContract", tron.ContractValue{
			AssetName: hex.EncodeToString([]byte(asset)), OwnerAddress: from.hex, ToAddress: to.hex, Amount: b.logUniform(1, 10_000_000_000),
		})
		info.Receipt = bandwidth(b.r, 283)
		info.ContractResult = emptyResult
		info.Fee = info.Receipt.NetFee
	case kindUSDT, kindTRC20:
		tok := &b.g.tokens[0]
		if k == kindTRC20 {
			tok = b.otherToken()
		}
		from, to := b.pair()
		amount := b.tokenAmount(tok)
		c = contract("TriggerSmartContract", tron.ContractValue{
			OwnerAddress: from.hex, ContractAddress: tok.acct.hex, Data: selTransfer + to.topic + word(amount),
		})
		feeLimit = feeLimits[b.r.IntN(len(feeLimits))]
		energy := int64(64285)
		if k == kindTRC20 {
			energy = 14000 + b.r.Int64N(20000)
		} else if b.r.IntN(4) == 0 {
			energy = 130285 // the receiver held no USDT yet
		}
		info.ContractAddress = tok.acct.hex
		if failed {
			out = b.fail(feeLimit, &energy, "")
		} else {
			out.result = wordU64(1)
			info.Log = []tron.Log{{Address: tok.acct.evm, Topics: []string{topicTransfer, from.topic, to.topic}, Data: word(amount)}}
		}
		info.Receipt = b.energyReceipt(energy, 345, out.ret)
	case kindSwap:
		c, info.Log, info.InternalTransactions, out.result = b.swap()
		feeLimit = feeLimits[2+b.r.IntN(len(feeLimits)-2)]
		energy := 120000 + b.r.Int64N(130000)
		info.ContractAddress = b.g.router.hex
		if failed {
			out = b.fail(feeLimit, &energy, "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT")
			info.Log, info.InternalTransactions = nil, nil
		}
		info.Receipt = b.energyReceipt(energy, 420, out.ret)
	case kindApprove:
		owner := b.account()
		tok := &b.g.tokens[0]
		if b.r.IntN(2) == 0 {
			tok = b.otherToken()
		}
		allowance := new(uint256.Int).SetAllOne() // unlimited, as most dapps ask
		c = contract("TriggerSmartContract", tron.ContractValue{
			OwnerAddress: owner.hex, ContractAddress: tok.acct.hex, Data: selApprove + b.g.router.topic + word(allowance),
		})
		feeLimit = feeLimits[b.r.IntN(len(feeLimits))]
		info.ContractAddress = tok.acct.hex
		info.Log = []tron.Log{{Address: tok.acct.evm, Topics: []string{topicApproval, owner.topic, b.g.router.topic}, Data: word(allowance)}}
		out.result = wordU64(1)
		info.Receipt = b.energyReceipt(22000+b.r.Int64N(8000), 315, out.ret)
	case kindFreeze:
		c = contract("FreezeBalanceV2Contract", tron.ContractValue{
			OwnerAddress: b.account().hex, FrozenBalance: b.logUniform(1, 1_000_000) * 1_000_000, Resource: b.resource(true),
		})
		b.systemInfo(&info, 276)
	case kindUnfreeze:
		c = contract("UnfreezeBalanceV2Contract", tron.ContractValue{
			OwnerAddress: b.account().hex, UnfreezeBalance: b.logUniform(1, 1_000_000) * 1_000_000, Resource: b.resource(true),
		})
		b.systemInfo(&info, 276)
	case kindDelegate:
		owner, to := b.pair()
		v := tron.ContractValue{OwnerAddress: owner.hex, Resource: b.resource(false), Balance: b.logUniform(1, 500_000) * 1_000_000, ReceiverAddress: to.hex}
		if b.r.IntN(10) < 3 {
			v.Lock, v.LockPeriod = true, 28800*int64(1+b.r.IntN(3))
		}
		c = contract("DelegateResourceContract", v)
		b.systemInfo(&info, 300)
	case kindUndelegate:
		owner, to := b.pair()
		c = contract("UnDelegateResourceContract", tron.ContractValue{
			OwnerAddress: owner.hex, Resource: b.resource(false), Balance: b.logUniform(1, 500_000) * 1_000_000, ReceiverAddress: to.hex,
		})
		b.systemInfo(&info, 298)
	case kindVote:
		n := 1 + b.r.IntN(3)
		votes := make([]tron.VoteWitness, 0, n)
		first := b.r.IntN(witnessCount)
		for j := range n {
			votes = append(votes, tron.VoteWitness{VoteAddress: b.g.witnesses[(first+j)%witnessCount].hex, VoteCount: b.logUniform(1, 10_000_000)})
		}
		c = contract("VoteWitnessContract", tron.ContractValue{OwnerAddress: b.account().hex, Votes: votes})
		b.systemInfo(&info, 263+int64(45*n))
	case kindWithdrawReward:
		c = contract("WithdrawBalanceContract", tron.ContractValue{OwnerAddress: b.account().hex})
		b.systemInfo(&info, 246)
		info.WithdrawAmount = b.logUniform(1000, 100_000_000_000)
	case kindWithdrawExpire:
		c = contract("WithdrawExpireUnfreezeContract", tron.ContractValue{OwnerAddress: b.account().hex})
		b.systemInfo(&info, 246)
		info.WithdrawExpireAmount = b.logUniform(1, 1_000_000) * 1_000_000
	case kindAccountCreate:
		fresh := b.fresh(i)
		c = contract("AccountCreateContract", tron.ContractValue{OwnerAddress: b.account().hex, AccountAddress: fresh.hex})
		info.ContractResult = emptyResult
		info.Fee, info.Receipt = 1_100_000, tron.Receipt{NetFee: 100_000}
	}
	return b.finish(c, feeLimit, memo, out, info)
}

var (
	emptyResult = []string{""}
	feeLimits   = []int64{15_000_000, 30_000_000, 50_000_000, 100_000_000, 150_000_000, 225_000_000}
	memos       = []string{"deposit", "withdrawal", "invoice 20931", "thanks!", "payout"}
)

func contract(typ string, v tron.ContractValue) tron.Contract {
	return tron.Contract{Type: typ, Parameter: tron.ContractParameter{Value: v, TypeURL: TypeURLPrefix + typ}}
}

// resource returns a resource as the node prints it: BANDWIDTH, the
// default, is omitted.
func (b *builder) resource(power bool) string {
	switch x := b.r.IntN(10); {
	case x < 6:
		return "ENERGY"
	case x < 9 || !power:
		return ""
	default:
		return "TRON_POWER"
	}
}

// bandwidth returns the receipt of a transaction paid with bandwidth:
// staked or free most of the time, burnt (1000 sun a byte) otherwise.
func bandwidth(r *rand.Rand, size int64) tron.Receipt {
	size += r.Int64N(4)
	if r.IntN(10) == 0 {
		return tron.Receipt{NetFee: size * 1000}
	}
	return tron.Receipt{NetUsage: size}
}

func (b *builder) systemInfo(info *tron.TxInfo, size int64) {
	info.ContractResult = emptyResult
	info.Receipt = bandwidth(b.r, size)
	info.Fee = info.Receipt.NetFee
}

// energyPrice is the sun burnt per unit of energy.
const energyPrice = 100

// energyReceipt returns the receipt of a contract call: energy staked or
// burnt, bandwidth staked or burnt.
func (b *builder) energyReceipt(energy, size int64, ret string) tron.Receipt {
	rc := tron.Receipt{EnergyUsageTotal: energy, Result: ret}
	if b.r.IntN(10) < 6 {
		rc.EnergyUsage = energy
	} else {
		rc.EnergyFee = energy * energyPrice
	}
	if b.r.IntN(10) < 7 {
		rc.NetUsage = size
	} else {
		rc.NetFee = size * 1000
	}
	return rc
}

// fail turns a contract call into a failed one: a revert (with reason when
// the contract gives one) or running out of energy, which burns the whole
// fee limit.
func (b *builder) fail(feeLimit int64, energy *int64, reason string) outcome {
	if b.r.IntN(3) == 0 {
		*energy = feeLimit / energyPrice
		return outcome{
			ret:     "OUT_OF_ENERGY",
			message: "Not enough energy for 'SSTORE' operation executing: curInvokeEnergyLimit[" + itoa(*energy) + "], curOpEnergy[20000], penaltyEnergy[0], usedEnergy[" + itoa(*energy-1200) + "]",
		}
	}
	*energy = *energy / 3
	o := outcome{ret: "REVERT", message: "REVERT opcode executed"}
	if reason != "" {
		o.result = errorData(reason)
	}
	return o
}

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// swap makes a swapExactTokensForTokens through the router: one or two
// hops through pair contracts, each hop logging Transfer, Sync and Swap as
// a Uniswap V2 pair does. The contracts it runs reach each other through
// internal calls, which a node saving internal transactions lists as
// frames without value: the router's transferFrom on the input token and
// swap on each pair, each pair's transfer of its output token.
func (b *builder) swap() (tron.Contract, []tron.Log, []tron.InternalTx, string) {
	user := b.account()
	toks := b.g.tokens
	in := &toks[b.r.IntN(len(toks))]
	out := &toks[b.r.IntN(len(toks))]
	for out == in {
		out = &toks[b.r.IntN(len(toks))]
	}
	path := []*Token{in, out}
	wtrx := &toks[2]
	if in != wtrx && out != wtrx && b.r.IntN(10) < 4 {
		path = []*Token{in, wtrx, out}
	}
	amounts := make([]*uint256.Int, len(path))
	for i, t := range path {
		amounts[i] = b.tokenAmount(t)
	}
	pairs := make([]account, len(path)-1)
	for i := range pairs {
		pairs[i] = b.g.pairOf(path[i], path[i+1])
	}
	logs := []tron.Log{{Address: in.acct.evm, Topics: []string{topicTransfer, user.topic, pairs[0].topic}, Data: word(amounts[0])}}
	for i, p := range pairs {
		recipient := user
		if i+1 < len(pairs) {
			recipient = &pairs[i+1]
		}
		o := path[i+1]
		logs = append(logs,
			tron.Log{Address: o.acct.evm, Topics: []string{topicTransfer, p.topic, recipient.topic}, Data: word(amounts[i+1])},
			tron.Log{Address: p.evm, Topics: []string{topicSync}, Data: word(b.tokenAmount(path[i])) + word(b.tokenAmount(o))},
			tron.Log{Address: p.evm, Topics: []string{topicSwap, b.g.router.topic, recipient.topic}, Data: word(amounts[i]) + wordU64(0) + wordU64(0) + word(amounts[i+1])},
		)
	}
	minOut := new(uint256.Int).Div(amounts[len(amounts)-1], uint256.NewInt(100))
	minOut.Mul(minOut, uint256.NewInt(99))
	data := selSwapExactTokensForTokens + word(amounts[0]) + word(minOut) + wordU64(0xa0) + user.topic +
		wordU64(uint64(b.ts/1000+600)) + wordU64(uint64(len(path)))
	result := wordU64(32) + wordU64(uint64(len(path)))
	for i, t := range path {
		data += t.acct.topic
		result += word(amounts[i])
	}
	c := contract("TriggerSmartContract", tron.ContractValue{OwnerAddress: user.hex, ContractAddress: b.g.router.hex, Data: data})
	frames := []tron.InternalTx{frame(&b.g.router, &in.acct, 0, "")}
	for i := range pairs {
		frames = append(frames, frame(&b.g.router, &pairs[i], 0, ""), frame(&pairs[i], &path[i+1].acct, 0, ""))
	}
	return c, logs, frames, result
}

// pairOf returns the pair contract of two tokens, the same whichever way
// round they are given.
func (g *Generator) pairOf(a, c *Token) account {
	x, y := a.acct.hex, c.acct.hex
	if x > y {
		x, y = y, x
	}
	h := sha256.Sum256([]byte(x + y))
	return newAccount(derive(g.seed, "pair", binary.BigEndian.Uint64(h[:8])))
}

// finish fills in what every transaction has: reference block, times,
// result, signature, and the raw bytes that give its id.
func (b *builder) finish(c tron.Contract, feeLimit int64, memo string, out outcome, info tron.TxInfo) (tron.Transaction, tron.TxInfo, error) {
	ref := b.r.IntN(len(b.recent))
	refNum := b.number - 1 - int64(ref)
	refID := b.recent[ref]
	var rb [2]byte
	binary.BigEndian.PutUint16(rb[:], uint16(refNum))
	refTS := b.ts - 3000*int64(ref+1)
	raw := tron.TxRaw{
		Contract:      []tron.Contract{c},
		RefBlockBytes: hex.EncodeToString(rb[:]),
		RefBlockHash:  refID[16:32],
		Expiration:    refTS + 60_000,
		FeeLimit:      feeLimit,
		Timestamp:     b.ts - 500 - b.r.Int64N(2500),
		Data:          memo,
	}
	var err error
	b.raw, err = AppendTxRaw(b.raw[:0], &raw)
	if err != nil {
		return tron.Transaction{}, tron.TxInfo{}, err
	}
	sum := sha256.Sum256(b.raw)
	id := hex.EncodeToString(sum[:])
	tx := tron.Transaction{
		Ret:        []tron.TxRet{{ContractRet: out.ret}},
		Signature:  []string{signature(b.r)},
		TxID:       id,
		RawData:    raw,
		RawDataHex: hex.EncodeToString(b.raw),
	}
	info.ID = id
	for j := range info.InternalTransactions {
		info.InternalTransactions[j].Hash = frameHash(id, j)
	}
	if c.Type == "TriggerSmartContract" {
		info.ContractResult = []string{out.result}
		info.Fee = info.Receipt.EnergyFee + info.Receipt.NetFee
	}
	if out.ret != "SUCCESS" {
		info.Result = "FAILED"
		info.ResMessage = hex.EncodeToString([]byte(out.message))
	}
	return tx, info, nil
}
