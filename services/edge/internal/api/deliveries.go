package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/services/edge/internal/webhook"
)

// webhookRoutes registers the webhook delivery routes: the dead-letter
// list, a delivery's manual retry, and the replay of a subscription's
// events to its webhook.
func (a *API) webhookRoutes(e *echo.Echo, mw ...echo.MiddlewareFunc) {
	const sub = "/v1/subscriptions/:id"
	e.GET(sub+"/deliveries", a.listDeliveries, mw...)
	e.POST(sub+"/deliveries/:delivery_id/retry", a.retryDelivery, mw...)
	e.POST(sub+"/webhook/replay", a.replayWebhook, mw...)
}

var errWebhooksUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "webhooks_unavailable", Message: "webhook delivery is not running on this server"}

// checkWebhook applies the server's webhook policy (https only unless
// allowed, no internal addresses) to a subscription about to be stored.
func (a *API) checkWebhook(s *subscription.Subscription) error {
	if a.cfg.Webhooks == nil || s.Webhook == nil {
		return nil
	}
	if err := a.cfg.Webhooks.CheckURL(s.Webhook.URL); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), webhook.ErrRefused.Error()), ": ")
		return unprocessable(subscription.CodeInvalidWebhook, "webhook.url: %s", msg)
	}
	return nil
}

func (a *API) listDeliveries(c echo.Context) error {
	if a.cfg.Webhooks == nil {
		return errWebhooksUnavailable
	}
	ctx := c.Request().Context()
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	after := c.QueryParam("cursor")
	if after != "" && !strings.HasPrefix(after, "dlv_") {
		return badRequest("invalid_cursor", "cursor %q is not one this API returned", clip(after))
	}
	page, err := a.cfg.Webhooks.List(ctx, s.ID, webhook.ListQuery{Status: c.QueryParam("status"), After: after, Limit: limit})
	if errors.Is(err, webhook.ErrInvalidStatus) {
		return badRequest("invalid_status", "%s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	if err != nil {
		return err
	}
	var nextp *string
	if page.Next != "" {
		nextp = &page.Next
	}
	return c.JSON(http.StatusOK, struct {
		Deliveries []webhook.View `json:"deliveries"`
		Next       *string        `json:"next"`
	}{page.Deliveries, nextp})
}

func (a *API) retryDelivery(c echo.Context) error {
	if a.cfg.Webhooks == nil {
		return errWebhooksUnavailable
	}
	ctx := c.Request().Context()
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	if s.Webhook == nil {
		return &Error{Status: http.StatusConflict, Code: "no_webhook", Message: "the subscription has no webhook; set one with PATCH first"}
	}
	v, err := a.cfg.Webhooks.Retry(ctx, s.ID, c.Param("delivery_id"))
	if errors.Is(err, webhook.ErrNotFound) {
		return errNotFound("delivery " + clip(c.Param("delivery_id")))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, v)
}

func (a *API) replayWebhook(c echo.Context) error {
	if a.cfg.Webhooks == nil {
		return errWebhooksUnavailable
	}
	ctx := c.Request().Context()
	var body struct {
		After *string `json:"after"`
	}
	if err := a.decodeJSON(c, &body); err != nil {
		return err
	}
	after := ""
	if body.After != nil && *body.After != "" {
		if _, err := cursor.Parse(*body.After); err != nil {
			return badRequest("invalid_cursor", "after %q is not a cursor", clip(*body.After))
		}
		after = *body.After
	}
	s, err := a.findSubscription(ctx, principal(c).Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	res, err := a.cfg.Webhooks.Replay(ctx, s.ID, after)
	if errors.Is(err, webhook.ErrNoWebhook) {
		return &Error{Status: http.StatusConflict, Code: "no_webhook", Message: "the subscription has no webhook; set one with PATCH first"}
	}
	if err != nil {
		return err
	}
	var nextp *string
	if res.Next != "" {
		nextp = &res.Next
	}
	return c.JSON(http.StatusAccepted, struct {
		Replayed int     `json:"replayed"`
		Next     *string `json:"next"`
	}{res.Replayed, nextp})
}
