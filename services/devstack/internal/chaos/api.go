package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Event is what the harness reads of an event, from a stream frame, a
// webhook body or a history page.
type Event struct {
	Type   string `json:"type"`
	Cursor string `json:"cursor"`
	// PrevCursor is the event's link to its subscription's previous
	// event; nil when the JSON has none.
	PrevCursor     *string `json:"prev_cursor"`
	ID             string  `json:"id"`
	SubscriptionID string  `json:"subscription_id"`
	Kind           string  `json:"kind"`
	Removed        bool    `json:"removed"`
	Block          struct {
		Number int64 `json:"number"`
	} `json:"block"`
}

// Sub is a subscription and the API key that owns it.
type Sub struct {
	ID  string
	Key string
	// Label names it in reports.
	Label string
}

// APIError is an error answer of the REST API.
type APIError struct {
	Status int
	Body   []byte
}

func (e *APIError) Error() string {
	return fmt.Sprintf("chaos: HTTP %d: %s", e.Status, bytes.TrimSpace(e.Body))
}

// Do sends a REST request to u with key as the bearer token (none when
// empty) and in, if not nil, as the JSON body. It returns the status and
// the body; with out not nil, a 2xx body is decoded into it. Only a
// transport or decoding failure is an error.
func (h *Harness) Do(ctx context.Context, method, u, key string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, fmt.Errorf("chaos: decoding %s %s: %w", method, u, err)
		}
	}
	return resp.StatusCode, b, nil
}

// retryable runs call against each edge in turn until one answers
// without a transport error or a 5xx, or ctx ends. Faults make single
// calls fail; what the harness reads must not.
func (h *Harness) retryable(ctx context.Context, what string, call func(edgeURL string) (int, []byte, error)) (int, []byte, error) {
	var last error
	for attempt := 0; ; attempt++ {
		e := h.Edges[attempt%len(h.Edges)]
		status, body, err := call(e.URL)
		switch {
		case err == nil && status < 500:
			return status, body, nil
		case err != nil:
			last = err
		default:
			last = &APIError{Status: status, Body: body}
		}
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("chaos: %s: %w (last: %w)", what, ctx.Err(), last)
		case <-time.After(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond):
		}
	}
}

// CreateKey creates an API key for tenant with the admin key.
func (h *Harness) CreateKey(ctx context.Context, tenant string) (string, error) {
	var out struct {
		Key string `json:"key"`
	}
	status, body, err := h.retryable(ctx, "create key", func(u string) (int, []byte, error) {
		return h.Do(ctx, http.MethodPost, u+"/v1/keys", h.AdminKey, map[string]any{"tenant": tenant}, &out)
	})
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated || out.Key == "" {
		return "", &APIError{Status: status, Body: body}
	}
	return out.Key, nil
}

// CreateSubscription creates a subscription with body (docs/api.md's create
// body) under key.
func (h *Harness) CreateSubscription(ctx context.Context, key, label string, body map[string]any) (Sub, error) {
	var out struct {
		ID string `json:"id"`
	}
	b := map[string]any{"label": label}
	for k, v := range body {
		b[k] = v
	}
	status, rb, err := h.retryable(ctx, "create subscription", func(u string) (int, []byte, error) {
		return h.Do(ctx, http.MethodPost, u+"/v1/subscriptions", key, b, &out)
	})
	if err != nil {
		return Sub{}, err
	}
	if status != http.StatusCreated || out.ID == "" {
		return Sub{}, &APIError{Status: status, Body: rb}
	}
	h.Logs.Logf("chaos", "subscription %s (%s) created", out.ID, label)
	return Sub{ID: out.ID, Key: key, Label: label}, nil
}

// historyPage is the size of the history pages the harness reads.
const historyPage = 1000

// History reads sub's stored events after the cursor after ("" for the
// first), in cursor order, page by page, until a page reaches the cursor
// until or the end of the history (when until is "", the end). It
// retries a page on another edge when one fails.
func (h *Harness) History(ctx context.Context, sub Sub, after, until string) ([]Event, error) {
	var all []Event
	for {
		var page struct {
			Events []Event `json:"events"`
			Next   *string `json:"next"`
		}
		q := url.Values{"limit": {fmt.Sprint(historyPage)}, "after": {after}}
		status, body, err := h.retryable(ctx, "history of "+sub.ID, func(u string) (int, []byte, error) {
			return h.Do(ctx, http.MethodGet, u+"/v1/subscriptions/"+sub.ID+"/events?"+q.Encode(), sub.Key, nil, &page)
		})
		if err != nil {
			return all, err
		}
		if status != http.StatusOK {
			return all, &APIError{Status: status, Body: body}
		}
		all = append(all, page.Events...)
		if page.Next == nil || len(page.Events) == 0 {
			return all, nil
		}
		if until != "" && page.Events[len(page.Events)-1].Cursor >= until {
			return all, nil
		}
		after = *page.Next
	}
}

// Newest returns sub's newest stored event, reading the history after
// from (a cursor known to be stored, or ""); ok is false when there is
// none after from.
func (h *Harness) Newest(ctx context.Context, sub Sub, from string) (ev Event, ok bool, err error) {
	evs, err := h.History(ctx, sub, from, "")
	if err != nil || len(evs) == 0 {
		return Event{}, false, err
	}
	return evs[len(evs)-1], true, nil
}
