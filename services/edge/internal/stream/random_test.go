package stream

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
)

// TestHub_RandomInterleavingsSockets is the fake-transport round with real
// sockets, fewer rounds: connect / disconnect / delete / publish / shutdown
// in random order; every socket ends with a documented code and the hub
// ends empty (goleak in TestMain checks the goroutines).
func TestHub_RandomInterleavingsSockets(t *testing.T) {
	t.Parallel()
	rounds := 15
	if testing.Short() {
		rounds = 3
	}
	e := newEnv(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for r := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		s := startHub(t, e, Config{QueueMaxMessages: 32})
		subs := []*publisher{{env: e, sub: randomID("sub_")}, {env: e, sub: randomID("sub_")}}
		var clients []*client
		codes := make(chan int, 64)
		var wg sync.WaitGroup
		shut := false
		for range 10 + rng.IntN(15) {
			switch op := rng.IntN(10); {
			case op < 4 && len(clients) < 40:
				c := s.dial(t, subs[rng.IntN(2)].sub, "k", "")
				clients = append(clients, c)
				// A slow reader starts reading late.
				var delay time.Duration
				if rng.IntN(5) == 0 {
					delay = time.Duration(rng.IntN(50)) * time.Millisecond
				}
				wg.Go(func() {
					time.Sleep(delay)
					codes <- c.closeCode(20 * time.Second)
				})
			case op < 5 && len(clients) > 0:
				_ = clients[rng.IntN(len(clients))].ws.Close()
			case op < 8:
				subs[rng.IntN(2)].publish(t, 1+rng.IntN(40))
			case op < 9:
				e.control(t, bus.SubscriptionsSubject, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: subs[rng.IntN(2)].sub, Version: 9})
			default:
				if !shut {
					shut = true
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					require.NoError(t, s.hub.Shutdown(ctx))
					cancel()
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, s.hub.Shutdown(ctx))
		cancel()
		wg.Wait()
		close(codes)
		for code := range codes {
			// -1: the test closed the socket itself; 1006 is what a client
			// sees when its own Close raced with the server's frame.
			require.Contains(t, []int{-1, 1006, 1000, 4404, 4008, 1012}, code, "round %d", r)
		}
		require.Zero(t, s.hub.count())
	}
}
