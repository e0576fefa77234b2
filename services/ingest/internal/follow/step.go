package follow

import (
	"context"
	"fmt"
	"time"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
)

// delivery is one event going to one subscription in a step.
type delivery struct {
	doc store.EventDoc
	msg Msg
}

// links is how a unit of commit links its events: per subscription,
// where its last event staged in the unit leaves it, and its head before
// the unit (the base of the heads the unit writes; see heads.go).
type links struct {
	last map[string]headPos
	base map[string]headPos
}

func newLinks() links { return links{last: map[string]headPos{}, base: map[string]headPos{}} }

// heads returns the heads the unit writes.
func (l links) heads() []headDoc {
	out := make([]headDoc, 0, len(l.last))
	for sub, h := range l.last {
		b := l.base[sub]
		out = append(out, headDoc{ID: sub, Cursor: h.cursor, Base: b.cursor, Seq: h.seq, BaseSeq: b.seq})
	}
	return out
}

// Deliver gives ev, matched to its subscription, its cursor c, its link
// prev (the cursor of the subscription's previous event, "" for its
// first) and its seq (its position in the subscription's history), and
// returns the document that stores it and the message that publishes it.
// The follower and the backfill deliver through it.
func Deliver(ev *event.Event, c cursor.Cursor, prev string, seq int64, now time.Time) (store.EventDoc, Msg, error) {
	ev.Cursor = c.String()
	ev.PrevCursor = prev
	doc, err := store.NewEventDoc(ev, now)
	if err != nil {
		return store.EventDoc{}, Msg{}, fmt.Errorf("follow: %w", err)
	}
	doc.Seq = seq
	sub := ev.SubscriptionID
	return doc, Msg{Subject: bus.EventsSubject(sub), ID: bus.MsgID(sub, ev.ID, ev.Block.ID, ev.Removed), Data: doc.JSON, Prev: prev}, nil
}

// group is consecutive blocks committed as one persist unit. Each block
// is staged as its own step, exactly as if committed alone, so history and
// cursors do not depend on how blocks were grouped, and a redo after a
// crash, grouped differently, writes and publishes the same documents.
type group struct {
	// st is the state once the staged blocks are committed.
	st     state
	blocks []*fetched
	ds     []delivery
	docs   []store.BlockDoc
	now    time.Time
	links  links
}

// commitGroup commits fb together with the blocks already fetched behind
// it on blocks (nil: none), without waiting for more: a group forms only
// when the fetcher is ahead, so at the head every block goes out alone and
// at once. It returns a block it received that does not continue the
// group (a reorg, for the caller to see), and whether blocks is closed.
func (f *Follower) commitGroup(ctx context.Context, fb *fetched, blocks <-chan *fetched) (held *fetched, closed bool, err error) {
	cctx, cancel := f.commitCtx(ctx)
	defer cancel()

	g := &group{st: f.st, now: time.Now().UTC(), links: newLinks()}
	defer func() {
		if err != nil {
			for _, b := range g.blocks {
				delete(f.window, b.num)
			}
		}
	}()
	if err := f.stage(cctx, g, fb); err != nil {
		return nil, false, err
	}
gather:
	for blocks != nil && len(g.blocks) < f.cfg.GroupBlocks && len(g.ds) < f.cfg.GroupDeliveries && ctx.Err() == nil {
		select {
		case nb, ok := <-blocks:
			if !ok {
				closed = true
				break gather
			}
			if nb.num != g.st.block+1 || nb.parent != g.st.blockID {
				held = nb
				break gather
			}
			if err := f.stage(cctx, g, nb); err != nil {
				return nil, closed, err
			}
		default:
			break gather
		}
	}
	if err := f.persist(cctx, g.ds, g.docs, g.st, g.links); err != nil {
		return held, closed, err
	}
	prev := f.st.block
	f.st = g.st
	f.remember(g.links.last)
	f.mirrorSolid()
	f.pruneWindow()
	last := g.blocks[len(g.blocks)-1]
	f.committed.Store(last.num)
	f.m.Blocks.Add(float64(len(g.blocks)))
	f.m.Steps.Add(float64(len(g.blocks)))
	f.m.Committed.Set(float64(last.num))
	f.m.LagBlocks.Set(float64(max(f.head.Load()-last.num, 0)))
	f.m.LagSeconds.Set(time.Since(last.time).Seconds())
	for _, b := range g.blocks {
		f.m.PublishLatency.Observe(time.Since(b.fetchedAt).Seconds())
	}
	if last.num/int64(keepBlocks) != prev/int64(keepBlocks) {
		_ = pruneBlocks(cctx, f.cfg.DB, oldBlocksFilter(last.num))
	}
	f.publishHead()
	return held, closed, nil
}

// stage adds fb to g as the next step: it delivers what fb makes due at
// each confirmation level, counting the blocks staged before it as part of
// the chain, so that they confirm earlier ones as they would one by one.
func (f *Follower) stage(ctx context.Context, g *group, fb *fetched) error {
	prev := g.st
	f.window[fb.num] = &entry{num: fb.num, id: fb.id, parent: fb.parent, events: fb.events, loaded: true}
	next := state{block: fb.num, blockID: fb.id, step: prev.step + 1, emitted: prev.emitted,
		solid: max(prev.solid, f.solidSeen.Load())}
	var due []*entry
	var dueConf []int
	// Oldest block first, so that when one step delivers several blocks
	// to the subscriptions of one level, they go in chain order.
	for c := levels - 1; c >= 0; c-- {
		for n := prev.emitted[c] + 1; n <= fb.num-int64(c); n++ {
			e, err := f.loaded(ctx, n)
			if err != nil {
				delete(f.window, fb.num)
				return err
			}
			due = append(due, e)
			dueConf = append(dueConf, c)
		}
		next.emitted[c] = max(prev.emitted[c], fb.num-int64(c))
	}
	subs := map[string]bool{}
	for i, e := range due {
		f.match(e)
		for _, p := range e.byConf[dueConf[i]] {
			subs[p.m.SubscriptionID] = true
		}
	}
	if err := f.loadLinks(ctx, subs); err != nil {
		delete(f.window, fb.num)
		return err
	}
	pos := map[string]uint64{}
	n0 := len(g.ds)
	for i, e := range due {
		for _, p := range e.byConf[dueConf[i]] {
			ev := e.events[p.ev]
			ev.SubscriptionID = p.m.SubscriptionID
			ev.Confirmations = dueConf[i]
			// prev.solid, not the newest poll: a redo says the same.
			ev.Solidified = e.num <= prev.solid
			ev.Watched = p.m.Watched
			ev.Direction = p.m.Direction
			if p.m.Lookalike {
				ev.AddFlag(event.FlagLookalike)
			}
			d, err := f.delivery(&ev, next.step, pos, g.links, g.now)
			if err != nil {
				g.ds = g.ds[:n0]
				delete(f.window, fb.num)
				return err
			}
			g.ds = append(g.ds, d)
		}
	}
	f.m.Matched.Add(float64(len(g.ds) - n0))
	g.st = next
	g.blocks = append(g.blocks, fb)
	g.docs = append(g.docs, store.BlockDoc{Number: fb.num, ID: fb.id, Parent: fb.parent, Step: next.step})
	return nil
}

// delivery builds the document and message of ev, giving it the next
// cursor of its subscription in this step and linking it to the
// subscription's previous event: the last one staged in this unit of
// commit, or else its committed head, which must be loaded
// ([Follower.loadLinks]). lk is updated.
func (f *Follower) delivery(ev *event.Event, step uint64, pos map[string]uint64, lk links, now time.Time) (delivery, error) {
	sub := ev.SubscriptionID
	c := cursor.Cursor{Step: step, Pos: pos[sub]}
	prev, ok := lk.last[sub]
	if !ok {
		if prev, ok = f.last[sub]; !ok {
			return delivery{}, fmt.Errorf("follow: the head of subscription %s was not loaded", sub)
		}
		lk.base[sub] = prev
	}
	doc, msg, err := Deliver(ev, c, prev.cursor, prev.seq, now)
	if err != nil {
		return delivery{}, err
	}
	pos[sub]++
	lk.last[sub] = headPos{cursor: doc.Cursor, seq: prev.seq + 1}
	return delivery{doc: doc, msg: msg}, nil
}

// firstChunk is how many of a step's events are stored and published
// before the others.
const firstChunk = 32

// persist stores the events and their history pages, then publishes
// them, then writes the subscriptions' heads, then commits the
// checkpoint: the checkpoint moves only once all of them succeeded. Each
// part is retried until it succeeds.
func (f *Follower) persist(ctx context.Context, ds []delivery, blocks []store.BlockDoc, next state, lk links) error {
	docs := make([]any, len(ds))
	evs := make([]store.EventDoc, len(ds))
	msgs := make([]Msg, len(ds))
	for i := range ds {
		docs[i] = ds[i].doc
		evs[i] = ds[i].doc
		msgs[i] = ds[i].msg
	}
	// The first events go out before the rest is stored: every event is
	// still stored, and paged, before it is published (a stream resuming
	// from history relies on that), but subscribers get a block's first
	// events after storing a few, not all, of them.
	for lo := 0; lo < len(docs); {
		hi := len(docs)
		if lo == 0 {
			hi = min(hi, firstChunk)
		}
		err := f.retry(ctx, "mongo", func(ctx context.Context) error {
			if err := insertEvents(ctx, f.cfg.DB, docs[lo:hi]); err != nil {
				return err
			}
			// Page writes cannot be refused by a newer leader's token
			// (see store.Pages.Write): a leader whose lease ran out
			// stops before them.
			if err := f.leaseHeld(); err != nil {
				return err
			}
			return writePages(ctx, f.pages, evs[lo:hi], f.fence())
		})
		if err != nil {
			return err
		}
		f.m.Stored.Add(float64(hi - lo))
		if err := f.retry(ctx, "nats", func(ctx context.Context) error { return f.cfg.Publisher.Publish(ctx, msgs[lo:hi]) }); err != nil {
			return err
		}
		f.m.Published.Add(float64(hi - lo))
		lo = hi
	}
	heads := lk.heads()
	return f.retry(ctx, "mongo", func(ctx context.Context) error {
		if err := saveHeads(ctx, f.cfg.DB, heads, f.fence()); err != nil {
			return err
		}
		if err := upsertBlocks(ctx, f.cfg.DB, blocks); err != nil {
			return err
		}
		return f.commitCheckpoint(ctx, next)
	})
}

// loaded returns block n of the window with its events, fetching it from
// the node when only its id is known (after a restart). The fetched block
// must be the one recorded: if the node switched branches in between, the
// step fails and the next round sees the reorg.
func (f *Follower) loaded(ctx context.Context, n int64) (*entry, error) {
	e := f.window[n]
	if e != nil && e.loaded {
		return e, nil
	}
	fb, err := f.fetchOne(ctx, n)
	if err != nil {
		return nil, err
	}
	if e == nil {
		f.log.Warn("block missing from the recorded chain; trusting the node", "block", n)
		e = &entry{num: n, id: fb.id, parent: fb.parent}
		f.window[n] = e
	}
	if fb.id != e.id {
		return nil, fmt.Errorf("follow: block %d is %s at the node, %s in our chain", n, fb.id, e.id)
	}
	e.events, e.loaded = fb.events, true
	return e, nil
}

// match fills e's per-level matches unless the cached ones are current.
func (f *Follower) match(e *entry) {
	gen := f.cfg.Matcher.Generation()
	if e.matched && e.gen == gen {
		return
	}
	for c := range e.byConf {
		e.byConf[c] = e.byConf[c][:0]
	}
	for i := range e.events {
		f.cfg.Matcher.Match(&e.events[i], func(m Match) {
			c := min(max(m.Confirmations, 0), levels-1)
			if m.Solidified {
				c = solidLevel
			}
			e.byConf[c] = append(e.byConf[c], pair{ev: i, m: m})
		})
	}
	e.matched, e.gen = true, gen
}
