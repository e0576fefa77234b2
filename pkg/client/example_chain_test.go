package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/client"
)

// cursors is a client.ChainStore in memory; a real receiver keeps the
// last cursor in its database, in the same transaction as what processing
// an event changed.
type cursors struct {
	mu   sync.Mutex
	last map[string]string
}

func (c *cursors) LastCursor(_ context.Context, sub string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[sub], nil
}

func (c *cursors) processed(ev client.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[ev.SubscriptionID] = ev.Cursor
}

// A webhook receiver that knows it holds every event of its subscription:
// each event must name the last one it processed; when one does not, the
// events in between are fetched from history and processed first.
func ExampleVerifyChain() {
	c, err := client.New("https://mongotron.example.com", client.APIKey("mt_your_key"))
	if err != nil {
		panic(err)
	}
	secret := "whsec_example"
	store := &cursors{last: map[string]string{}}
	process := func(ev client.Event) {
		// Idempotent by event id (and removed: a retraction has the id
		// of the event it takes back).
		fmt.Println("processed", ev.Cursor)
		store.processed(ev)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := client.VerifyWebhook(secret, r.Header.Get(client.WebhookSignatureHeader), body, 0, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ev, err := client.ParseEvent(body)
		if err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		var gap *client.MissingEventsError
		switch err := client.VerifyChain(r.Context(), store, ev); {
		case errors.Is(err, client.ErrAlreadyProcessed):
			w.WriteHeader(http.StatusNoContent) // a redelivery
			return
		case errors.As(err, &gap):
			missing, err := c.FetchMissing(r.Context(), gap)
			for _, m := range missing {
				process(m)
			}
			if err != nil {
				// Not 2xx: the delivery is retried, and the gap
				// fetched again from where it stands.
				http.Error(w, "events missing", http.StatusServiceUnavailable)
				return
			}
		case err != nil:
			http.Error(w, "store", http.StatusServiceUnavailable)
			return
		}
		process(ev)
		w.WriteHeader(http.StatusNoContent)
	})
	_ = handler

	// What VerifyChain says of deliveries 1, 2, 2 again, then 5.
	for _, body := range []string{
		`{"type":"event","cursor":"00000000000000010000000000000000","prev_cursor":"","subscription_id":"sub_1"}`,
		`{"type":"event","cursor":"00000000000000020000000000000000","prev_cursor":"00000000000000010000000000000000","subscription_id":"sub_1"}`,
		`{"type":"event","cursor":"00000000000000020000000000000000","prev_cursor":"00000000000000010000000000000000","subscription_id":"sub_1"}`,
		`{"type":"event","cursor":"00000000000000050000000000000000","prev_cursor":"00000000000000040000000000000000","subscription_id":"sub_1"}`,
	} {
		ev, _ := client.ParseEvent([]byte(body))
		err := client.VerifyChain(context.Background(), store, ev)
		switch {
		case err == nil:
			process(ev)
		case errors.Is(err, client.ErrAlreadyProcessed):
			fmt.Println("already processed", ev.Cursor)
		default:
			fmt.Println(err)
		}
	}
	// Output:
	// processed 00000000000000010000000000000000
	// processed 00000000000000020000000000000000
	// already processed 00000000000000020000000000000000
	// client: subscription sub_1: events missing after cursor 00000000000000020000000000000000, before cursor 00000000000000050000000000000000 (which follows 00000000000000040000000000000000)
}
