package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

func TestRelay_ForwardsEachMessageToEveryStreamOfItsSubscription(t *testing.T) {
	t.Parallel()
	ns := testenv.RunNATS(t)
	nc, err := nats.Connect(ns.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	r, err := New(Config{NATS: nc})
	require.NoError(t, err)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	// The REST calls edgebench makes of an edge.
	resp, err := http.Post(srv.URL+"/v1/subscriptions", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	_ = resp.Body.Close()

	dial := func(sub string) *websocket.Conn {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/subscriptions/"+sub+"/stream", nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		t.Cleanup(func() { _ = ws.Close() })
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, hello, err := ws.ReadMessage()
		require.NoError(t, err)
		require.Contains(t, string(hello), `"type":"hello"`)
		return ws
	}
	a1, a2, b := dial("sub_a"), dial("sub_a"), dial("sub_b")
	for _, m := range []string{`{"n":1}`, `{"n":2}`} {
		require.NoError(t, nc.Publish(bus.EventsSubject("sub_a"), []byte(m)))
	}
	require.NoError(t, nc.Publish(bus.EventsSubject("sub_b"), []byte(`{"n":3}`)))
	for _, c := range []struct {
		ws   *websocket.Conn
		want []string
	}{{a1, []string{`{"n":1}`, `{"n":2}`}}, {a2, []string{`{"n":1}`, `{"n":2}`}}, {b, []string{`{"n":3}`}}} {
		for _, want := range c.want {
			_, got, err := c.ws.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, want, string(got))
		}
	}
	resp, err = http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
