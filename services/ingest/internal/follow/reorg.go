package follow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/tron"
)

// handleReorg walks back from our tip to the newest block the node still
// has, retracts every event delivered for the blocks above it, and commits
// that as one step whose checkpoint is the common ancestor; the next round
// then follows the node's branch from there.
//
// What to retract is read from MongoDB, not recomputed: it is exactly what
// was delivered, whatever the subscriptions have become since, and it
// survives a restart, so a reorg that happened while the ingest was down is
// handled the same way.
func (f *Follower) handleReorg(ctx context.Context) error {
	cctx, cancel := f.commitCtx(ctx)
	defer cancel()
	tip := f.st.block
	anc := int64(-1)
	for k := tip; k >= tip-MaxReorgDepth; k-- {
		e := f.window[k]
		if e == nil {
			break
		}
		var b *tron.Block
		err := f.retry(cctx, "node", func(ctx context.Context) error {
			var err error
			b, err = f.cfg.Node.BlockByNum(ctx, k)
			if errors.Is(err, tron.ErrNotFound) {
				b, err = nil, nil // the new branch is shorter
			}
			return err
		})
		if err != nil {
			return err
		}
		if b != nil && b.BlockID == e.id {
			anc = k
			break
		}
	}
	if anc < 0 {
		f.m.DeepReorgs.Inc()
		f.log.Error("ALARM: the node's chain departs from ours deeper than the solidified depth; refusing to rewrite solidified history",
			"tip", tip, "max_depth", MaxReorgDepth)
		return fmt.Errorf("%w: tip %d", ErrDeepReorg, tip)
	}
	if anc == tip {
		return nil // the node came back to our branch
	}
	if anc < f.st.emitted[solidLevel] {
		// Blocks the node reported solidified, and we delivered as such,
		// left its chain: retracting them would break the solidified
		// promise, so stop and say so.
		f.m.DeepReorgs.Inc()
		f.log.Error("ALARM: the node's chain departs from ours below the block it reported solidified; refusing to retract solidified events",
			"tip", tip, "ancestor", anc, "solidified_delivered", f.st.emitted[solidLevel])
		return fmt.Errorf("%w: ancestor %d below solidified %d", ErrDeepReorg, anc, f.st.emitted[solidLevel])
	}
	step := f.st.step + 1
	next := state{block: anc, blockID: f.window[anc].id, step: step, solid: f.st.solid}
	for c := range next.emitted {
		next.emitted[c] = min(f.st.emitted[c], anc)
	}
	var docs []store.EventDoc
	err := f.retry(cctx, "mongo", func(ctx context.Context) error {
		var err error
		docs, err = retractable(ctx, f.cfg.DB, anc, step)
		return err
	})
	if err != nil {
		return err
	}
	subs := map[string]bool{}
	for _, d := range docs {
		subs[d.SubscriptionID] = true
	}
	if err := f.loadLinks(cctx, subs); err != nil {
		return err
	}
	// A retraction is an event of its subscription like any other: it
	// gets the next cursor and links to the subscription's last event.
	now := time.Now().UTC()
	pos := map[string]uint64{}
	staged := newLinks()
	ds := make([]delivery, 0, len(docs))
	for _, d := range docs {
		var ev event.Event
		if err := json.Unmarshal(d.JSON, &ev); err != nil {
			return fmt.Errorf("follow: stored event %s: %w", d.ID, err)
		}
		ev.Removed = true
		dl, err := f.delivery(&ev, step, pos, staged, now)
		if err != nil {
			return err
		}
		ds = append(ds, dl)
	}
	err = f.persist(cctx, ds, nil, next, staged)
	if err != nil {
		return err
	}
	for n := range f.window {
		if n > anc {
			delete(f.window, n)
		}
	}
	_ = pruneBlocks(cctx, f.cfg.DB, bson.M{"_id": bson.M{"$gt": anc}})
	f.st = next
	f.remember(staged.last)
	f.committed.Store(anc)
	f.m.Committed.Set(float64(anc))
	f.m.Reorgs.Inc()
	f.m.Steps.Inc()
	f.m.ReorgDepth.Observe(float64(tip - anc))
	f.m.Retracted.Add(float64(len(ds)))
	f.log.Info("reorg", "tip", tip, "ancestor", anc, "depth", tip-anc, "retracted", len(ds))
	return nil
}
