package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongotron/mongotron/pkg/subscription"
)

// Error is an API error: the HTTP status and the body
// {"error":{"code","message"}} of docs/api.md.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return "api: " + e.Code + ": " + e.Message }

var errInternal = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; it has been logged"}

func errNotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: what + " not found"}
}

func badRequest(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: sprintf(format, args...)}
}

func unprocessable(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Message: sprintf(format, args...)}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// handleError is echo's HTTPErrorHandler: every error, echo's own 404 and
// 405 included, leaves as the JSON body of docs/api.md.
func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := a.toError(err, c)
	if apiErr.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(apiErr.RetryAfter/time.Second)))
	}
	if apiErr.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="mongotron"`)
	}
	var body errorBody
	body.Error.Code = apiErr.Code
	body.Error.Message = apiErr.Message
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(apiErr.Status)
		return
	}
	if werr := c.JSON(apiErr.Status, body); werr != nil {
		a.cfg.Logger.Debug("write error response", "err", werr)
	}
}

func (a *API) toError(err error, c echo.Context) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &Error{Status: he.Code, Code: "not_found", Message: "no route for " + c.Request().Method + " " + c.Request().URL.Path}
		case http.StatusMethodNotAllowed:
			return &Error{Status: he.Code, Code: "method_not_allowed", Message: c.Request().Method + " is not allowed on " + c.Request().URL.Path}
		case http.StatusRequestEntityTooLarge:
			return errBodyTooLarge(a.cfg.MaxBodyBytes)
		}
		if he.Code >= 400 && he.Code < 500 {
			return &Error{Status: he.Code, Code: snake(http.StatusText(he.Code)), Message: sprintf("%v", he.Message)}
		}
	}
	if storeUnavailable(err) {
		a.cfg.Logger.Warn("request failed: database unavailable", "method", c.Request().Method, "route", c.Path(), "err", err)
		return errStoreUnavailable
	}
	a.cfg.Logger.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	return errInternal
}

// errStoreUnavailable answers a request that needed MongoDB while it could
// not be reached: a 503 the client retries, not a 500.
var errStoreUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the database is unreachable; retry shortly", RetryAfter: 2 * time.Second}

// storeUnavailable reports whether err says MongoDB could not be reached
// or did not answer in time (rather than refusing the request).
func storeUnavailable(err error) bool {
	var sse topology.ServerSelectionError
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.As(err, &sse) ||
		errors.Is(err, context.DeadlineExceeded)
}

func errBodyTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: sprintf("the body is over the limit of %d bytes", limit)}
}

// decodeJSON reads the request body into v: at most MaxBodyBytes,
// unknown fields refused, one value and nothing after. The body is JSON
// whatever its Content-Type says, because common clients mislabel it
// (curl -d sends application/x-www-form-urlencoded, fetch text/plain) and
// a body that is not JSON is refused by the decoder anyway. Keys travel in
// a header, never a cookie, so accepting a "simple" content type opens no
// cross-site request forgery.
func (a *API) decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return errBodyTooLarge(a.cfg.MaxBodyBytes)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, a.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, a.cfg.MaxBodyBytes)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge(a.cfg.MaxBodyBytes)
		}
		return badRequest("invalid_json", "the body must hold one JSON value and nothing after it")
	}
	return nil
}

func jsonError(err error, limit int64) *Error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return errBodyTooLarge(limit)
	case errors.Is(err, io.EOF):
		return badRequest("invalid_json", "the body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &se):
		return badRequest("invalid_json", "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the body"
		}
		return badRequest("invalid_json", "%s: got a JSON %s, want %s", field, te.Value, jsonType(te.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid_json", "the JSON body ends too early")
	}
	return badRequest("invalid_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "float"):
		return "an integer"
	}
	return goType
}

// validationError maps a subscription validation failure to a 422 with
// the code of its first problem and every problem in the message.
func validationError(err error) error {
	var es subscription.Errors
	if errors.As(err, &es) {
		return unprocessable(es.Code(), "%s", es.Error())
	}
	return err
}

func snake(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "_")
}
