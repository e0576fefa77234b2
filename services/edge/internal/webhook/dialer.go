package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal of a webhook target by the
// security policy: a scheme, host or address an operator did not allow.
var ErrRefused = errors.New("webhook: target refused")

// policy decides which targets webhooks may reach.
type policy struct {
	allowHTTP    []string
	allowPrivate []netip.Prefix
}

// CheckURL refuses a webhook URL the policy would refuse at delivery:
// plain http to a host not allowed, or a literal internal address. Host
// names are checked again at dial time, on the addresses they resolve to.
func (p policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrRefused)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch u.Scheme {
	case "https":
	case "http":
		if !slices.Contains(p.allowHTTP, host) {
			return fmt.Errorf("%w: plain http to %q is not allowed by this server; use https", ErrRefused, host)
		}
	default:
		return fmt.Errorf("%w: scheme %q; use https", ErrRefused, u.Scheme)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(a)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return p.checkAddr(netip.MustParseAddr("127.0.0.1"))
	}
	return nil
}

// checkAddr refuses internal addresses unless allowed.
func (p policy) checkAddr(a netip.Addr) error {
	a = a.Unmap()
	if !internal(a) {
		return nil
	}
	for _, pr := range p.allowPrivate {
		if pr.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is a loopback, private or link-local address", ErrRefused, a)
}

// sharedSpace is carrier-grade NAT space, internal like RFC 1918.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// internal reports whether a is not a public unicast address.
func internal(a netip.Addr) bool {
	return !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() ||
		a.IsUnspecified() || sharedSpace.Contains(a)
}

// control runs after name resolution, on the address about to be dialled:
// checking the host name alone would let a name resolve, or re-resolve
// (DNS rebinding), to an internal address.
func (p policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dial %q: %w", ErrRefused, address, err)
	}
	return p.checkAddr(ap.Addr())
}

// newHTTPClient returns the client of webhook attempts: no proxy (one
// from the environment would dial internal addresses on our behalf),
// redirects not followed, and the dial checked by the policy.
func newHTTPClient(p policy, perHost int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
