package sim

import (
	"slices"
	"strings"

	"github.com/mongotron/mongotron/pkg/tron"
)

// A node that serves tampered data is what [Faults.CorruptBlocks] and
// [Faults.CorruptReceipts] stand for. The tampering is at the level of
// tron.Block and tron.TxInfo, so that HTTP and gRPC serve the same bad
// data, and it changes identifiers rather than bytes a converter could
// refuse to parse: a client finds it only by checking hashes and the
// one-to-one match of infos and transactions.

// corruptBlock returns a copy of b that no longer verifies: on an even
// number, or without transactions, its block id is changed (the number
// prefix kept); otherwise one transaction's id is.
func corruptBlock(b *tron.Block) *tron.Block {
	out := *b
	n := b.BlockHeader.RawData.Number
	if n%2 == 0 || len(b.Transactions) == 0 {
		// Past the 16 hex digits of the number, so the id still names the
		// block it claims to be.
		out.BlockID = flipHex(b.BlockID, 16+int(uint64(n)%48))
		return &out
	}
	out.Transactions = slices.Clone(b.Transactions)
	i := int(uint64(n) % uint64(len(b.Transactions)))
	out.Transactions[i].TxID = flipHex(b.Transactions[i].TxID, int(uint64(n)%64))
	return &out
}

// corruptInfos returns a copy of the infos of block n that no longer
// matches the block's transactions one to one: on an even number the last
// entry is dropped, otherwise one entry's id is changed; an empty list
// gets one made-up entry.
func corruptInfos(infos []tron.TxInfo, n int64) []tron.TxInfo {
	if len(infos) == 0 {
		return []tron.TxInfo{{ID: strings.Repeat("ab", 32), BlockNumber: n}}
	}
	if n%2 == 0 {
		return slices.Clone(infos[:len(infos)-1])
	}
	out := slices.Clone(infos)
	i := int(uint64(n) % uint64(len(infos)))
	out[i].ID = flipHex(out[i].ID, int(uint64(n)%64))
	return out
}

// flipHex returns the hex string h with the digit at i changed (h padded to
// 64 digits first if shorter, as an id is).
func flipHex(h string, i int) string {
	b := []byte(h)
	for len(b) < 64 {
		b = append(b, '0')
	}
	i %= len(b)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}
