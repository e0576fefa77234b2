package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/openapitest"
)

// TestClient_followsOpenAPI calls every method of Client against an edge
// stand-in that holds each request to docs/openapi.yaml (route, method,
// parameters, key, body) and answers as the document says, every answer
// checked too. A method that calls a route the document lacks, or sends
// what it does not take, fails here; so does a new method nobody added to
// the table below.
func TestClient_followsOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load("../../docs/openapi.yaml")
	require.NoError(t, err)

	var (
		mu  sync.Mutex
		hit []string // documented routes called, as "METHOD /path"
	)
	upgrader := websocket.Upgrader{}
	edge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		route, err := doc.CheckRequest(r, body)
		if err != nil {
			// The wrapper reports the request; answer as the edge would.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no route"}}`)
			return
		}
		op := route.Method + " " + route.Path
		mu.Lock()
		hit = append(hit, op)
		mu.Unlock()
		if op == "GET /v1/subscriptions/{id}/stream" {
			ws, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","subscription_id":"sub_1","resumed":false,"heartbeat_s":15}`))
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4404, "subscription deleted"), time.Now().Add(time.Second))
			_ = ws.Close()
			return
		}
		a, ok := docAnswers[op]
		if !ok {
			t.Errorf("the stand-in has no answer for %s", op)
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		switch a.status {
		case http.StatusCreated:
			if op == "POST /v1/subscriptions" {
				w.Header().Set("Location", "/v1/subscriptions/sub_1")
			} else {
				w.Header().Set("Cache-Control", "no-store")
			}
		case http.StatusNoContent:
			w.WriteHeader(a.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	})
	srv := httptest.NewServer(doc.Handler(t, edge, openapitest.Options{Requests: true}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.APIKey("mt_"+strings.Repeat("k", 43)))
	require.NoError(t, err)

	one, label := 1, "x"
	calls := map[string]func(context.Context) error{
		"BaseURL":   nil, // no request
		"CreateKey": func(ctx context.Context) error { _, err := c.CreateKey(ctx, "acme"); return err },
		"RevokeKey": func(ctx context.Context) error { return c.RevokeKey(ctx, "key_1") },
		"AddAddresses": func(ctx context.Context) error {
			_, err := c.AddAddresses(ctx, "sub_1", []string{addrA})
			return err
		},
		"RemoveAddresses": func(ctx context.Context) error {
			_, err := c.RemoveAddresses(ctx, "sub_1", []string{addrA})
			return err
		},
		"ListAddresses": func(ctx context.Context) error {
			_, err := c.ListAddresses(ctx, "sub_1", client.ListOptions{Cursor: addrA, Limit: 10})
			return err
		},
		"AllAddresses": func(ctx context.Context) error { return drain(c.AllAddresses(ctx, "sub_1", 10)) },
		"CreateSubscription": func(ctx context.Context) error {
			yes := true
			_, err := c.CreateSubscription(ctx, client.CreateRequest{
				Label: "x", Addresses: []string{addrA}, Kinds: []string{"trx_transfer"}, Direction: "in", OnlySuccess: &yes,
				Confirmations: &one, Finality: "solidified", ExcludeFlags: []string{"zero_amount"}, OnlyVerified: true,
				Webhook: &client.Webhook{URL: "https://hooks.example/x"}, Metadata: map[string]any{"a": 1},
			})
			return err
		},
		"GetSubscription": func(ctx context.Context) error { _, err := c.GetSubscription(ctx, "sub_1"); return err },
		"ListSubscriptions": func(ctx context.Context) error {
			_, err := c.ListSubscriptions(ctx, client.ListOptions{Cursor: "sub_0", Limit: 10})
			return err
		},
		"AllSubscriptions": func(ctx context.Context) error { return drain(c.AllSubscriptions(ctx, 10)) },
		"UpdateSubscription": func(ctx context.Context) error {
			_, err := c.UpdateSubscription(ctx, "sub_1", client.UpdateRequest{Label: &label, Confirmations: &one})
			return err
		},
		"DeleteSubscription": func(ctx context.Context) error { return c.DeleteSubscription(ctx, "sub_1") },
		"History": func(ctx context.Context) error {
			_, err := c.History(ctx, "sub_1", client.HistoryOptions{After: "c0", Limit: 10, Kinds: []string{"trx_transfer", "trc20_transfer"}, Address: addrA, TxID: strings.Repeat("ab", 32)})
			return err
		},
		"AllHistory": func(ctx context.Context) error { return drain(c.AllHistory(ctx, "sub_1", client.HistoryOptions{})) },
		"FetchMissing": func(ctx context.Context) error {
			_, err := c.FetchMissing(ctx, &client.MissingEventsError{SubscriptionID: "sub_1", Before: "c2", Prev: "c1"})
			return err
		},
		"Stream": func(ctx context.Context) error {
			s := c.Stream(ctx, "sub_1", client.StreamOptions{After: "c0"})
			defer s.Close()
			if _, err := s.Next(ctx); !errors.Is(err, client.ErrSubscriptionDeleted) {
				return fmt.Errorf("want the stand-in's 4404, got %w", err)
			}
			return nil
		},
	}

	typ := reflect.TypeFor[*client.Client]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		call, listed := calls[name]
		require.True(t, listed, "Client.%s is not checked against docs/openapi.yaml: add it to the table", name)
		if call == nil {
			continue
		}
		mu.Lock()
		before := len(hit)
		mu.Unlock()
		require.NoError(t, call(t.Context()), name)
		mu.Lock()
		called := slices.Clone(hit[before:])
		mu.Unlock()
		require.NotEmpty(t, called, "Client.%s called no documented route", name)
	}
	require.Len(t, calls, typ.NumMethod(), "the table names a method Client no longer has")
}

func drain[T any](seq func(func(T, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

const addrA = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"

// docSub is a subscription as the edge returns it; %s takes the fields a
// list leaves out.
const docSub = `{"id":"sub_1","label":"x","contracts":[],"kinds":["trx_transfer"],"direction":"in","min_amount":null,"max_amount":null,` +
	`"only_success":true,"confirmations":1,"finality":"solidified","exclude_flags":["zero_amount"],"only_verified":true,"start_block":null,` +
	`"all":false,"webhook":{"url":"https://hooks.example/x"},"metadata":{"a":1},"status":"active","address_count":1,` +
	`"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z","webhook_disabled":null%s}`

var docEvent = fmt.Sprintf(`{"type":"event","cursor":"c1","prev_cursor":"","id":"%s:0","subscription_id":"sub_1","kind":"trx_transfer",`+
	`"network":"mainnet","block":{"number":1,"id":"b1","timestamp":"2025-01-02T03:04:05Z"},"tx_id":%q,"tx_index":0,"index":0,`+
	`"success":true,"confirmations":19,"removed":false,"watched":%q,"direction":"in","from":%q,"to":%q,"amount":"1",`+
	`"flags":[],"solidified":true}`, strings.Repeat("ab", 32), strings.Repeat("ab", 32), addrA, addrA, addrA)

type docAnswer struct {
	status int
	body   string
}

// docAnswers are the edge's success answers, by documented route.
var docAnswers = map[string]docAnswer{
	"POST /v1/keys":                           {201, `{"id":"key_1","tenant":"acme","key":"mt_` + strings.Repeat("k", 43) + `"}`},
	"DELETE /v1/keys/{id}":                    {204, ""},
	"POST /v1/subscriptions":                  {201, fmt.Sprintf(docSub, `,"addresses":["`+addrA+`"]`)},
	"GET /v1/subscriptions":                   {200, `{"subscriptions":[` + fmt.Sprintf(docSub, "") + `],"next":null}`},
	"GET /v1/subscriptions/{id}":              {200, fmt.Sprintf(docSub, `,"addresses":["`+addrA+`"]`)},
	"PATCH /v1/subscriptions/{id}":            {200, fmt.Sprintf(docSub, `,"addresses":["`+addrA+`"]`)},
	"DELETE /v1/subscriptions/{id}":           {204, ""},
	"POST /v1/subscriptions/{id}/addresses":   {200, `{"subscription_id":"sub_1","added":1,"address_count":1}`},
	"DELETE /v1/subscriptions/{id}/addresses": {200, `{"subscription_id":"sub_1","removed":1,"address_count":0}`},
	"GET /v1/subscriptions/{id}/addresses":    {200, `{"addresses":["` + addrA + `"],"next":null}`},
	"GET /v1/subscriptions/{id}/events":       {200, `{"events":[` + docEvent + `],"next":null}`},
}
