package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/edge/internal/auth"
)

// listEvents pages through a subscription's history in cursor order. Each
// item is the stored event JSON, byte for byte what the stream sent.
func (a *API) listEvents(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	filter := bson.M{}
	if after := c.QueryParam("after"); after != "" {
		if _, err := cursor.Parse(after); err != nil {
			return badRequest("invalid_cursor", "after: %s", strings.TrimPrefix(err.Error(), "cursor: "))
		}
		filter["cursor"] = bson.M{"$gt": after}
	}
	if k := c.QueryParam("kind"); k != "" {
		kinds, es := subscription.ValidateKinds("kind", strings.Split(k, ","))
		if len(es) > 0 {
			return badRequest(subscription.CodeInvalidKind, "%s", es.Error())
		}
		filter["kind"] = bson.M{"$in": kinds}
	}
	if s := c.QueryParam("address"); s != "" {
		ad, err := tron.ParseAddress(s)
		if err != nil {
			return badRequest(subscription.CodeInvalidAddress, "address: %s", strings.TrimPrefix(err.Error(), "tron: invalid address: "))
		}
		filter["addresses"] = ad.String()
	}
	if s := c.QueryParam("tx_id"); s != "" {
		tx := strings.ToLower(strings.TrimPrefix(s, "0x"))
		if b, err := hex.DecodeString(tx); err != nil || len(b) != 32 {
			return badRequest("invalid_tx_id", "tx_id %q: want 64 hex digits", clip(s))
		}
		filter["tx_id"] = tx
	}
	sub, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	filter["subscription_id"] = sub.ID
	cur, err := a.cfg.DB.Collection(store.Events).Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "cursor", Value: 1}}).SetLimit(int64(limit)+1).
		SetProjection(bson.M{"cursor": 1, "json": 1}))
	if err != nil {
		return fmt.Errorf("api: list events: %w", err)
	}
	var docs []store.EventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("api: list events: %w", err)
	}
	next := []byte("null")
	if len(docs) > limit {
		docs = docs[:limit]
		next, _ = json.Marshal(docs[limit-1].Cursor)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i, d := range docs {
		if !json.Valid(d.JSON) {
			return fmt.Errorf("api: event %s of %s holds invalid JSON", d.Cursor, sub.ID)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.TrimSpace(d.JSON))
	}
	buf.WriteString(`],"next":`)
	buf.Write(next)
	buf.WriteString("}\n")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf.Bytes())
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
	id, err := a.streamSubscription(ctx, p.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	if a.cfg.Stream == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "stream_unavailable", Message: "this edge does not serve streams"}
	}
	a.cfg.Stream(c.Response(), c.Request(), StreamRequest{SubscriptionID: id, Tenant: p.Tenant, KeyID: p.KeyID, After: after})
	return nil
}

// streamSubscription is [API.findSubscription] for a stream connect,
// answered from the cache when it can be: the same 404 for a subscription
// absent, deleted or another tenant's.
func (a *API) streamSubscription(ctx context.Context, tenant, id string) (string, error) {
	if e, ok := a.subCache.lookup(id); ok {
		if e.deleted || e.tenant != tenant {
			return "", errNotFound("subscription " + strconv.Quote(clip(id)))
		}
		a.m.lookups.WithLabelValues("cache").Inc()
		return id, nil
	}
	s, err := a.findSubscription(ctx, tenant, id)
	if err != nil {
		return "", err
	}
	a.m.lookups.WithLabelValues("store").Inc()
	a.subCache.alive(s.ID, s.Tenant)
	return s.ID, nil
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
