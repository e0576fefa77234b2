package follow

import (
	"context"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Node is the part of the Tron full node API the follower needs;
// *tron.Client implements it. It is an interface so that tests can inject
// faults between the follower and a simulated node.
type Node interface {
	NowBlock(ctx context.Context) (*tron.Block, error)
	BlockByNum(ctx context.Context, num int64) (*tron.Block, error)
	BlocksByRange(ctx context.Context, start, end int64) ([]tron.Block, error)
	TxInfosByBlockNum(ctx context.Context, num int64) ([]tron.TxInfo, error)
}
