package stream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConn_failure pins the close code a failed start or replay gives its
// stream. A read that failed because the hub is closing gives the hub's
// code, even before the hub has reached the stream: closing cancels the
// topics' reads first, and a client told 1011 (internal error) at a
// restart would report a fault that was not one.
func TestConn_failure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		hubClose  *Disconnect // the hub is closing with this
		connClose *Disconnect // the stream was closed with this
		err       error
		want      Disconnect
	}{
		{name: "an unexpected error is internal", err: errors.New("boom"), want: DisconnectInternal},
		{name: "a Disconnect error is itself", err: fmt.Errorf("replay: %w", DisconnectUnmendable), want: DisconnectUnmendable},
		{name: "a read canceled by a hub shutdown", hubClose: &DisconnectServiceRestart, err: fmt.Errorf("store: head: %w", context.Canceled), want: DisconnectServiceRestart},
		{name: "a read canceled by a hub close", hubClose: &DisconnectGoingAway, err: context.Canceled, want: DisconnectGoingAway},
		{name: "the stream's own close wins", hubClose: &DisconnectServiceRestart, connClose: &DisconnectSlowConsumer, err: context.Canceled, want: DisconnectSlowConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := newHub(Config{}, newMemoryBroker(), newMemoryHistory())
			require.NoError(t, err)
			t.Cleanup(h.Close)
			c := newConn(h, nil, Request{SubscriptionID: "sub_a"})
			if tt.connClose != nil {
				c.stop(*tt.connClose)
			}
			if tt.hubClose != nil {
				// The stream is not registered: the hub closing has not
				// reached it, as in the moment after its reads are canceled.
				h.closeAll(*tt.hubClose)
			}
			require.Equal(t, tt.want, c.failure(tt.err))
		})
	}
}
