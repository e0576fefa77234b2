package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mongotron/mongotron/pkg/client"
)

// Create a subscription for USDT deposits to two addresses, then add a
// large address set in batches.
func Example() {
	ctx := context.Background()
	c, err := client.New("https://mongotron.example.com", client.APIKey(os.Getenv("MONGOTRON_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	sub, err := c.CreateSubscription(ctx, client.CreateRequest{
		Label:     "hot wallet deposits",
		Addresses: []string{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
		Kinds:     []string{"trc20_transfer"},
		Direction: "in",
	})
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr) && errors.Is(err, client.ErrInvalid):
		log.Fatalf("refused (%s): %s", apiErr.Code, apiErr.Message)
	case err != nil:
		log.Fatal(err)
	}
	var more []string // up to 100,000 addresses: sent 10,000 per call
	if len(more) > 0 {
		if _, err := c.AddAddresses(ctx, sub.ID, more); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(sub.ID)
}

// Follow a subscription's events, resuming after the last processed
// cursor. The stream reconnects by itself (edge restarts, network
// failures, 1012, 4008) and never delivers an event twice; it ends for
// good when the subscription is deleted.
func ExampleClient_Stream() {
	ctx := context.Background()
	c, err := client.New("https://mongotron.example.com", client.APIKey(os.Getenv("MONGOTRON_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	lastCursor := "" // load it from your database to resume
	s := c.Stream(ctx, "sub_0123", client.StreamOptions{
		After: lastCursor,
		StateHandler: func(st client.State) {
			if st.Status == client.StatusReconnecting {
				log.Printf("stream: %v; reconnecting in %s", st.Err, st.Delay)
			}
		},
	})
	defer s.Close()
	for {
		ev, err := s.Next(ctx)
		if errors.Is(err, client.ErrSubscriptionDeleted) {
			log.Printf("subscription deleted; last event processed: %q", lastCursor)
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Kind, ev.Amount, ev.Removed)
		lastCursor = ev.Cursor // store it with what the event changed
	}
}

// Page through a subscription's history with the iterator.
func ExampleClient_AllHistory() {
	ctx := context.Background()
	c, err := client.New("https://mongotron.example.com", client.APIKey(os.Getenv("MONGOTRON_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range c.AllHistory(ctx, "sub_0123", client.HistoryOptions{Kinds: []string{"trx_transfer"}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Cursor, ev.TxID, ev.Amount)
	}
}

// Verify a webhook in an HTTP handler before trusting its body.
func ExampleVerifyWebhook() {
	secret := "whsec_example"
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
		w.WriteHeader(http.StatusNoContent)
	})
	_ = handler

	// What the server sends, checked as the handler would:
	body := []byte(`{"type":"event"}`)
	sent := time.Unix(1_735_787_045, 0)
	header := client.SignWebhook(secret, sent, body)
	fmt.Println(client.VerifyWebhook(secret, header, body, time.Minute, sent.Add(30*time.Second)))
	fmt.Println(errors.Is(client.VerifyWebhook(secret, header, []byte(`{"type":"evil"}`), time.Minute, sent), client.ErrWebhookSignature))
	// Output:
	// <nil>
	// true
}
