package chaos

import "maps"

// The subscriptions the tests and the soak create: a few kinds each, at
// the head (no confirmations), so that events come every block or two
// yet FerretDB, which scans a collection for each history page and is
// slow under the race detector, keeps up. With the default simulator
// (10 transactions per block, 300 ms blocks) they get about 9, 4 and 2
// events a second.
const (
	SubTRX     = "trx"
	SubStaking = "staking"
	SubTRC10   = "trc10"
)

var subBodies = map[string]map[string]any{
	SubTRX:     {"kinds": []string{"trx_transfer"}, "confirmations": 0},
	SubStaking: {"kinds": []string{"stake", "unstake", "vote", "delegate_resource", "undelegate_resource", "withdraw_unstake", "reward_claim"}, "confirmations": 0},
	SubTRC10:   {"kinds": []string{"trc10_transfer", "account_create"}, "confirmations": 0},
}

// SubBody returns a fresh create body for one of the subscriptions
// above (SubTRX, SubStaking, SubTRC10), with a webhook to hookURL unless
// it is empty.
func SubBody(name, hookURL string) map[string]any {
	b := maps.Clone(subBodies[name])
	if b == nil {
		panic("chaos: no subscription " + name)
	}
	if hookURL != "" {
		b["webhook"] = map[string]any{"url": hookURL, "secret": "chaos-webhook-secret-0123456789abcdef"} //nolint:gosec // G101: the harness's own receiver checks signatures with this made-up secret
	}
	return b
}
