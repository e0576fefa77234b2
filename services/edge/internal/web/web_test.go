package web_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/edge/internal/web"
)

// assetVersion returns the ?v= the page names an asset with.
func assetVersion(tb testing.TB, page, name string) string {
	tb.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(web.AssetsPrefix+name) + `\?v=([0-9a-f]+)"`).FindStringSubmatch(page)
	require.NotNil(tb, m, "the page does not reference %s with a version", name)
	return m[1]
}

// serve answers one request in memory; the recorder holds the whole
// answer, so there is no body to close.
func serve(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "edge.example:8080"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	resp := serve(h, http.MethodGet, "/", nil)
	page := resp.Body.String()
	jsV, cssV := assetVersion(t, page, "app.js"), assetVersion(t, page, "app.css")
	pageTag := resp.Header().Get("ETag")
	require.NotEmpty(t, pageTag)

	tests := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		contentType, cache   string
		bodyHas              string
		emptyBody            bool
	}{
		{name: "page", method: "GET", target: "/", status: 200, contentType: "text/html; charset=utf-8", cache: "no-cache", bodyHas: `id="state"`},
		{name: "page revalidated", method: "GET", target: "/", hdr: map[string]string{"If-None-Match": pageTag}, status: 304, cache: "no-cache", emptyBody: true},
		{name: "page HEAD", method: "HEAD", target: "/", status: 200, contentType: "text/html; charset=utf-8", cache: "no-cache", emptyBody: true},
		{name: "script current version", method: "GET", target: "/assets/app.js?v=" + jsV, status: 200, contentType: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", bodyHas: "new WebSocket("},
		{name: "script other version", method: "GET", target: "/assets/app.js?v=0000", status: 200, contentType: "text/javascript; charset=utf-8", cache: "no-cache"},
		{name: "script unversioned", method: "GET", target: "/assets/app.js", status: 200, contentType: "text/javascript; charset=utf-8", cache: "no-cache"},
		{name: "style", method: "GET", target: "/assets/app.css?v=" + cssV, status: 200, contentType: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable", bodyHas: "line-through"},
		{name: "unknown asset", method: "GET", target: "/assets/nope.js", status: 404, cache: "no-store"},
		{name: "page is not an asset", method: "GET", target: "/assets/index.html", status: 404, cache: "no-store"},
		{name: "assets directory", method: "GET", target: "/assets/", status: 404, cache: "no-store"},
		{name: "traversal", method: "GET", target: "/assets/../web.go", status: 404, cache: "no-store"},
		{name: "unknown path", method: "GET", target: "/index.html", status: 404, cache: "no-store"},
		{name: "post", method: "POST", target: "/", status: 405, cache: "no-store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := serve(h, tc.method, tc.target, tc.hdr)
			b := resp.Body.String()
			require.Equal(t, tc.status, resp.Code, b)
			if tc.contentType != "" {
				require.Equal(t, tc.contentType, resp.Header().Get("Content-Type"))
			}
			require.Equal(t, tc.cache, resp.Header().Get("Cache-Control"))
			require.Contains(t, b, tc.bodyHas)
			if tc.emptyBody {
				require.Empty(t, b)
			}
			// Every answer, errors included, carries the policy.
			csp := resp.Header().Get("Content-Security-Policy")
			for _, d := range []string{
				"default-src 'none'", "script-src 'self'", "style-src 'self'",
				"connect-src 'self' ws://edge.example:8080 wss://edge.example:8080",
				"frame-ancestors 'none'", "form-action 'none'", "base-uri 'none'",
			} {
				require.Contains(t, csp, d)
			}
			require.NotContains(t, csp, "unsafe-inline")
			require.Equal(t, "nosniff", resp.Header().Get("X-Content-Type-Options"))
			require.Equal(t, "no-referrer", resp.Header().Get("Referrer-Policy"))
			if tc.status == 405 {
				require.Equal(t, "GET, HEAD", resp.Header().Get("Allow"))
			}
		})
	}
}

// TestHandler_selfContained checks that the page loads nothing from
// elsewhere and runs no inline code: the CSP would block either, so it
// would be a broken page, not a leak.
func TestHandler_selfContained(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	resp := serve(h, http.MethodGet, "/", nil)
	page := resp.Body.String()
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		ref := m[1]
		require.True(t, strings.HasPrefix(ref, web.AssetsPrefix) || ref == "data:,", "external or unexpected reference %q", ref)
	}
	require.NotRegexp(t, `<script>|<style>|\son[a-z]+=`, page, "inline code or style is refused by the CSP")
}

func TestHandler_hostNotSpliced(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = "evil; script-src *"
	w := httptest.NewRecorder()
	web.Handler().ServeHTTP(w, r)
	csp := w.Result().Header.Get("Content-Security-Policy")
	require.True(t, strings.HasSuffix(csp, "connect-src 'self'"), csp)
	require.NotContains(t, csp, "evil")
}
