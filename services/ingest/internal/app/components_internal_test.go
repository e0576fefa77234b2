package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/tronsim/sim"
	"github.com/mongotron/mongotron/services/tronsim/simtest"
)

func TestApp_readyz_failingComponentIs503UntilItRecovers(t *testing.T) {
	t.Parallel()
	m := testenv.RunMongo(t)
	n := testenv.RunNATS(t)
	_, url := simtest.Start(t, sim.Config{Seed: 1, Instant: true, InitialBlocks: 5, TxsPerBlock: 5})
	var cfg Config
	require.NoError(t, service.LoadConfig(Name, &cfg, []string{"--mongo.uri=" + m.URI(), "--nats.url=" + n.URL(),
		"--tron.node-url=" + url, "--poll-interval=20ms", "--http.addr=127.0.0.1:0"}, nil))
	a, err := New(cfg, logging.Discard())
	require.NoError(t, err)
	a.parts.MinBackoff, a.parts.StableAfter = 10*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	ready := func() (int, map[string]string) {
		resp, err := client.Get("http://" + a.Addr().String() + "/readyz")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var r struct {
			Checks map[string]string `json:"checks"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r.Checks
	}
	require.Eventually(t, func() bool { code, _ := ready(); return code == http.StatusOK }, 20*time.Second, 20*time.Millisecond)

	// A component that fails until it is let go, as the subscriptions
	// sync does while it cannot subscribe.
	failing := make(chan struct{})
	a.parts.Go(ctx, "probe", func(ctx context.Context) error {
		select {
		case <-failing:
			<-ctx.Done()
			return nil
		default:
			return errors.New("cannot subscribe")
		}
	})
	require.Eventually(t, func() bool {
		code, checks := ready()
		return code == http.StatusServiceUnavailable && strings.Contains(checks["components"], "probe: cannot subscribe")
	}, 10*time.Second, 10*time.Millisecond, "readyz says which component fails and why")
	close(failing)
	require.Eventually(t, func() bool { code, checks := ready(); return code == http.StatusOK && checks["components"] == "" },
		10*time.Second, 10*time.Millisecond, "and is ready again once it runs")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
