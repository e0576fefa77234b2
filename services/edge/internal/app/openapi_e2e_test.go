package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/bus"
	mtclient "github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/openapitest"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

// openAPIDoc is docs/openapi.yaml, seen from this package's directory,
// loaded once for the package's tests.
var openAPIDoc = sync.OnceValues(func() (*openapitest.Doc, error) {
	return openapitest.Load("../../../../docs/openapi.yaml")
})

// checkedTransport is the transport of the proxy in front of the real
// edge: every answer the edge gives through it is checked against
// docs/openapi.yaml. Requests are not: the tests send bad ones on purpose.
func checkedTransport(tb testing.TB) http.RoundTripper {
	tb.Helper()
	doc, err := openAPIDoc()
	require.NoError(tb, err)
	return doc.Transport(tb, http.DefaultTransport, openapitest.Options{})
}

// TestApp_streamRouteAgainstOpenAPI checks the stream route's HTTP answers
// of the whole edge, with its real stream hub, against docs/openapi.yaml:
// the 101 of an upgrade, and the WebSocket library's own 400 to a request
// that passed every check but is no handshake. The proxy's transport does
// the checking; the statuses are asserted here so that the cases cannot
// pass by not happening.
func TestApp_streamRouteAgainstOpenAPI(t *testing.T) {
	t.Parallel()
	e := newClientEnv(t)
	k, err := e.client(testAdminKey).CreateKey(t.Context(), "acme")
	require.NoError(t, err)
	c := e.client(k.Key)
	sub, err := c.CreateSubscription(t.Context(), mtclient.CreateRequest{Kinds: []string{"trx_transfer"}})
	require.NoError(t, err)
	path := "/v1/subscriptions/" + sub.ID + "/stream"

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.proxy.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+k.Key)
	resp, err := e.proxy.Client().Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	require.Contains(t, string(body), `"code":"websocket_required"`)

	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(e.proxy.URL, "http")+path,
		http.Header{"Authorization": {"Bearer " + k.Key}})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, hello, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Contains(t, string(hello), `"type":"hello"`)
	require.NoError(t, ws.Close())
}

// TestApp_webhookAgainstOpenAPI checks the POST a real edge makes to a
// webhook receiver against the `webhooks.event` entry of
// docs/openapi.yaml: its headers and its body, an Event.
func TestApp_webhookAgainstOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openAPIDoc()
	require.NoError(t, err)
	got := make(chan error, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = doc.CheckWebhook("event", r, body)
		}
		select {
		case got <- err:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	n := testenv.RunNATS(t)
	js := eventsStream(t, n.URL())
	cfg, err := load(t, []string{
		"--nats.url=" + n.URL(), "--mongo.uri=" + testenv.RunMongo(t).URI(), "--shutdown-timeout=5s",
		"--http.addr=127.0.0.1:0", "--admin-key=" + testAdminKey, "--api.rate-limit=-1",
		"--webhook.allow-http-hosts=127.0.0.1", "--webhook.allow-private=127.0.0.1/32",
	}, nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	hc := &http.Client{Transport: checkedTransport(t)}
	t.Cleanup(hc.CloseIdleConnections)
	base := "http://" + a.Addr().String()
	admin, err := mtclient.New(base, mtclient.APIKey(testAdminKey), mtclient.HTTPClient(hc))
	require.NoError(t, err)
	k, err := admin.CreateKey(t.Context(), "acme")
	require.NoError(t, err)
	c, err := mtclient.New(base, mtclient.APIKey(k.Key), mtclient.HTTPClient(hc))
	require.NoError(t, err)
	sub, err := c.CreateSubscription(t.Context(), mtclient.CreateRequest{
		Kinds: []string{"trx_transfer"}, Webhook: &mtclient.Webhook{URL: receiver.URL + "/hook"},
	})
	require.NoError(t, err)

	// One event, as the ingest publishes it.
	from, err := tron.ParseAddress(addrA)
	require.NoError(t, err)
	to, err := tron.ParseAddress(addrB)
	require.NoError(t, err)
	ev := event.Event{
		Type: event.TypeEvent, Cursor: cursor.Cursor{Step: 7}.String(), ID: fmt.Sprintf("%064x:0", 7), SubscriptionID: sub.ID,
		Kind: event.KindTRXTransfer, Network: tron.NetworkMainnet,
		Block: event.BlockRef{Number: 7, ID: fmt.Sprintf("%064x", 7), Timestamp: time.Unix(1_735_787_045, 0).UTC()},
		TxID:  fmt.Sprintf("%064x", 7), Success: true, Confirmations: 19, Watched: to, Direction: event.DirectionIn,
		From: from, To: to, Amount: tron.AmountFromInt64(1_000_000), Flags: []event.Flag{},
		Token: &event.Token{Symbol: "TRX", Verified: true},
	}
	body, err := json.Marshal(&ev)
	require.NoError(t, err)
	m := &nats.Msg{Subject: bus.EventsSubject(sub.ID), Data: body, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, sub.ID+":"+ev.Cursor)
	_, err = js.PublishMsg(t.Context(), m)
	require.NoError(t, err)

	select {
	case err := <-got:
		require.NoError(t, err, "the webhook POST does not follow docs/openapi.yaml")
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook POST arrived")
	}
}
