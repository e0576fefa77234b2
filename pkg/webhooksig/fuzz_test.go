package webhooksig_test

import (
	"testing"
	"time"

	"github.com/mongotron/mongotron/pkg/webhooksig"
)

// FuzzVerify feeds signature headers and bodies, which come from outside
// the receiver, to Verify: it may not panic, and it accepts a body only
// under a signature made with the secret.
func FuzzVerify(f *testing.F) {
	secret := []byte("whsec_test")
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"x"}`)
	f.Add(webhooksig.Sign(secret, now, body), body)
	f.Add("t=1700000000,v1=00", body)
	f.Add("t=,v1=", []byte{})
	f.Add("v1=zz,t=-1,v0=1,,=", []byte("x"))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		if webhooksig.Verify(secret, header, b, -1, now) != nil {
			return
		}
		// Accepted: a header without the secret's MAC of b must not be.
		if webhooksig.Verify([]byte("another secret"), header, b, -1, now) == nil {
			t.Fatalf("header %q verifies under two secrets", header)
		}
	})
}
