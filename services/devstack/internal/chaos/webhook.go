package chaos

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Receiver is a webhook endpoint on 127.0.0.1 that accepts every
// delivery (204) and records the event ids it was sent, per subscription,
// in arrival order, repeats included: webhooks are delivered at least
// once, and the check counts repeats apart.
type Receiver struct {
	srv *httptest.Server

	mu    sync.Mutex
	got   map[string][]string        // subscription id → event ids in arrival order
	seen  map[string]map[string]bool // subscription id → ids received
	bad   int                        // deliveries refused as malformed
	posts int
}

// StartReceiver starts a receiver; Close stops it.
func StartReceiver() *Receiver {
	r := &Receiver{got: map[string][]string{}, seen: map[string]map[string]bool{}}
	r.srv = httptest.NewServer(r)
	return r
}

// URL is the address to give a subscription's webhook.
func (r *Receiver) URL() string { return r.srv.URL + "/hook" }

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// ServeHTTP records one delivery. A body that is not the event its
// Mongotron-Event-Id header names is refused with 400, and counted.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev Event
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil || ev.ID == "" || ev.ID != req.Header.Get("Mongotron-Event-Id") {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, "not the event its header names", http.StatusBadRequest)
		return
	}
	sub := req.Header.Get("Mongotron-Subscription-Id")
	if sub == "" {
		sub = ev.SubscriptionID
	}
	r.mu.Lock()
	r.posts++
	r.got[sub] = append(r.got[sub], ev.ID)
	if r.seen[sub] == nil {
		r.seen[sub] = map[string]bool{}
	}
	r.seen[sub][ev.ID] = true
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// IDs returns the event ids delivered for sub, in arrival order, repeats
// included.
func (r *Receiver) IDs(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got[sub]...)
}

// Has reports whether the event id was delivered for sub.
func (r *Receiver) Has(sub, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[sub][id]
}

// Stats returns the number of deliveries accepted and refused.
func (r *Receiver) Stats() (accepted, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts, r.bad
}
