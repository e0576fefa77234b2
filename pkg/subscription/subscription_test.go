package subscription_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/subscription"
)

func TestSubscription_DisabledWebhook(t *testing.T) {
	t.Parallel()
	why := &subscription.WebhookDisabled{URL: "https://h/x", At: time.Unix(1, 0), Reason: "the receiver answered 410 Gone", StatusCode: 410}
	tests := []struct {
		name string
		s    subscription.Subscription
		want *subscription.WebhookDisabled
	}{
		{"disabled at its URL", subscription.Subscription{Webhook: &subscription.Webhook{URL: "https://h/x"}, WebhookDisabled: why}, why},
		{"never disabled", subscription.Subscription{Webhook: &subscription.Webhook{URL: "https://h/x"}}, nil},
		{"moved to another URL since", subscription.Subscription{Webhook: &subscription.Webhook{URL: "https://h/y"}, WebhookDisabled: why}, nil},
		{"no webhook any more", subscription.Subscription{WebhookDisabled: why}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.s.DisabledWebhook())
		})
	}
}

// A PATCH that moves the webhook to another URL or removes it enables it
// again; any other PATCH leaves its disabling as it is.
func TestRequest_Apply_webhookDisabled(t *testing.T) {
	t.Parallel()
	cur := &subscription.Subscription{
		ID: "sub_x", Kinds: []string{"trx_transfer"}, Direction: "any", Confirmations: 19,
		Webhook:         &subscription.Webhook{URL: "https://h/x", Secret: "s"},
		WebhookDisabled: &subscription.WebhookDisabled{URL: "https://h/x", StatusCode: 410},
	}
	tests := []struct {
		body     string
		disabled bool
	}{
		{`{"webhook":{"url":"https://h/y"}}`, false},
		{`{"webhook":null}`, false},
		{`{"webhook":{"url":"https://h/x"}}`, true},
		{`{"label":"x"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			r, err := decode(t, tc.body)
			require.NoError(t, err)
			s, err := r.Apply(cur)
			require.NoError(t, err)
			require.Equal(t, tc.disabled, s.WebhookDisabled != nil)
			require.NotNil(t, cur.WebhookDisabled, "cur must not change")
		})
	}
}
