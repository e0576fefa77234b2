package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestAPI_recoverPanic(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	a := &API{cfg: Config{Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: DefaultMaxBodyBytes}, m: m}
	e := echo.New()
	e.HTTPErrorHandler = a.handleError
	e.Use(a.observe, a.recoverPanic)
	e.GET("/boom", func(echo.Context) error { panic("boom") })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.JSONEq(t, `{"error":{"code":"internal","message":"internal error; it has been logged"}}`, rec.Body.String())
}
