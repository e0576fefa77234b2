package webhook

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

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
