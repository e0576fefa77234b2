package nodes

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// State names what the pool thinks of a node, from best to worst; /readyz
// and [Status] show it.
type State string

// The states of a node.
const (
	// StateSelected is the node reads go to first.
	StateSelected State = "selected"
	// StateOK is a node as good as the selected one.
	StateOK State = "ok"
	// StateUnknown is a node not heard from yet.
	StateUnknown State = "unknown"
	// StateRecovering is a node healthy again, for fewer polls than it
	// needs to count as good.
	StateRecovering State = "recovering"
	// StateBehind is a node more than the near lag, and at most the
	// maximum lag, behind the highest head.
	StateBehind State = "behind"
	// StateStalled is a node whose head stayed put while another's moved
	// past it.
	StateStalled State = "stalled"
	// StateLagging is a node more than the maximum lag behind.
	StateLagging State = "lagging"
	// StateFailing is a node whose last call or poll failed, or that
	// asked to be left alone (rate limit).
	StateFailing State = "failing"
	// StateBad is a node that served data failing verification, set aside
	// for a while.
	StateBad State = "bad"
)

// rank orders the states for selection: lower is better. Unknown ranks
// with good, so that before the first poll the first URL is read from.
func (s State) rank() int {
	switch s {
	case StateSelected, StateOK, StateUnknown:
		return 0
	case StateRecovering:
		return 1
	case StateBehind:
		return 2
	case StateStalled, StateLagging:
		return 3
	case StateFailing:
		return 4
	default:
		return 5
	}
}

// node is one node of the pool: its clients, one per lane, what the pool
// knows of its health, and the blocks it served lately.
type node struct {
	idx   int
	url   string
	label string

	mu sync.Mutex
	// head is the last head observed; known once one was.
	head   int64
	known  bool
	headAt time.Time // when head last changed
	// behindAt is when the node was first seen behind the highest head,
	// zero while it is at it: a head that stays put is a stall only once
	// another node's moved past it.
	behindAt time.Time
	// readAt is when a read (not a poll) last saw the head: the
	// follower's own head polls make the pool's redundant.
	readAt time.Time
	// healthy counts the successful head observations since the node was
	// last unhealthy (failing, bad, stalled or lagging).
	healthy int
	failing bool
	// retryAt is when a node that asked to be left alone (429 with
	// Retry-After) may be called again.
	retryAt  time.Time
	badUntil time.Time
	lastErr  string
	// polling is set while a health poll is in flight.
	polling bool

	// recent remembers blocks served, by number, for checking
	// transaction-info lists; order is their insertion order, for
	// eviction.
	recent map[int64]blockSig
	order  []int64
	// flights are the block fetches in progress, which an info check
	// waits for rather than fetching the block a second time.
	flights map[*flight]struct{}
}

// blockSig is what an info list is checked against: the block's id and
// the digest of its transaction ids in order.
type blockSig struct {
	id     string
	txs    int
	digest [32]byte
}

// flight is a block fetch in progress over [start, end).
type flight struct {
	start, end int64
	done       chan struct{}
}

func sigOf(b *tron.Block) blockSig {
	h := sha256.New()
	for i := range b.Transactions {
		h.Write([]byte(b.Transactions[i].TxID))
	}
	s := blockSig{id: b.BlockID, txs: len(b.Transactions)}
	h.Sum(s.digest[:0])
	return s
}

// matches reports whether infos are the transactions of the block s
// describes, one to one and in order.
func (s blockSig) matches(infos []tron.TxInfo) bool {
	if len(infos) != s.txs {
		return false
	}
	h := sha256.New()
	for i := range infos {
		h.Write([]byte(infos[i].ID))
	}
	var d [32]byte
	h.Sum(d[:0])
	return d == s.digest
}

// remember records blocks served by n, evicting the oldest beyond keep.
func (n *node) remember(keep int, blocks ...*tron.Block) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range blocks {
		num := b.BlockHeader.RawData.Number
		if _, ok := n.recent[num]; !ok {
			n.order = append(n.order, num)
		}
		n.recent[num] = sigOf(b)
	}
	if over := len(n.order) - keep; over > 0 {
		for _, num := range n.order[:over] {
			delete(n.recent, num)
		}
		n.order = append(n.order[:0], n.order[over:]...)
	}
}

// recalled returns the remembered block num.
func (n *node) recalled(num int64) (blockSig, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.recent[num]
	return s, ok
}

// takeOff registers a fetch of [start, end); land ends it.
func (n *node) takeOff(start, end int64) *flight {
	f := &flight{start: start, end: end, done: make(chan struct{})}
	n.mu.Lock()
	n.flights[f] = struct{}{}
	n.mu.Unlock()
	return f
}

func (n *node) land(f *flight) {
	n.mu.Lock()
	delete(n.flights, f)
	n.mu.Unlock()
	close(f.done)
}

// inFlight returns the done channels of the fetches covering num.
func (n *node) inFlight(num int64) []chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []chan struct{}
	for f := range n.flights {
		if num >= f.start && num < f.end {
			out = append(out, f.done)
		}
	}
	return out
}
