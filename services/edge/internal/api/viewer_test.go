package api_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAPI_viewer checks the web viewer's routes on the real router: no
// key needed, the viewer's own headers, and the API's JSON 404 and 405
// around them.
func TestAPI_viewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	page := e.do(req{method: "GET", path: "/"})
	require.Equal(t, http.StatusOK, page.status)
	m := regexp.MustCompile(`"(/assets/app\.js\?v=[0-9a-f]+)"`).FindSubmatch(page.body)
	require.NotNil(t, m, string(page.body))

	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		csp                bool
	}{
		{name: "page", method: "GET", path: "/", status: 200, contentType: "text/html; charset=utf-8", csp: true},
		{name: "page HEAD", method: "HEAD", path: "/", status: 200, contentType: "text/html; charset=utf-8", csp: true},
		{name: "script", method: "GET", path: string(m[1]), status: 200, contentType: "text/javascript; charset=utf-8", csp: true},
		{name: "unknown asset", method: "GET", path: "/assets/nope.css", status: 404, csp: true},
		{name: "other path", method: "GET", path: "/index.html", status: 404, contentType: "application/json"},
		{name: "post to the page", method: "POST", path: "/", status: 405, contentType: "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: tc.method, path: tc.path})
			require.Equal(t, tc.status, r.status, string(r.body))
			if tc.contentType != "" {
				require.Contains(t, r.header.Get("Content-Type"), tc.contentType)
			}
			if tc.csp {
				require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'")
			}
		})
	}
}
