package app

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/mongotron/mongotron/services/ingest/internal/follow"
)

// errStandby is what the leader's parts answer between terms.
var errStandby = fmt.Errorf("ingest: on standby: %w", follow.ErrFenced)

// term is the current term's follower and lease.
type term struct {
	f     *follow.Follower
	fence *follow.Term
}

// leader is the current term as the process-wide parts see it: the
// backfill runner and /readyz outlive any one term, while each term has
// its own follower and fencing token. It implements backfill.Live and
// [follow.Fence] by delegating to the current term, and refuses with
// [follow.ErrFenced] between terms.
type leader struct {
	cur atomic.Pointer[term]
}

func (l *leader) set(t *term) { l.cur.Store(t) }

// follower returns the current term's follower, nil on standby.
func (l *leader) follower() *follow.Follower {
	if t := l.cur.Load(); t != nil {
		return t.f
	}
	return nil
}

// Committed implements backfill.Live; 0 on standby.
func (l *leader) Committed() int64 {
	if f := l.follower(); f != nil {
		return f.Committed()
	}
	return 0
}

// SolidDelivered implements backfill.Live; 0 on standby.
func (l *leader) SolidDelivered() int64 {
	if f := l.follower(); f != nil {
		return f.SolidDelivered()
	}
	return 0
}

// Solidified implements backfill.Live; 0 on standby.
func (l *leader) Solidified() int64 {
	if f := l.follower(); f != nil {
		return f.Solidified()
	}
	return 0
}

// AtBoundary implements backfill.Live.
func (l *leader) AtBoundary(ctx context.Context, fn func(context.Context, follow.Boundary) error) error {
	f := l.follower()
	if f == nil {
		return errStandby
	}
	return f.AtBoundary(ctx, fn)
}

// Token implements [follow.Fence]; 0 on standby, which no checkpoint
// written under a lease accepts.
func (l *leader) Token() int64 {
	if t := l.cur.Load(); t != nil {
		return t.fence.Token()
	}
	return 0
}

// Check implements [follow.Fence].
func (l *leader) Check(ctx context.Context) error {
	t := l.cur.Load()
	if t == nil {
		return errStandby
	}
	if err := t.fence.Check(ctx); err != nil {
		return err
	}
	return nil
}

var _ follow.Fence = (*leader)(nil)
