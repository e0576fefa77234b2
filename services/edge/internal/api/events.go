package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

// Bounds of the events a filtered history page scans: past them it
// answers with fewer than limit events, and next the last one scanned.
const (
	minScan = 1000
	maxScan = 10_000
)

// listEvents pages through a subscription's history in cursor order. Each
// item is the stored event JSON, byte for byte what the stream sent. It
// reads the history pages (store.Pages), by _id alone: a page of 100
// events costs a few lookups whatever the database holds. With filters
// it scans at most 10×limit events (1,000 to 10,000) and may answer a
// page of fewer than limit events before the end, its next the last
// event scanned.
func (a *API) listEvents(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	if after != "" {
		if _, err := cursor.Parse(after); err != nil {
			return badRequest("invalid_cursor", "after: %s", strings.TrimPrefix(err.Error(), "cursor: "))
		}
	}
	var f historyFilter
	if k := c.QueryParam("kind"); k != "" {
		kinds, es := subscription.ValidateKinds("kind", strings.Split(k, ","))
		if len(es) > 0 {
			return badRequest(subscription.CodeInvalidKind, "%s", es.Error())
		}
		f.kinds = kinds
	}
	if s := c.QueryParam("address"); s != "" {
		ad, err := tron.ParseAddress(s)
		if err != nil {
			return badRequest(subscription.CodeInvalidAddress, "address: %s", strings.TrimPrefix(err.Error(), "tron: invalid address: "))
		}
		f.address = ad.String()
	}
	if s := c.QueryParam("tx_id"); s != "" {
		tx := strings.ToLower(strings.TrimPrefix(s, "0x"))
		if b, err := hex.DecodeString(tx); err != nil || len(b) != 32 {
			return badRequest("invalid_tx_id", "tx_id %q: want 64 hex digits", clip(s))
		}
		f.txID = tx
	}
	subID, err := a.knownSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	budget := min(max(10*limit, minScan), maxScan)
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	n, scanned := 0, 0
	var last, next string // the last event answered, scanned
	more := false
	err = a.pages.Scan(ctx, subID, after, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			if n == limit || scanned == budget {
				more = true
				return false, nil
			}
			scanned++
			next = e.Cursor
			ok, err := f.match(e)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			if !json.Valid(e.JSON) {
				return false, fmt.Errorf("api: event %s of %s holds invalid JSON", e.Cursor, subID)
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(bytes.TrimSpace(e.JSON))
			n++
			last = e.Cursor
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("api: list events: %w", err)
	}
	buf.WriteString(`],"next":`)
	switch {
	case !more:
		buf.WriteString("null")
	case n == limit:
		buf.WriteString(strconv.Quote(last))
	default:
		buf.WriteString(strconv.Quote(next))
	}
	buf.WriteString("}\n")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf.Bytes())
}

// historyFilter is the history API's filters; the zero value passes
// every event.
type historyFilter struct {
	kinds   []string
	address string
	txID    string
}

// match reports whether the event e passes f. What the filters name is
// looked for in the JSON before it is decoded: most events of a filtered
// scan fail that cheap test.
func (f historyFilter) match(e store.PageEntry) (bool, error) {
	if len(f.kinds) == 0 && f.address == "" && f.txID == "" {
		return true, nil
	}
	if f.address != "" && !bytes.Contains(e.JSON, []byte(f.address)) {
		return false, nil
	}
	if f.txID != "" && !bytes.Contains(e.JSON, []byte(f.txID)) {
		return false, nil
	}
	ev, err := e.Fields()
	if err != nil {
		return false, fmt.Errorf("api: %w", err)
	}
	if len(f.kinds) > 0 && !slices.Contains(f.kinds, ev.Kind) {
		return false, nil
	}
	if f.address != "" && !ev.HasAddress(f.address) {
		return false, nil
	}
	return f.txID == "" || ev.TxID == f.txID, nil
}

// stream checks a WebSocket request before the upgrade, so that every
// refusal is an HTTP status with the JSON body, then hands it to the hub.
func (a *API) stream(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	after := c.QueryParam("after")
	if after != "" {
		if _, err := cursor.Parse(after); err != nil {
			return badRequest("invalid_cursor", "after: %s", strings.TrimPrefix(err.Error(), "cursor: "))
		}
	}
	id, cached, err := a.cachedSubscription(ctx, p.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	if cached {
		a.m.lookups.WithLabelValues("cache").Inc()
	} else {
		a.m.lookups.WithLabelValues("store").Inc()
	}
	if a.cfg.Stream == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "stream_unavailable", Message: "this edge does not serve streams"}
	}
	a.cfg.Stream(c.Response(), c.Request(), StreamRequest{SubscriptionID: id, Tenant: p.Tenant, KeyID: p.KeyID, After: after})
	return nil
}

// knownSubscription returns id if it names a live subscription of
// tenant, and otherwise the 404 of [API.findSubscription]. It is answered
// from the edge's subscription cache when it can be, which the change
// messages keep current: on FerretDB a read of one subscription decodes
// every one stored, most of a history page's cost at 1,000 subscriptions.
func (a *API) knownSubscription(ctx context.Context, tenant, id string) (string, error) {
	id, _, err := a.cachedSubscription(ctx, tenant, id)
	return id, err
}

// cachedSubscription is [API.knownSubscription], and whether the cache
// answered.
func (a *API) cachedSubscription(ctx context.Context, tenant, id string) (string, bool, error) {
	if e, ok := a.subCache.lookup(id); ok {
		if e.deleted || e.tenant != tenant {
			return "", true, errNotFound("subscription " + strconv.Quote(clip(id)))
		}
		return id, true, nil
	}
	s, err := a.findSubscription(ctx, tenant, id)
	if err != nil {
		return "", false, err
	}
	a.subCache.alive(s.ID, s.Tenant)
	return s.ID, false, nil
}

func (a *API) createKey(c echo.Context) error {
	var body struct {
		Tenant string `json:"tenant"`
	}
	if err := a.decodeJSON(c, &body); err != nil {
		return err
	}
	k, err := a.cfg.Auth.Create(c.Request().Context(), body.Tenant)
	if errors.Is(err, auth.ErrBadTenant) {
		return unprocessable("invalid_tenant", "tenant: %s", strings.TrimPrefix(err.Error(), auth.ErrBadTenant.Error()+": "))
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, k)
}

func (a *API) revokeKey(c echo.Context) error {
	err := a.cfg.Auth.Revoke(c.Request().Context(), c.Param("id"))
	if errors.Is(err, auth.ErrKeyNotFound) {
		return errNotFound("key " + c.Param("id"))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
