package chaos_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mtclient "github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// checkedStream is a pkg/client stream, which checks every event's link
// itself, read in the background.
type checkedStream struct {
	name string
	s    *mtclient.Stream
	mu   sync.Mutex
	evs  []mtclient.Event
	done chan struct{}
}

func startChecked(t *testing.T, name, base, key, sub string) *checkedStream {
	t.Helper()
	c, err := mtclient.New(base, mtclient.APIKey(key))
	require.NoError(t, err)
	cs := &checkedStream{name: name, done: make(chan struct{})}
	cs.s = c.Stream(context.Background(), sub, mtclient.StreamOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	go func() {
		defer close(cs.done)
		for {
			ev, err := cs.s.Next(context.Background())
			if err != nil {
				return
			}
			cs.mu.Lock()
			cs.evs = append(cs.evs, ev)
			cs.mu.Unlock()
		}
	}()
	t.Cleanup(cs.stop)
	return cs
}

func (cs *checkedStream) stop() { _ = cs.s.Close(); <-cs.done }

func (cs *checkedStream) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.evs)
}

// TestChaos_LinksAcrossKills SIGKILLs the ingest twice, mid-stream, and an
// edge once, while clients stream from both edges: raw clients that
// record everything, and pkg/client streams that check every event's link
// themselves. Every event received must name its predecessor exactly as
// the stored history has it, across the ingest's restarts (a block
// interrupted between its events and its checkpoint is redone), the
// edge's, the replays that follow and both edges; the history must be one
// chain from each subscription's first event; and no checking stream may
// have seen a break.
func TestChaos_LinksAcrossKills(t *testing.T) {
	t.Parallel()
	s := newScenario(t, chaos.Config{}, []string{chaos.SubTRX, chaos.SubStaking})
	h := s.h
	names := []string{chaos.SubTRX, chaos.SubStaking}
	for i := range 6 {
		s.client(fmt.Sprintf("raw-%02d", i), names[i%2], i%2)
	}
	var checked []*checkedStream
	for e := range h.Edges {
		checked = append(checked, startChecked(t, fmt.Sprintf("checked-edge-%d", e+1), h.Edges[e].URL, s.key, s.subs[chaos.SubTRX].ID))
	}
	s.flow(t, "start", 5, 60*time.Second)

	for i := range 2 {
		require.NoError(t, h.KillIngest())
		require.NoError(t, h.StartIngest())
		s.flow(t, fmt.Sprintf("after ingest kill %d", i+1), 5, 90*time.Second)
	}
	require.NoError(t, h.KillEdge(0))
	require.NoError(t, h.StartEdge(0))
	s.flow(t, "after the edge kill", 5, 90*time.Second)
	for _, cs := range checked {
		require.Positive(t, cs.count(), "%s received nothing", cs.name)
	}

	// The raw clients' events and the histories: links included.
	checkAll(t, s.h, s.f, s.rcv, s.hooks)
	for _, cs := range checked {
		cs.stop()
	}
	for _, cs := range checked {
		require.Equal(t, mtclient.ChainStats{}, cs.s.ChainStats(), "%s saw a break", cs.name)
		cs.mu.Lock()
		for i := 1; i < len(cs.evs); i++ {
			require.Equal(t, cs.evs[i-1].Cursor, cs.evs[i].PrevCursor, "%s: the link of %s", cs.name, cs.evs[i].Cursor)
		}
		cs.mu.Unlock()
	}
}
