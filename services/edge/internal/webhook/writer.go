package webhook

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// maxWriteModels caps one combined write at a lane's batch, the most one
// lane wrote at once before: FerretDB's SQLite backend scans the whole
// collection for every statement, even one by _id, so a combined write
// must stay small to end inside storeTimeout.
const maxWriteModels = laneBatch

// groupWriter combines the outcome writes of every lane of this edge into
// few bulk writes, one at a time. Lanes running concurrently each wrote
// their own before: dozens of concurrent write commands on one SQLite
// file, whose busy handler is not fair, starved other writers (the
// ingest's and the API's) past their busy timeout. Now the first lane to
// write becomes the writer and also writes what the others queued
// meanwhile; each caller still returns only once its own outcomes are
// stored, so a lane never reads a delivery whose outcome is unwritten.
type groupWriter struct {
	store mongoStore

	mu     sync.Mutex
	queue  []*writeReq
	active bool
}

type writeReq struct {
	models []mongo.WriteModel
	done   chan error
}

// errLead tells a queued caller to take over as the writer.
var errLead = errors.New("webhook: lead the writes")

// write stores models in order and returns when they are stored or
// could not be. Writes are bounded by storeTimeout each, whatever ctx.
func (g *groupWriter) write(ctx context.Context, models []mongo.WriteModel) error {
	r := &writeReq{models: models, done: make(chan error, 1)}
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
		// Whole requests only: one lane's outcomes are written in order
		// by one ordered bulk write.
		n, size := 0, 0
		for n < len(g.queue) && (n == 0 || size+len(g.queue[n].models) <= maxWriteModels) {
			size += len(g.queue[n].models)
			n++
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		all := make([]mongo.WriteModel, 0, size)
		for _, b := range batch {
			all = append(all, b.models...)
			own = own || b == r
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := g.store.record(wctx, all)
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
