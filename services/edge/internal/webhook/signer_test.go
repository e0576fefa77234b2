package webhook

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSign(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_test")
	body := []byte(`{"type":"event","id":"abc:0"}`)
	now := time.Unix(1_700_000_000, 0)
	good := Sign(secret, now.Unix(), body)
	require.Regexp(t, `^t=1700000000,v1=[0-9a-f]{64}$`, good)
	tests := []struct {
		name    string
		header  string
		body    []byte
		secret  []byte
		now     time.Time
		wantErr bool
	}{
		{"valid", good, body, secret, now, false},
		{"valid within tolerance", good, body, secret, now.Add(4 * time.Minute), false},
		{"tampered body", good, []byte(`{"type":"event","id":"abd:0"}`), secret, now, true},
		{"old timestamp", good, body, secret, now.Add(10 * time.Minute), true},
		{"other secret", good, body, []byte("other"), now, true},
		{"timestamp changed", "t=1700000001" + good[len("t=1700000000"):], body, secret, now, true},
		{"malformed", "v1=00", body, secret, now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verify(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestPolicy_CheckURL(t *testing.T) {
	t.Parallel()
	strict := policy{}
	lax := policy{allowHTTP: []string{"127.0.0.1", "hooks.internal"}, allowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.1.0.0/16")}}
	tests := []struct {
		name string
		p    policy
		url  string
		ok   bool
	}{
		{"https public", strict, "https://example.com/hook", true},
		{"http refused", strict, "http://example.com/hook", false},
		{"ftp refused", strict, "ftp://example.com/hook", false},
		{"loopback refused", strict, "https://127.0.0.1/hook", false},
		{"localhost refused", strict, "https://localhost:8443/hook", false},
		{"ipv6 loopback refused", strict, "https://[::1]/hook", false},
		{"private refused", strict, "https://10.0.0.7/hook", false},
		{"link-local refused", strict, "https://169.254.169.254/latest/meta-data", false},
		{"cgnat refused", strict, "https://100.64.1.1/", false},
		{"mapped loopback refused", strict, "https://[::ffff:127.0.0.1]/", false},
		{"public address", strict, "https://8.8.8.8/", true},
		{"http allowed host", lax, "http://hooks.internal/x", true},
		{"loopback allowed", lax, "http://127.0.0.1:9000/x", true},
		{"allowed prefix", lax, "https://10.1.2.3/x", true},
		{"outside allowed prefix", lax, "https://10.2.2.3/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.CheckURL(tt.url)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrRefused)
			}
		})
	}
}

func TestPolicy_control(t *testing.T) {
	t.Parallel()
	p := policy{}
	require.ErrorIs(t, p.control("tcp4", "127.0.0.1:80", nil), ErrRefused)
	require.ErrorIs(t, p.control("tcp6", "[fe80::1]:443", nil), ErrRefused)
	require.NoError(t, p.control("tcp4", "93.184.216.34:443", nil))
}

func TestConfig_withDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	require.Len(t, c.Schedule, 10)
	var total time.Duration
	for _, d := range c.Schedule {
		total += d
	}
	require.InDelta(t, 24*time.Hour, total, float64(2*time.Hour))
	c = Config{MaxAttempts: 3}.withDefaults()
	require.Equal(t, []time.Duration{5 * time.Second, 30 * time.Second}, c.Schedule)
	c = Config{Schedule: []time.Duration{time.Second}, MaxAttempts: 4}.withDefaults()
	require.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, c.Schedule)
	require.Error(t, (&Config{Timeout: time.Second, LeaseDuration: time.Second}).Validate())
	for range 100 {
		j := jitter(10 * time.Second)
		require.True(t, j >= 9*time.Second && j <= 11*time.Second, j)
	}
}
