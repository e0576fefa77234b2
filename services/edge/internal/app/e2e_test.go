package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

const testAdminKey = "admin-key-for-tests-only"

type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func (c client) call(method, path, key, body string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, r)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(c.t, json.Unmarshal(b, &m), string(b))
	}
	return resp.StatusCode, m
}

func startApp(t *testing.T) (client, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg, err := load(t, append(deps(t), "--http.addr=127.0.0.1:0", "--admin-key="+testAdminKey), nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return client{t: t, base: "http://" + a.Addr().String(), hc: hc}, cancel, done
}

// dial opens a stream and reads its hello.
func dial(t *testing.T, c client, subID, key string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(c.base, "http") + "/v1/subscriptions/" + subID + "/stream?token=" + key
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	require.Contains(t, string(msg), `"type":"hello"`)
	return ws
}

// closeCode reads until the server closes the stream and returns the
// close code.
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	defer ws.Close()
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce, "want a close frame")
		return ce.Code
	}
}

func TestApp_streamsEndToEnd(t *testing.T) {
	t.Parallel()
	c, cancel, done := startApp(t)

	status, k := c.call("POST", "/v1/keys", testAdminKey, `{"tenant":"acme"}`)
	require.Equal(t, http.StatusCreated, status)
	key := k["key"].(string)
	status, s1 := c.call("POST", "/v1/subscriptions", key, `{"kinds":["trx_transfer"]}`)
	require.Equal(t, http.StatusCreated, status)
	status, s2 := c.call("POST", "/v1/subscriptions", key, `{"kinds":["trc20_transfer"]}`)
	require.Equal(t, http.StatusCreated, status)

	// Delete closes the subscription's streams with 4404.
	deleted := dial(t, c, s1["id"].(string), key)
	status, _ = c.call("DELETE", "/v1/subscriptions/"+s1["id"].(string), key, "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, 4404, closeCode(t, deleted))

	// Shutdown closes the others with 1012 and Run returns cleanly.
	live := dial(t, c, s2["id"].(string), key)
	cancel()
	require.Equal(t, websocket.CloseServiceRestart, closeCode(t, live))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestApp_revocationsDuringANATSOutageCloseStreamsOnReconnect(t *testing.T) {
	t.Parallel()
	n := testenv.RunNATS(t)
	m := testenv.RunMongo(t)
	link := testenv.RunProxy(t, strings.TrimPrefix(n.URL(), "nats://"))
	cfg, err := load(t, []string{"--nats.url=nats://" + link.Addr(), "--mongo.uri=" + m.URI(), "--shutdown-timeout=5s",
		"--http.addr=127.0.0.1:0", "--admin-key=" + testAdminKey, "--stream.broker-grace=1m"}, nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	c := client{t: t, base: "http://" + a.Addr().String(), hc: hc}

	newKey := func() (id, key string) {
		status, k := c.call("POST", "/v1/keys", testAdminKey, `{"tenant":"acme"}`)
		require.Equal(t, http.StatusCreated, status)
		return k["id"].(string), k["key"].(string)
	}
	revokedID, revokedKey := newKey()
	_, key := newKey()
	status, s1 := c.call("POST", "/v1/subscriptions", key, `{"kinds":["trx_transfer"]}`)
	require.Equal(t, http.StatusCreated, status)
	status, s2 := c.call("POST", "/v1/subscriptions", key, `{"kinds":["trc20_transfer"]}`)
	require.Equal(t, http.StatusCreated, status)
	byRevoked := dial(t, c, s1["id"].(string), revokedKey)
	onDeleted := dial(t, c, s2["id"].(string), key)
	bystander := dial(t, c, s1["id"].(string), key)

	// While this edge is cut off from NATS, another edge revokes the key
	// and deletes the subscription: their messages never reach this one.
	link.Cut()
	db := mongoDB(t, m.URI())
	_, err = db.Collection(store.Keys).UpdateOne(t.Context(), bson.M{"_id": revokedID}, bson.M{"$set": bson.M{"revoked_at": time.Now()}})
	require.NoError(t, err)
	_, err = db.Collection(store.Subscriptions).UpdateOne(t.Context(), bson.M{"_id": s2["id"]}, bson.M{"$set": bson.M{"status": subscription.StatusDeleted}})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // let the client see the cut
	link.Restore()

	require.Equal(t, websocket.ClosePolicyViolation, closeCode(t, byRevoked), "the revoked key's stream closes once NATS is back")
	require.Equal(t, 4404, closeCode(t, onDeleted), "the deleted subscription's stream too")
	require.NoError(t, bystander.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
	_, _, err = bystander.ReadMessage()
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the other stream stays open: %v", err)
	_ = bystander.Close()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// mongoDB connects to the edge's database of a test.
func mongoDB(t *testing.T, uri string) *mongo.Database {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	name, err := store.DatabaseName(uri)
	require.NoError(t, err)
	return mc.Database(name)
}
