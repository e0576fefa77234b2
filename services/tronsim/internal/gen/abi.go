package gen

import (
	"encoding/hex"
	"strings"

	"github.com/holiman/uint256"
)

// Event signatures (topic0) and method selectors the generator writes.
const (
	topicTransfer = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
	topicApproval = "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
	topicSync     = "1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
	topicSwap     = "d78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"

	// topicWithdrawal and topicDeposit are WTRX's Withdrawal(address,uint256)
	// and Deposit(address,uint256), as WETH9 has them.
	topicWithdrawal = "7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"
	topicDeposit    = "e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
	// topicExecutionSuccess is a Safe multisig's ExecutionSuccess(bytes32,uint256).
	topicExecutionSuccess = "442e715f626346e8c54381002da614f62bee8d27386535b2521ec8540898556e"

	selTransfer     = "a9059cbb" // transfer(address,uint256)
	selTransferFrom = "23b872dd" // transferFrom(address,address,uint256)
	selApprove      = "095ea7b3" // approve(address,uint256)
	selWithdraw     = "2e1a7d4d" // withdraw(uint256)
	// selSwapExactTokensForTokens is swapExactTokensForTokens(uint256,uint256,address[],address,uint256).
	selSwapExactTokensForTokens = "38ed1739"
	// selSwapExactTokensForETH is swapExactTokensForETH(uint256,uint256,address[],address,uint256).
	selSwapExactTokensForETH = "18cbafe5"
	// selSwapExactETHForTokens is swapExactETHForTokens(uint256,address[],address,uint256).
	selSwapExactETHForTokens = "7ff36ab5"
	// selDisperseEther is disperseEther(address[],uint256[]).
	selDisperseEther = "e63d38ed"
	// selExecTransaction is a Safe's execTransaction(address,uint256,bytes,
	// uint8,uint256,uint256,uint256,address,address,bytes).
	selExecTransaction = "6a761202"

	// SelectorDecimals, SelectorSymbol, SelectorName and SelectorBalanceOf
	// are the TRC20 views the simulated node answers.
	SelectorDecimals  = "313ce567"
	SelectorSymbol    = "95d89b41"
	SelectorName      = "06fdde03"
	SelectorBalanceOf = "70a08231"
)

// word returns a 64-digit hex ABI word holding v.
func word(v *uint256.Int) string {
	b := v.Bytes32()
	return hex.EncodeToString(b[:])
}

func wordU64(v uint64) string {
	var u uint256.Int
	u.SetUint64(v)
	return word(&u)
}

// EncodeString returns the ABI encoding of a single string return value:
// offset, length and the padded bytes.
func EncodeString(s string) string {
	var b strings.Builder
	b.WriteString(wordU64(32))
	b.WriteString(wordU64(uint64(len(s))))
	h := hex.EncodeToString([]byte(s))
	b.WriteString(h)
	if rem := len(h) % 64; rem != 0 {
		b.WriteString(strings.Repeat("0", 64-rem))
	}
	return b.String()
}

// EncodeUint returns the ABI encoding of a single uint return value.
func EncodeUint(v uint64) string { return wordU64(v) }

// errorData is the revert data of Error(string), as contractResult carries
// it when a contract reverts with a reason.
func errorData(reason string) string {
	return "08c379a0" + EncodeString(reason)
}
