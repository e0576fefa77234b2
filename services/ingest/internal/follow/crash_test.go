package follow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/services/ingest/internal/follow"
)

// crashingPublisher crashes the follower, as a kill would, at its at-th
// Publish: it cancels the follower's context and fails. By then the
// step's events of that publish are stored but the checkpoint has not
// moved, so the crash interrupts a commit for certain; with after, the
// bus has the events too, so the redo publishes them a second time.
type crashingPublisher struct {
	follow.Publisher
	at    int
	after bool
	crash context.CancelFunc

	calls   int // the follower's goroutine only
	crashed atomic.Bool
}

func (p *crashingPublisher) Publish(ctx context.Context, msgs []follow.Msg) error {
	p.calls++
	if p.calls != p.at {
		return p.Publisher.Publish(ctx, msgs)
	}
	if p.after {
		if err := p.Publisher.Publish(ctx, msgs); err != nil {
			return err
		}
	}
	p.crashed.Store(true)
	p.crash()
	<-ctx.Done()
	return errors.Join(errors.New("crashed"), ctx.Err())
}

// uncommitted returns how many event documents belong to steps above the
// committed checkpoint: stored by a step whose commit was interrupted.
func uncommitted(t testing.TB, db *mongo.Database) int64 {
	t.Helper()
	var ck struct {
		Step int64 `bson:"step"`
	}
	err := db.Collection(store.Checkpoints).FindOne(t.Context(), bson.M{"_id": follow.CheckpointID}).Decode(&ck)
	if errors.Is(err, mongo.ErrNoDocuments) {
		ck.Step = -1
	} else {
		require.NoError(t, err)
	}
	above := cursor.Cursor{Step: uint64(ck.Step + 1)}.String()
	n, err := db.Collection(store.Events).CountDocuments(t.Context(), bson.M{"cursor": bson.M{"$gte": above}})
	require.NoError(t, err)
	return n
}
