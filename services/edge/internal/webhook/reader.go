package webhook

import (
	"context"
)

// queueReader serves the lanes' reads of their pending deliveries with as
// few queries as it can: every lane waiting when a query starts gets its
// deliveries from that one query. On FerretDB any query of the queue
// reads all of it, so lanes reading one by one would make the cost of a
// read grow with the number of lanes.
type queueReader struct {
	store mongoStore
	reqs  chan readReq
}

type readReq struct {
	subID string
	reply chan readReply
}

type readReply struct {
	docs []Delivery
	err  error
}

func newQueueReader(s mongoStore) *queueReader {
	return &queueReader{store: s, reqs: make(chan readReq, 64)}
}

// pending returns up to laneBatch of a subscription's pending deliveries
// in cursor order, read by a query started after the call: whatever the
// caller wrote before is seen.
func (r *queueReader) pending(ctx context.Context, subID string) ([]Delivery, error) {
	req := readReq{subID: subID, reply: make(chan readReply, 1)}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case rep := <-req.reply:
		return rep.docs, rep.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run answers reads until ctx is done.
func (r *queueReader) run(ctx context.Context) {
	waiting := map[string][]chan readReply{}
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-r.reqs:
			waiting[req.subID] = append(waiting[req.subID], req.reply)
		}
	more:
		for {
			select {
			case req := <-r.reqs:
				waiting[req.subID] = append(waiting[req.subID], req.reply)
			default:
				break more
			}
		}
		subs := make([]string, 0, len(waiting))
		for s := range waiting {
			subs = append(subs, s)
		}
		got, err := r.store.pending(ctx, subs, laneBatch)
		for s, replies := range waiting {
			for _, c := range replies {
				c <- readReply{docs: got[s], err: err}
			}
			delete(waiting, s)
		}
	}
}
