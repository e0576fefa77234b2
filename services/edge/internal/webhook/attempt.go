package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/webhooksig"
)

// result is what an attempt got.
type result struct {
	code    int
	latency time.Duration
	err     error
	class   string
}

// healthy reports whether the receiver looked alive, for its breaker: it
// answered, with anything but a server error or 429.
func (r result) healthy() bool {
	return r.class == "refused" || r.code != 0 && r.code < 500 && r.code != http.StatusTooManyRequests
}

// attempt POSTs a delivery once.
func (d *Deliverer) attempt(ctx context.Context, h *hook, dl *Delivery) result {
	if err := d.policy.CheckURL(h.url); err != nil {
		d.m.attempts.WithLabelValues("refused").Inc()
		return result{err: err, class: "refused"}
	}
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.url, bytes.NewReader(dl.Body))
	if err != nil {
		d.m.attempts.WithLabelValues("refused").Inc()
		return result{err: fmt.Errorf("%w: %w", ErrRefused, err), class: "refused"}
	}
	hd := req.Header
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", userAgent)
	hd.Set(HeaderSignature, webhooksig.Sign(h.secret, d.cfg.Now(), dl.Body))
	hd.Set(HeaderEventID, dl.EventID)
	hd.Set(HeaderSubscriptionID, dl.SubscriptionID)
	hd.Set(HeaderDeliveryID, dl.ID)
	hd.Set(HeaderAttempt, strconv.Itoa(dl.Attempts+1))
	if prev := dl.prevCursor(); prev != "" {
		hd.Set(HeaderPrevCursor, prev)
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		r := result{latency: time.Since(start), err: err, class: "error"}
		switch {
		case errors.Is(err, ErrRefused):
			r.class = "refused"
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			r.class = "timeout"
			r.err = fmt.Errorf("no response within %s; the receiver may have processed it", d.cfg.Timeout)
		}
		d.m.attempts.WithLabelValues(r.class).Inc()
		d.m.latency.Observe(r.latency.Seconds())
		return r
	}
	// Only a bounded prefix of the body is read: a receiver's answer
	// carries nothing the deliverer needs, and it may be huge.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.cfg.MaxResponseBytes))
	_ = resp.Body.Close()
	r := result{code: resp.StatusCode, latency: time.Since(start), class: strconv.Itoa(resp.StatusCode/100) + "xx"}
	switch {
	case r.code >= 200 && r.code < 300:
	case r.code >= 300 && r.code < 400:
		r.err = fmt.Errorf("redirect to %q not followed; configure the final URL", resp.Header.Get("Location"))
	default:
		r.err = fmt.Errorf("receiver answered %d %s", r.code, http.StatusText(r.code))
	}
	d.m.attempts.WithLabelValues(r.class).Inc()
	d.m.latency.Observe(r.latency.Seconds())
	return r
}

// prevCursor returns the cursor of the event before dl's in its
// subscription, for the Mongotron-Prev-Cursor header: the event's
// prev_cursor, or, for an event published before that field existed, the
// link its JetStream message carried. It is "" for a subscription's first
// event, and for an event stored before prev_cursor existed and sent
// without its message (filled from history, or replayed).
func (dl *Delivery) prevCursor() string {
	var ev struct {
		PrevCursor *string `json:"prev_cursor"`
	}
	if json.Unmarshal(dl.Body, &ev) == nil && ev.PrevCursor != nil {
		return *ev.PrevCursor
	}
	return dl.link()
}

// link returns the link dl's message carried, or kept once it was settled.
func (dl *Delivery) link() string {
	if dl.PrevCursor == "" && dl.msg != nil {
		return dl.msg.Headers().Get(bus.PrevCursorHeader)
	}
	return dl.PrevCursor
}

// keepLink copies the link of dl's message into dl, which is about to be
// stored without the message.
func (dl *Delivery) keepLink() { dl.PrevCursor = dl.link() }
