package client_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventually polls cond every tick until it holds or wait passes.
func eventually(tb testing.TB, wait time.Duration, cond func() bool, msg string) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s: %s", wait, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
