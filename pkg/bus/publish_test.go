package bus_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }

func TestPublishSubscriptionChange(t *testing.T) {
	t.Parallel()
	n := testenv.RunNATS(t)
	sub, err := nats.Connect(n.URL())
	require.NoError(t, err)
	defer sub.Close()
	got := make(chan *nats.Msg, 1)
	s, err := sub.ChanSubscribe(bus.SubscriptionsSubject, got)
	require.NoError(t, err)
	defer func() { _ = s.Unsubscribe() }()
	require.NoError(t, sub.Flush())

	pub, err := nats.Connect(n.URL())
	require.NoError(t, err)
	ch := bus.SubscriptionChange{Op: bus.OpAddresses, SubscriptionID: "sub_1", Tenant: "t", Version: 7, Added: []string{"TA"}}
	require.NoError(t, bus.PublishSubscriptionChange(t.Context(), pub, ch))
	select {
	case m := <-got:
		var back bus.SubscriptionChange
		require.NoError(t, json.Unmarshal(m.Data, &back))
		require.Equal(t, ch, back)
	case <-time.After(5 * time.Second):
		t.Fatal("the change never arrived")
	}

	pub.Close()
	require.ErrorIs(t, bus.PublishSubscriptionChange(t.Context(), pub, ch), nats.ErrConnectionClosed)
}

// TestPublishSubscriptionChange_serverGone checks that a change the
// server never took is an error, though the publish alone succeeds: the
// client buffers it while it reconnects.
func TestPublishSubscriptionChange_serverGone(t *testing.T) {
	t.Parallel()
	n := testenv.RunNATS(t)
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	require.NoError(t, err)
	defer nc.Close()
	n.Shutdown()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, bus.PublishSubscriptionChange(ctx, nc, bus.SubscriptionChange{Op: bus.OpDelete, SubscriptionID: "sub_1"}))
}
