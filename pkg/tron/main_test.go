package tron

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// client that leaks connections or a resolver that leaks a lookup would
// leak in production too.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
