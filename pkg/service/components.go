package service

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mongotron/mongotron/pkg/logging"
)

// Defaults of [Components].
const (
	DefaultRestartMinBackoff = time.Second
	DefaultRestartMaxBackoff = 30 * time.Second
	// DefaultStableAfter is how long a restarted component must run
	// before it counts as recovered.
	DefaultStableAfter = 5 * time.Second
)

// errStopped is a component's failure when its Run returned nil before
// its context ended: a component runs until it is told to stop.
var errStopped = errors.New("service: stopped on its own")

// Components runs a daemon's background components (a NATS listener, a
// delivery loop, a sync) so that none fails silently: one whose Run
// returns before its context ends is logged at error level, reported by
// [Components.Failing] with its error, and restarted with a backoff. It
// counts as recovered once a restart has run for StableAfter. A daemon's
// /readyz answers 503 while any component is failing, so a load balancer
// sends its traffic elsewhere meanwhile.
//
// Components whose failure cannot be recovered from belong in the
// daemon's main path instead, whose error stops the process.
type Components struct {
	// Logger receives the failures. Nil discards them.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before a restart, doubled
	// after each failure that came before StableAfter. Zero means
	// [DefaultRestartMinBackoff] and [DefaultRestartMaxBackoff].
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a restarted component must run to count as
	// recovered. Zero means [DefaultStableAfter].
	StableAfter time.Duration

	wg      sync.WaitGroup
	mu      sync.Mutex
	failing map[string]error
}

// Go runs run as the component called name until ctx is done, restarting
// it as described on [Components]. The channel it returns is closed once
// the component has stopped for good.
func (c *Components) Go(ctx context.Context, name string, run func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	minWait, maxWait, stable := orDefault(c.MinBackoff, DefaultRestartMinBackoff), orDefault(c.MaxBackoff, DefaultRestartMaxBackoff), orDefault(c.StableAfter, DefaultStableAfter)
	logger := c.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	c.wg.Go(func() {
		defer close(done)
		defer c.set(name, nil)
		wait := minWait
		for {
			started := time.Now()
			var recovered *time.Timer
			if c.isFailing(name) {
				recovered = time.AfterFunc(stable, func() {
					c.set(name, nil)
					logger.Info("component recovered", "component", name)
				})
			}
			err := run(ctx)
			if recovered != nil {
				recovered.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errStopped
			}
			if time.Since(started) >= stable {
				wait = minWait
			}
			c.set(name, err)
			logger.Error("component failed; restarting it", "component", name, "err", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, maxWait)
		}
	})
	return done
}

func (c *Components) isFailing(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failing[name] != nil
}

func (c *Components) set(name string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.failing, name)
		return
	}
	if c.failing == nil {
		c.failing = map[string]error{}
	}
	c.failing[name] = err
}

// Failing returns the components failing now, each with its last error;
// nil when none is.
func (c *Components) Failing() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failing) == 0 {
		return nil
	}
	out := make(map[string]string, len(c.failing))
	for name, err := range c.failing {
		out[name] = err.Error()
	}
	return out
}

// FailingSummary is [Components.Failing] as one line, "name: error; …" in
// name order, or "" when none is failing.
func (c *Components) FailingSummary() string {
	f := c.Failing()
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, n+": "+f[n])
	}
	return strings.Join(parts, "; ")
}

// Wait waits until every component's goroutine has returned, which they
// do once their context is done.
func (c *Components) Wait() { c.wg.Wait() }
