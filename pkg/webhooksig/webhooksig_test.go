package webhooksig_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/webhooksig"
)

func TestSign_format(t *testing.T) {
	t.Parallel()
	got := webhooksig.Sign([]byte("whsec_test"), time.Unix(1_700_000_000, 0), []byte(`{"type":"event"}`))
	require.Regexp(t, `^t=1700000000,v1=[0-9a-f]{64}$`, got)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_test")
	now := time.Unix(1_735_787_045, 0)
	body := []byte(`{"type":"event","id":"x"}`)
	good := webhooksig.Sign(secret, now, body)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := good[len("t="+ts+",v1="):]
	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", secret, good, body, 0, now, nil},
		{"valid at the edge of the tolerance", secret, good, body, time.Minute, now.Add(time.Minute), nil},
		{"rotated secret: the second v1 matches", secret, webhooksig.Sign([]byte("whsec_old"), now, body) + ",v1=" + sig, body, 0, now, nil},
		{"tampered body", secret, good, []byte(`{"type":"event","id":"y"}`), 0, now, webhooksig.ErrSignature},
		{"tampered timestamp", secret, "t=" + strconv.FormatInt(now.Unix()-600, 10) + ",v1=" + sig, body, -1, now, webhooksig.ErrSignature},
		{"old timestamp", secret, good, body, 0, now.Add(webhooksig.DefaultTolerance + time.Second), webhooksig.ErrTimestamp},
		{"future timestamp", secret, good, body, time.Minute, now.Add(-2 * time.Minute), webhooksig.ErrTimestamp},
		{"wrong secret", []byte("whsec_wrong"), good, body, 0, now, webhooksig.ErrSignature},
		{"empty secret", nil, good, body, 0, now, webhooksig.ErrEmptySecret},
		{"no timestamp", secret, "v1=" + sig, body, 0, now, webhooksig.ErrHeader},
		{"no signature", secret, "t=" + ts, body, 0, now, webhooksig.ErrHeader},
		{"not key=value", secret, "garbage", body, 0, now, webhooksig.ErrHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhooksig.Verify(tc.secret, tc.header, tc.body, tc.tolerance, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}
