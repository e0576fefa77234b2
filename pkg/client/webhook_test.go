package client_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
)

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test"
	now := time.Unix(1_735_787_045, 0)
	body := []byte(`{"type":"event","id":"x"}`)
	good := client.SignWebhook(secret, now, body)
	other := client.SignWebhook("whsec_old", now, body)
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", secret, good, body, 0, now, nil},
		{"valid with spaces", secret, "t=" + ts + ", v1=" + good[len("t="+ts+",v1="):], body, 0, now, nil},
		{"tampered body", secret, good, []byte(`{"type":"event","id":"y"}`), 0, now, client.ErrWebhookSignature},
		{"wrong secret", "whsec_wrong", good, body, 0, now, client.ErrWebhookSignature},
		{"old timestamp", secret, good, body, 0, now.Add(6 * time.Minute), client.ErrWebhookTimestamp},
		{"future timestamp", secret, good, body, time.Minute, now.Add(-2 * time.Minute), client.ErrWebhookTimestamp},
		{"old but check disabled", secret, good, body, -1, now.Add(time.Hour), nil},
		{"within a custom tolerance", secret, good, body, time.Hour, now.Add(59 * time.Minute), nil},
		{"multiple v1, second matches", secret, other + ",v1=" + good[len("t="+ts+",v1="):], body, 0, now, nil},
		{"multiple v1, none matches", "whsec_wrong", other + ",v1=" + good[len("t="+ts+",v1="):], body, 0, now, client.ErrWebhookSignature},
		{"malformed v1 skipped", secret, "t=" + ts + ",v1=zz," + good[len("t="+ts+","):], body, 0, now, nil},
		{"unknown scheme ignored", secret, good + ",v0=abc", body, 0, now, nil},
		{"timestamp changed", secret, "t=" + strconv.FormatInt(now.Unix()+1, 10) + good[len("t="+ts):], body, 0, now, client.ErrWebhookSignature},
		{"empty header", secret, "", body, 0, now, client.ErrWebhookHeader},
		{"no timestamp", secret, good[len("t="+ts+","):], body, 0, now, client.ErrWebhookHeader},
		{"no signature", secret, "t=" + ts, body, 0, now, client.ErrWebhookHeader},
		{"bad timestamp", secret, "t=yesterday," + good[len("t="+ts+","):], body, 0, now, client.ErrWebhookHeader},
		{"two timestamps", secret, "t=1," + good, body, 0, now, client.ErrWebhookHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := client.VerifyWebhook(tc.secret, tc.header, tc.body, tc.tolerance, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
	require.Error(t, client.VerifyWebhook("", good, body, 0, now), "an empty secret verifies nothing")
}
