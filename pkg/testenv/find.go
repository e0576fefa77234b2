package testenv

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// findAllBatch bounds [FindAll]'s one reply. FerretDB allocates room for
// a whole batch before it reads one document, so the bound is what a test
// reads, not the largest number there is; a read past it still succeeds,
// with a getMore.
const findAllBatch = 100_000

// FindAll decodes every document filter matches into out (a pointer to a
// slice), asking for them all in the find's first reply.
//
// FerretDB ties a cursor to the connection that opened it, and the driver
// closes a connection whose operation was canceled. The tests of a package
// share one client, so another test stopping a service mid-read can close
// the connection behind this read's cursor; its getMore then fails with
// "connection reset by peer". One batch needs no getMore.
func FindAll(ctx context.Context, coll *mongo.Collection, filter, out any, opts ...options.Lister[options.FindOptions]) error {
	opts = append(opts, options.Find().SetBatchSize(findAllBatch))
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return fmt.Errorf("testenv: find in %s: %w", coll.Name(), err)
	}
	if err := cur.All(ctx, out); err != nil {
		return fmt.Errorf("testenv: read %s: %w", coll.Name(), err)
	}
	return nil
}
