package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// reader reads one subscription's history pages. Every read is one
// document by _id: a page, the bounds of a chunk, or the subscription's
// head in [SubHeads] (written by the ingest after its pages, so the
// newest page is the one its seq names, or one a little after).
//
// The chunks of a subscription that still have pages are contiguous:
// retention takes the oldest first. So the newest chunk is found from the
// head's hint, and the oldest is chunk 0 or, once that expired, found by
// a binary search below the newest; a cursor's chunk by a binary search
// over the chunks' bounds, and its page in the chunk's bounds.
type reader struct {
	l   layout
	sub string
}

// pageRef is a page as its chunk's bounds describe it.
type pageRef struct {
	n int64
	pageBound
}

// headSeq returns how many events the subscription's head counts, 0 when
// it has no head (a subscription still backfilling).
func (r reader) headSeq(ctx context.Context) (int64, error) {
	var h struct {
		Seq int64 `bson:"seq"`
	}
	err := r.l.db.Collection(SubHeads).FindOne(ctx, bson.D{{Key: "_id", Value: r.sub}}, options.FindOne().SetProjection(bson.D{{Key: "seq", Value: 1}})).Decode(&h)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("store: head of %s: %w", r.sub, err)
	}
	return h.Seq, nil
}

// bounds returns the bounds of chunk c, ok false when it has no page left.
func (r reader) bounds(ctx context.Context, c int64) (*boundsDoc, bool, error) {
	var b boundsDoc
	err := r.l.bounds(r.sub, c).FindOne(ctx, bson.D{{Key: "_id", Value: boundsID(r.sub, c)}}).Decode(&b)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("store: bounds of chunk %d of %s: %w", c, r.sub, err)
	}
	if len(b.Pages) == 0 {
		return nil, false, nil
	}
	return &b, true, nil
}

// page returns page n, ok false when it does not exist.
func (r reader) page(ctx context.Context, n int64) (*pageDoc, bool, error) {
	var p pageDoc
	err := r.l.pages(r.sub, n).FindOne(ctx, bson.D{{Key: "_id", Value: PageID(r.sub, n)}}).Decode(&p)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("store: page %d of %s: %w", n, r.sub, err)
	}
	return &p, true, nil
}

// firstOf and lastOf return the first and last page a chunk's bounds
// name.
func firstOf(b *boundsDoc) pageRef {
	n := b.pageNums()[0]
	pb, _ := b.page(n)
	return pageRef{n: n, pageBound: pb}
}

func lastOf(b *boundsDoc) pageRef {
	ns := b.pageNums()
	n := ns[len(ns)-1]
	pb, _ := b.page(n)
	return pageRef{n: n, pageBound: pb}
}

// lastChunk returns the subscription's newest chunk, ok false when it
// has none.
func (r reader) lastChunk(ctx context.Context) (*boundsDoc, bool, error) {
	seq, err := r.headSeq(ctx)
	if err != nil {
		return nil, false, err
	}
	h := chunkOf(max(seq-1, 0) / PageSize)
	b, ok, err := r.bounds(ctx, h)
	if err != nil {
		return nil, false, err
	}
	var lo *boundsDoc // the newest chunk known to exist
	var hi int64      // a chunk known not to exist, above lo
	if ok {
		// Chunks may follow, as many as the writes in flight made.
		lo = b
		for step := int64(1); ; step *= 2 {
			x, ok, err := r.bounds(ctx, lo.Chunk+step)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				hi = lo.Chunk + step
				break
			}
			lo = x
		}
	} else {
		// Gone: the head is ahead of what a redo wrote again, or every
		// chunk expired. Look below.
		hi = h
		for step := int64(1); ; step *= 2 {
			c := max(hi-step, 0)
			x, ok, err := r.bounds(ctx, c)
			if err != nil {
				return nil, false, err
			}
			if ok {
				lo = x
				break
			}
			if c == 0 {
				return nil, false, nil
			}
			hi = c
		}
	}
	for hi-lo.Chunk > 1 {
		mid := lo.Chunk + (hi-lo.Chunk)/2
		x, ok, err := r.bounds(ctx, mid)
		if err != nil {
			return nil, false, err
		}
		if ok {
			lo = x
		} else {
			hi = mid
		}
	}
	return lo, true, nil
}

// firstChunk returns the subscription's oldest chunk with pages left, ok
// false when it has none.
func (r reader) firstChunk(ctx context.Context) (*boundsDoc, bool, error) {
	b, ok, err := r.bounds(ctx, 0)
	if err != nil || ok {
		return b, ok, err
	}
	last, ok, err := r.lastChunk(ctx)
	if err != nil || !ok {
		return nil, false, err
	}
	// Below the first chunk left none exists; from it to the last, all
	// do.
	lo, hi := int64(0), last
	for hi.Chunk-lo > 1 {
		mid := lo + (hi.Chunk-lo)/2
		x, ok, err := r.bounds(ctx, mid)
		if err != nil {
			return nil, false, err
		}
		if ok {
			hi = x
		} else {
			lo = mid
		}
	}
	return hi, true, nil
}

func (r reader) firstPage(ctx context.Context) (pageRef, bool, error) {
	b, ok, err := r.firstChunk(ctx)
	if err != nil || !ok {
		return pageRef{}, false, err
	}
	return firstOf(b), true, nil
}

// newestPage returns the subscription's newest page: the last its bounds
// name, or one after it not named yet. A page after one that is not full
// is what the first attempt of a redo that delivered less left: the page
// before it is the newest then.
func (r reader) newestPage(ctx context.Context) (*pageDoc, bool, error) {
	b, ok, err := r.lastChunk(ctx)
	if err != nil || !ok {
		return nil, false, err
	}
	var newest *pageDoc
	n := lastOf(b).n
	for ; ; n++ {
		pg, ok, err := r.page(ctx, n)
		if err != nil {
			return nil, false, err
		}
		if ok {
			ents, err := pg.entries()
			if err != nil {
				return nil, false, err
			}
			if len(ents) > 0 {
				newest = pg
			}
		}
		if !ok || !full(pg.Page, pg.End) {
			break
		}
	}
	for newest != nil && newest.Start == newest.Page*PageSize && newest.Page > 0 {
		prev, ok, err := r.page(ctx, newest.Page-1)
		if err != nil {
			return nil, false, err
		}
		if !ok || full(prev.Page, prev.End) {
			break
		}
		newest = prev
	}
	return newest, newest != nil, nil
}

// locate returns the page of the subscription's first event above after
// ("" = its oldest), ok false when it has none: the last page whose first
// event is at or below after, where after lies or which it follows, or
// the first page when after is older than all.
func (r reader) locate(ctx context.Context, after string) (int64, bool, error) {
	first, ok, err := r.firstChunk(ctx)
	if err != nil || !ok {
		return 0, false, err
	}
	if after == "" || firstOf(first).First > after {
		return firstOf(first).n, true, nil
	}
	// The last chunk whose first event is at or below after: lo's is;
	// hi's is not, or hi does not exist.
	lo := first
	hi := int64(-1)
	for step := int64(1); ; step *= 2 {
		x, ok, err := r.bounds(ctx, lo.Chunk+step)
		if err != nil {
			return 0, false, err
		}
		if !ok || firstOf(x).First > after {
			hi = lo.Chunk + step
			break
		}
		lo = x
	}
	for hi-lo.Chunk > 1 {
		mid := lo.Chunk + (hi-lo.Chunk)/2
		x, ok, err := r.bounds(ctx, mid)
		if err != nil {
			return 0, false, err
		}
		if ok && firstOf(x).First <= after {
			lo = x
		} else {
			hi = mid
		}
	}
	n := firstOf(lo).n
	for _, m := range lo.pageNums() {
		if pb, _ := lo.page(m); pb.First <= after {
			n = m
		}
	}
	return n, true, nil
}

// nextListed returns the first page after n its bounds name, for a walk
// that found page n gone (expired meanwhile).
func (r reader) nextListed(ctx context.Context, n int64) (int64, bool, error) {
	for c := chunkOf(n); c <= chunkOf(n)+1; c++ {
		b, ok, err := r.bounds(ctx, c)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			continue
		}
		for _, m := range b.pageNums() {
			if m > n {
				return m, true, nil
			}
		}
	}
	return 0, false, nil
}

// Scan calls fn with the subscription's stored events whose cursor is
// above after ("" = from its oldest), in cursor order, a page's worth at a
// time, until they are exhausted, fn returns false, or fn fails (its
// error is returned as is).
//
// A page of 100 events after an event costs three or four lookups: the
// bounds of the subscription's first chunk and of the one after it (the
// whole of a subscription of up to 4,096 events; about log2(chunks) more
// for a longer one), then one or two pages. Entries are handed on only while their cursors rise, so a
// page left behind by a writer that lost its lease shows no event twice.
func (p *Pages) Scan(ctx context.Context, subscriptionID, after string, fn func([]PageEntry) (bool, error)) error {
	l, err := p.layout(ctx)
	if err != nil {
		return err
	}
	r := reader{l: l, sub: subscriptionID}
	n, ok, err := r.locate(ctx, after)
	if err != nil {
		return err
	}
	last := after
	for ok {
		pg, found, err := r.page(ctx, n)
		if err != nil {
			return err
		}
		if !found {
			if n, ok, err = r.nextListed(ctx, n); err != nil {
				return err
			}
			continue
		}
		more, err := handOn(pg, &last, fn)
		if err != nil || !more {
			return err
		}
		if !full(pg.Page, pg.End) {
			return nil
		}
		n++
	}
	return nil
}

// ScanAhead is [Pages.Scan] reading up to ahead pages at once: while fn
// takes one page, the next ones are on their way, in as many concurrent
// lookups. A long replay is then bound by the store's throughput rather
// than one lookup's latency after another; FerretDB decodes each page on
// its own connection, so several use several cores. It reads up to
// ahead-1 pages past where fn stops or the history ends, so it suits
// replays, not a page of 100 (use Scan). ahead below 2 is Scan.
func (p *Pages) ScanAhead(ctx context.Context, subscriptionID, after string, ahead int, fn func([]PageEntry) (bool, error)) error {
	if ahead < 2 {
		return p.Scan(ctx, subscriptionID, after, fn)
	}
	l, err := p.layout(ctx)
	if err != nil {
		return err
	}
	r := reader{l: l, sub: subscriptionID}
	n, ok, err := r.locate(ctx, after)
	if err != nil || !ok {
		return err
	}
	type fetched struct {
		pg    *pageDoc
		found bool
		err   error
	}
	// Every lookup started ends before ScanAhead returns.
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	fetch := func(n int64) <-chan fetched {
		ch := make(chan fetched, 1)
		wg.Go(func() {
			pg, found, err := r.page(fctx, n)
			ch <- fetched{pg, found, err}
		})
		return ch
	}
	var queue []<-chan fetched // pages n, n+1, … in flight
	next := n                  // the next page to ask for
	last := after
	for {
		for len(queue) < ahead {
			queue = append(queue, fetch(next))
			next++
		}
		f := <-queue[0]
		queue = queue[1:]
		if f.err != nil {
			return f.err
		}
		if !f.found {
			// Expired meanwhile: what was asked for after it may be
			// gone too. Start again from the next page listed.
			queue = nil
			if n, ok, err = r.nextListed(ctx, n); err != nil || !ok {
				return err
			}
			next = n
			continue
		}
		more, err := handOn(f.pg, &last, fn)
		if err != nil || !more {
			return err
		}
		if !full(f.pg.Page, f.pg.End) {
			return nil
		}
		n++
	}
}

// Retained reports whether after is within retention: whether an event
// of the subscription at or below it is still stored.
func (p *Pages) Retained(ctx context.Context, subscriptionID, after string) (bool, error) {
	l, err := p.layout(ctx)
	if err != nil {
		return false, err
	}
	first, ok, err := reader{l: l, sub: subscriptionID}.firstPage(ctx)
	if err != nil {
		return false, err
	}
	return ok && first.First <= after, nil
}

// Newest returns the cursor of the subscription's newest stored event,
// "" when it has none.
func (p *Pages) Newest(ctx context.Context, subscriptionID string) (string, error) {
	l, err := p.layout(ctx)
	if err != nil {
		return "", err
	}
	pg, ok, err := reader{l: l, sub: subscriptionID}.newestPage(ctx)
	if err != nil || !ok {
		return "", err
	}
	ents, err := pg.entries()
	if err != nil || len(ents) == 0 {
		return "", err
	}
	return ents[len(ents)-1].Cursor, nil
}

// handOn hands fn the entries of pg after *last, in order, and moves
// *last to the newest handed on. It reports whether the scan goes on:
// fn's answer, or true when pg had nothing after *last.
func handOn(pg *pageDoc, last *string, fn func([]PageEntry) (bool, error)) (bool, error) {
	ents, err := pg.entries()
	if err != nil {
		return false, err
	}
	out := ents[:0]
	for _, e := range ents {
		if e.Cursor > *last {
			out = append(out, e)
			*last = e.Cursor
		}
	}
	if len(out) == 0 {
		return true, nil
	}
	return fn(out)
}
