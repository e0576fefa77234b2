package webhook

import (
	"context"
	"errors"
	"sync"
	"time"
)

// maxWriteCost caps one combined write's [writeOps.cost] so that it ends
// inside storeTimeout: finished deliveries cost one insert and one delete
// statement whatever their number, but each scheduled retry is a
// statement of its own, and FerretDB's SQLite backend scans the whole
// queue for every statement, even one by _id.
const maxWriteCost = 512

// groupWriter combines the outcome writes of every lane of this edge into
// few bulk writes, one at a time: dozens of lanes each writing its own
// would be dozens of concurrent write commands on FerretDB's one SQLite
// file, whose busy handler is not fair, and would starve other writers
// (the ingest's and the API's) past their busy timeout. The first lane to
// write becomes the writer and also writes what the others queued
// meanwhile; each caller still returns only once its own outcomes are
// stored, so a lane never reads a delivery whose outcome is unwritten.
type groupWriter struct {
	store mongoStore
	// timeout bounds each combined write; a lane writes with at least
	// that much of its lease left, so a write ends before the lease.
	timeout time.Duration

	mu     sync.Mutex
	queue  []*writeReq
	active bool
}

type writeReq struct {
	ops  writeOps
	done chan error
}

// errLead tells a queued caller to take over as the writer.
var errLead = errors.New("webhook: lead the writes")

// write stores models in order and returns when they are stored or
// could not be. Writes are bounded by g.timeout each, whatever ctx.
func (g *groupWriter) write(ctx context.Context, ops writeOps) error {
	r := &writeReq{ops: ops, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.active
	g.active = true
	g.mu.Unlock()
	if !lead {
		if err := <-r.done; !errors.Is(err, errLead) {
			return err
		}
	}
	for own := false; !own; {
		g.mu.Lock()
		// Whole requests only: one lane's outcomes are written together.
		n, size := 0, 0
		for n < len(g.queue) && (n == 0 || size+g.queue[n].ops.cost() <= maxWriteCost) {
			size += g.queue[n].ops.cost()
			n++
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		var all writeOps
		for _, b := range batch {
			all.add(b.ops)
			own = own || b == r
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		err := g.store.apply(wctx, all)
		cancel()
		for _, b := range batch {
			b.done <- err
		}
	}
	// Once its own outcomes are stored the caller goes back to its lane,
	// handing the writes still queued to the first caller waiting.
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.active = false
	} else {
		g.queue[0].done <- errLead
	}
	g.mu.Unlock()
	return <-r.done
}
