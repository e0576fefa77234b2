package follow

import (
	"context"
	"encoding/json"
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

// commitBlock delivers what block fb makes due at each confirmation level
// and commits it as one step.
func (f *Follower) commitBlock(ctx context.Context, fb *fetched) error {
	cctx, cancel := f.commitCtx(ctx)
	defer cancel()

	f.window[fb.num] = &entry{num: fb.num, id: fb.id, parent: fb.parent, events: fb.events, loaded: true}
	next := state{block: fb.num, blockID: fb.id, step: f.st.step + 1, emitted: f.st.emitted}
	var due []*entry
	var dueConf []int
	// Oldest block first, so that when one step delivers several blocks
	// to the subscriptions of one level, they go in chain order.
	for c := levels - 1; c >= 0; c-- {
		for n := f.st.emitted[c] + 1; n <= fb.num-int64(c); n++ {
			e, err := f.loaded(cctx, n)
			if err != nil {
				delete(f.window, fb.num)
				return err
			}
			due = append(due, e)
			dueConf = append(dueConf, c)
		}
		next.emitted[c] = max(f.st.emitted[c], fb.num-int64(c))
	}
	now := time.Now().UTC()
	pos := map[string]uint64{}
	var ds []delivery
	for i, e := range due {
		f.match(e)
		for _, p := range e.byConf[dueConf[i]] {
			ev := e.events[p.ev]
			ev.SubscriptionID = p.m.SubscriptionID
			ev.Confirmations = dueConf[i]
			ev.Watched = p.m.Watched
			ev.Direction = p.m.Direction
			d, err := f.delivery(&ev, next.step, pos, now)
			if err != nil {
				delete(f.window, fb.num)
				return err
			}
			ds = append(ds, d)
		}
	}
	f.m.Matched.Add(float64(len(ds)))
	blocks := []store.BlockDoc{{Number: fb.num, ID: fb.id, Parent: fb.parent, Step: next.step}}
	if err := f.persist(cctx, ds, blocks, next, nil); err != nil {
		delete(f.window, fb.num)
		return err
	}
	f.st = next
	f.pruneWindow()
	f.committed.Store(fb.num)
	f.m.Blocks.Inc()
	f.m.Steps.Inc()
	f.m.Committed.Set(float64(fb.num))
	f.m.LagBlocks.Set(float64(max(f.head.Load()-fb.num, 0)))
	f.m.LagSeconds.Set(time.Since(fb.time).Seconds())
	f.m.PublishLatency.Observe(time.Since(fb.fetchedAt).Seconds())
	if fb.num%int64(keepBlocks) == 0 {
		_ = pruneBlocks(cctx, f.cfg.DB, oldBlocksFilter(fb.num))
	}
	f.publishHead()
	return nil
}

// delivery builds the document and message of ev, giving it the next
// cursor of its subscription in this step.
func (f *Follower) delivery(ev *event.Event, step uint64, pos map[string]uint64, now time.Time) (delivery, error) {
	sub := ev.SubscriptionID
	c := cursor.Cursor{Step: step, Pos: pos[sub]}
	pos[sub]++
	ev.Type = event.TypeEvent
	ev.Cursor = c.String()
	data, err := json.Marshal(ev)
	if err != nil {
		return delivery{}, fmt.Errorf("follow: encoding event %s: %w", ev.ID, err)
	}
	addrs := make([]string, 0, 3)
	seen := map[string]bool{}
	for _, a := range ev.Parties() {
		if s := a.String(); !seen[s] {
			seen[s] = true
			addrs = append(addrs, s)
		}
	}
	if !ev.Watched.IsZero() {
		if s := ev.Watched.String(); !seen[s] {
			addrs = append(addrs, s)
		}
	}
	return delivery{
		doc: store.EventDoc{
			ID: store.EventDocID(sub, ev.Cursor), SubscriptionID: sub, Cursor: ev.Cursor, EventID: ev.ID,
			Removed: ev.Removed, Kind: string(ev.Kind), TxID: ev.TxID, Block: ev.Block.Number, BlockID: ev.Block.ID,
			Addresses: addrs, CreatedAt: now, JSON: data,
		},
		msg: Msg{Subject: bus.EventsSubject(sub), ID: bus.MsgID(sub, ev.ID, ev.Block.ID, ev.Removed), Data: data},
	}, nil
}

// persist stores, then publishes, then commits the checkpoint: the
// checkpoint moves only once both succeeded. Each part is retried until it
// succeeds; beforeCheckpoint runs between publishing and the checkpoint.
func (f *Follower) persist(ctx context.Context, ds []delivery, blocks []store.BlockDoc, next state, beforeCheckpoint func(context.Context) error) error {
	docs := make([]any, len(ds))
	msgs := make([]Msg, len(ds))
	for i := range ds {
		docs[i] = ds[i].doc
		msgs[i] = ds[i].msg
	}
	if err := f.retry(ctx, "mongo", func(ctx context.Context) error { return insertEvents(ctx, f.cfg.DB, docs) }); err != nil {
		return err
	}
	f.m.Stored.Add(float64(len(docs)))
	if err := f.retry(ctx, "nats", func(ctx context.Context) error { return f.cfg.Publisher.Publish(ctx, msgs) }); err != nil {
		return err
	}
	f.m.Published.Add(float64(len(msgs)))
	return f.retry(ctx, "mongo", func(ctx context.Context) error {
		if beforeCheckpoint != nil {
			if err := beforeCheckpoint(ctx); err != nil {
				return err
			}
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
			e.byConf[c] = append(e.byConf[c], pair{ev: i, m: m})
		})
	}
	e.matched, e.gen = true, gen
}
