package testenv

import (
	"fmt"
	"testing"
	"time"
)

// Polling intervals of [Poll] and [WaitFor]: the first poll after a
// failed one comes soon, so a condition that holds at once costs a test
// little; the interval then doubles up to the longest, so a slow
// condition (an HTTP call, a metrics scrape) is not run hundreds of times
// a second on a shared machine.
const (
	firstPollInterval = 5 * time.Millisecond
	maxPollInterval   = 100 * time.Millisecond
)

// WaitFor polls cond until it holds, and fails tb (Fatal) if it still does
// not after timeout. msgf says what was awaited: one value is printed as
// is, several are a format and its arguments, as testify's msgAndArgs.
// Tests use it for anything asynchronous instead of a bare sleep; it must
// be called from the test's goroutine, as any Fatal.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, msgf ...any) {
	tb.Helper()
	if !Poll(timeout, cond) {
		tb.Fatalf("testenv: not within %s: %s", timeout, message(msgf))
	}
}

// Poll polls cond until it holds or timeout has passed, and reports
// whether it held. cond runs at least once, however short timeout is.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := firstPollInterval
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, maxPollInterval)
	}
}

func message(msgf []any) string {
	switch len(msgf) {
	case 0:
		return "the condition"
	case 1:
		return fmt.Sprint(msgf[0])
	}
	if format, ok := msgf[0].(string); ok {
		return fmt.Sprintf(format, msgf[1:]...)
	}
	return fmt.Sprint(msgf...)
}
