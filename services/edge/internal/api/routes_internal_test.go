package api

import (
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/openapitest"
	"github.com/mongotron/mongotron/services/edge/internal/web"
)

// notInOpenAPI are the routes docs/openapi.yaml leaves out on purpose: the
// web viewer, a page for people rather than part of the API (its own
// tests are in package web and viewer_test.go).
var notInOpenAPI = []string{
	"GET /", "HEAD /",
	"GET " + web.AssetsPrefix + "*", "HEAD " + web.AssetsPrefix + "*",
}

// TestRoutes_matchOpenAPI checks the router's table against
// docs/openapi.yaml both ways: a route added to the router without the
// document, or documented without a route, fails here.
func TestRoutes_matchOpenAPI(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load("../../../../docs/openapi.yaml")
	require.NoError(t, err)
	var documented []string
	for _, op := range doc.Operations() {
		documented = append(documented, op.Method+" "+op.Path)
	}

	a := &API{cfg: Config{Gatherer: prometheus.NewRegistry()}}
	param := regexp.MustCompile(`:([a-z_]+)`)
	var routed, excluded []string
	for _, r := range a.routes().Routes() {
		route := r.Method + " " + r.Path
		if slices.Contains(notInOpenAPI, route) {
			excluded = append(excluded, route)
			continue
		}
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	require.Equal(t, documented, routed, "the router's routes and the operations of docs/openapi.yaml")
	require.ElementsMatch(t, notInOpenAPI, excluded, "notInOpenAPI names a route the router no longer has")
}
