package follow

import (
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/tron"
)

// States of the node's internal transactions, as [Follower.InternalTxs]
// reports them.
const (
	InternalTxsUnknown     = "unknown"
	InternalTxsRecorded    = "recorded"
	InternalTxsNotRecorded = "not_recorded"
)

// missingFramesBlocks is how many blocks must show calls whose logs came
// from another contract with no internal frame before the node is said not
// to record internal transactions: one could be a node's quirk; a few in a
// row is vm.saveInternalTx off (or a proxy stripping them).
const missingFramesBlocks = 3

// noteInternal updates what the blocks say about the node's internal
// transactions (decode.MissingInternalFrames is the evidence). A node
// that records none shows no internal transfer at all, which a deposit
// pipeline must hear about: a metric, a warning, and /readyz's detail.
// It runs on the fetchers, concurrently.
func (f *Follower) noteInternal(b *tron.Block, infos []tron.TxInfo) {
	missing := decode.MissingInternalFrames(b, infos)
	_, frames := decode.InternalStats(b, infos)
	switch {
	case missing > 0:
		if f.missingFrames.Add(1) >= missingFramesBlocks && f.internalTxs.Swap(2) != 2 {
			f.m.InternalTxs.Set(0)
			f.log.Warn("the node does not record internal transactions (vm.saveInternalTx off?): contracts' TRX and TRC10 payouts (trx_internal_transfer, trc10_internal_transfer) are missing from every stream",
				"block", b.BlockHeader.RawData.Number, "calls_without_frames", missing)
		}
	case frames > 0:
		f.missingFrames.Store(0)
		if f.internalTxs.Swap(1) == 2 {
			f.log.Info("the node records internal transactions again", "block", b.BlockHeader.RawData.Number)
		}
		f.m.InternalTxs.Set(1)
	}
}

// InternalTxs says whether the node records internal transactions:
// [InternalTxsRecorded], [InternalTxsNotRecorded] or, before a block
// showed either, [InternalTxsUnknown].
func (f *Follower) InternalTxs() string {
	switch f.internalTxs.Load() {
	case 1:
		return InternalTxsRecorded
	case 2:
		return InternalTxsNotRecorded
	default:
		return InternalTxsUnknown
	}
}
