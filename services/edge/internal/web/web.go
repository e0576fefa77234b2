// Package web is the live viewer the edge serves at /: one static page of
// HTML, CSS and plain JavaScript (no framework, no build step), embedded in
// the binary. In the page a user pastes an API key, picks or creates a
// subscription and watches its events arrive over the WebSocket stream,
// with the connection state shown and automatic resume from the last
// cursor.
//
// The page loads nothing from elsewhere and its Content-Security-Policy
// forbids it to: the key it holds must not leak to a third party, and the
// edge may run where there is no internet.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// AssetsPrefix is the path under which the page's CSS and JavaScript are
// served; the router sends it and "/" to [Handler].
const AssetsPrefix = "/assets/"

// Cache policies. The page itself is revalidated on every load (a cheap
// 304 thanks to its ETag) so a new edge version shows at once; it names
// its assets with a ?v= content hash, so those may be kept for good.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheNone       = "no-store"
)

// staticCSP is the Content-Security-Policy of every response, less the
// connect-src that names the request's own host for the WebSocket (some
// browsers do not let 'self' cover ws: and wss:).
const staticCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

type file struct {
	body        []byte
	contentType string
	etag        string
	// version is the hash the page names the asset with (?v=).
	version string
}

type handler struct {
	index  file
	assets map[string]file // by name under AssetsPrefix
}

// Handler returns the viewer: GET or HEAD of "/" is the page, of
// "/assets/<name>" its CSS and JavaScript; anything else is 404, and a
// method other than GET or HEAD is 405. Every response carries a strict
// Content-Security-Policy.
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		// The files are embedded at build time and TestHandler serves
		// them all, so this is a build defect, not a runtime condition.
		panic(err)
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h := &handler{assets: make(map[string]file)}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	var index []byte
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		if e.Name() == "index.html" {
			index = body
			continue
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			return nil, fmt.Errorf("web: %s: no content type for its extension", e.Name())
		}
		f := newFile(body, ct)
		f.version = f.etag[1:13]
		h.assets[e.Name()] = f
	}
	if index == nil {
		return nil, fmt.Errorf("web: static/index.html is missing")
	}
	// Name each asset with its version so browsers may cache it forever
	// and still fetch the new one after an upgrade.
	for name, f := range h.assets {
		ref := []byte(`"` + AssetsPrefix + name + `"`)
		if !bytes.Contains(index, ref) {
			return nil, fmt.Errorf("web: index.html does not reference %s", name)
		}
		index = bytes.ReplaceAll(index, ref, []byte(`"`+AssetsPrefix+name+"?v="+f.version+`"`))
	}
	h.index = newFile(index, contentTypes[".html"])
	return h, nil
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")

	var f file
	cache := cacheRevalidate
	switch p := r.URL.Path; {
	case p == "/":
		f = h.index
	case strings.HasPrefix(p, AssetsPrefix):
		var ok bool
		if f, ok = h.assets[strings.TrimPrefix(p, AssetsPrefix)]; !ok {
			notFound(w)
			return
		}
		// Only the current version may be kept for good: an old page's
		// ?v= gets today's bytes, which must not stick under its URL.
		if r.URL.Query().Get("v") == f.version {
			cache = cacheImmutable
		}
	default:
		notFound(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		hdr.Set("Cache-Control", cacheNone)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", cache)
	hdr.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// csp returns the policy for a page served to host, whose stream is at
// ws://host or wss://host. A host that is not a plain host[:port] (net/http
// already refuses most) gets 'self' alone rather than text spliced into
// the header.
func csp(host string) string {
	connect := "connect-src 'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return staticCSP + "; " + connect
}

func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}
