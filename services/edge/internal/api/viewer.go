package api

import (
	"github.com/labstack/echo/v4"

	"github.com/mongotron/mongotron/services/edge/internal/web"
)

// viewerRoutes serves the live web viewer: the page at / and its assets.
// They need no key: the page is public and asks for one itself.
func (a *API) viewerRoutes(e *echo.Echo) {
	h := echo.WrapHandler(web.Handler())
	for _, p := range []string{"/", web.AssetsPrefix + "*"} {
		e.GET(p, h)
		e.HEAD(p, h)
	}
}
