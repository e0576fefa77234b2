package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
)

// recorded is one request the fake API saw.
type recorded struct {
	method, path, query, auth, contentType string
	body                                   string
}

// fakeAPI answers every request with reply and records it.
type fakeAPI struct {
	mu    sync.Mutex
	reqs  []recorded
	reply func(r recorded) (status int, body string)
}

func newFakeAPI(t testing.TB, reply func(r recorded) (int, string)) (*fakeAPI, *client.Client) {
	t.Helper()
	f := &fakeAPI{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		status, body := f.reply(rec)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return f, newClient(t, srv.URL+"/")
}

const subJSON = `{"id":"sub_1","label":"hot","contracts":[],"kinds":["trx_transfer"],"direction":"any","min_amount":"5","max_amount":null,
"only_success":true,"confirmations":19,"start_block":null,"all":false,"webhook":{"url":"https://example.com/h"},"metadata":{"a":1},
"status":"active","address_count":1,"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z","addresses":["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]}`

func TestClient_New(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, base, err string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"https://api.example.com/", "https://api.example.com", ""},
		{"https://api.example.com/mongotron/v1/", "https://api.example.com/mongotron", ""},
		{"ftp://x", "", "want http:// or https://"},
		{"127.0.0.1:8080", "", "want http:// or https://"},
		{"http://x/?a=b", "", "no query"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := client.New(tc.url)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.base, c.BaseURL())
		})
	}
	_, err := client.New("http://x", client.HTTPClient(nil))
	require.Error(t, err)
	_, err = client.New("http://x", client.APIKey("a\nb"))
	require.Error(t, err)
}

func TestClient_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		is     error
		code   string
	}{
		{400, `{"error":{"code":"invalid_cursor","message":"bad"}}`, client.ErrInvalid, "invalid_cursor"},
		{401, `{"error":{"code":"invalid_api_key","message":"unknown"}}`, client.ErrUnauthorized, "invalid_api_key"},
		{403, `{"error":{"code":"admin_key_required","message":"no"}}`, client.ErrForbidden, "admin_key_required"},
		{404, `{"error":{"code":"not_found","message":"subscription \"x\" not found"}}`, client.ErrNotFound, "not_found"},
		{409, `{"error":{"code":"conflict","message":"again"}}`, client.ErrConflict, "conflict"},
		{422, `{"error":{"code":"invalid_address","message":"addresses[0]: bad"}}`, client.ErrInvalid, "invalid_address"},
		{429, `{"error":{"code":"rate_limited","message":"slow down"}}`, client.ErrRateLimited, "rate_limited"},
		{500, `{"error":{"code":"internal","message":"logged"}}`, client.ErrServer, "internal"},
		{502, `<html>bad gateway</html>`, client.ErrServer, ""},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			_, c := newFakeAPI(t, func(recorded) (int, string) { return tc.status, tc.body })
			_, err := c.GetSubscription(t.Context(), "sub_1")
			require.ErrorIs(t, err, tc.is)
			var ae *client.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.Status)
			require.Equal(t, tc.code, ae.Code)
			require.NotEmpty(t, ae.Message)
			if tc.status == 429 {
				require.Equal(t, 7*time.Second, ae.RetryAfter)
			}
			for _, other := range []error{client.ErrNotFound, client.ErrUnauthorized, client.ErrRateLimited} {
				if !errors.Is(other, tc.is) {
					require.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestClient_subscriptions(t *testing.T) {
	t.Parallel()
	f, c := newFakeAPI(t, func(r recorded) (int, string) {
		switch r.method + " " + r.path {
		case "POST /v1/subscriptions":
			return 201, subJSON
		case "GET /v1/subscriptions/sub_1", "PATCH /v1/subscriptions/sub_1":
			return 200, subJSON
		case "DELETE /v1/subscriptions/sub_1":
			return 204, ""
		case "POST /v1/keys":
			return 201, `{"id":"key_1","tenant":"acme","key":"mtk_secret"}`
		case "DELETE /v1/keys/key_1":
			return 204, ""
		}
		return 404, `{"error":{"code":"not_found","message":"no route"}}`
	})
	ctx := t.Context()
	minAmount := "5"
	one := 1
	s, err := c.CreateSubscription(ctx, client.CreateRequest{Label: "hot", Kinds: []string{"trx_transfer"}, MinAmount: &minAmount, Confirmations: &one})
	require.NoError(t, err)
	require.Equal(t, "sub_1", s.ID)
	require.Equal(t, "5", *s.MinAmount)
	require.Nil(t, s.MaxAmount)
	require.Equal(t, []string{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}, s.Addresses)
	require.Equal(t, "https://example.com/h", s.Webhook.URL)

	_, err = c.GetSubscription(ctx, "sub_1")
	require.NoError(t, err)
	label := "cold"
	_, err = c.UpdateSubscription(ctx, "sub_1", client.UpdateRequest{Label: &label, ClearWebhook: true})
	require.NoError(t, err)
	require.NoError(t, c.DeleteSubscription(ctx, "sub_1"))
	_, err = c.GetSubscription(ctx, "sub/../x")
	require.ErrorIs(t, err, client.ErrNotFound)
	k, err := c.CreateKey(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, client.Key{ID: "key_1", Tenant: "acme", Key: "mtk_secret"}, *k)
	require.NoError(t, c.RevokeKey(ctx, "key_1"))

	f.mu.Lock()
	defer f.mu.Unlock()
	require.JSONEq(t, `{"label":"hot","kinds":["trx_transfer"],"min_amount":"5","confirmations":1}`, f.reqs[0].body)
	require.Equal(t, "application/json", f.reqs[0].contentType)
	require.Equal(t, "Bearer mtk_test", f.reqs[0].auth)
	require.JSONEq(t, `{"label":"cold","webhook":null}`, f.reqs[2].body)
	require.Equal(t, "/v1/subscriptions/sub%2F..%2Fx", f.reqs[4].path, "ids are escaped")
	require.JSONEq(t, `{"tenant":"acme"}`, f.reqs[5].body)
}

func TestUpdateRequest_MarshalJSON(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	kinds := []string{}
	tests := []struct {
		name string
		req  client.UpdateRequest
		want string
		err  bool
	}{
		{"empty", client.UpdateRequest{}, `{}`, false},
		{"set", client.UpdateRequest{Direction: s("in"), OnlySuccess: b(false), Kinds: &kinds}, `{"direction":"in","only_success":false,"kinds":[]}`, false},
		{"clear", client.UpdateRequest{ClearMinAmount: true, ClearMaxAmount: true, ClearMetadata: true}, `{"min_amount":null,"max_amount":null,"metadata":null}`, false},
		{"webhook", client.UpdateRequest{Webhook: &client.Webhook{URL: "https://x", Secret: "s"}}, `{"webhook":{"url":"https://x","secret":"s"}}`, false},
		{"set and clear", client.UpdateRequest{MinAmount: s("1"), ClearMinAmount: true}, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tc.req)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}

func TestClient_AllSubscriptions(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"limit=2":                `{"subscriptions":[{"id":"sub_1"},{"id":"sub_2"}],"next":"sub_2"}`,
		"cursor=sub_2&limit=2":   `{"subscriptions":[{"id":"sub_3"},{"id":"sub_4"}],"next":"sub_4"}`,
		"cursor=sub_4&limit=2":   `{"subscriptions":[{"id":"sub_5"}],"next":null}`,
		"cursor=broken&limit=2":  ``,
		"cursor=broken2&limit=2": ``,
	}
	_, c := newFakeAPI(t, func(r recorded) (int, string) {
		if p, ok := pages[r.query]; ok {
			return 200, p
		}
		return 400, `{"error":{"code":"invalid_cursor","message":"no"}}`
	})
	var ids []string
	for s, err := range c.AllSubscriptions(t.Context(), 2) {
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{"sub_1", "sub_2", "sub_3", "sub_4", "sub_5"}, ids)

	// Stopping early makes no further call.
	n := 0
	for _, err := range c.AllSubscriptions(t.Context(), 2) {
		require.NoError(t, err)
		n++
		break
	}
	require.Equal(t, 1, n)

	// An error ends the iteration with it.
	var errs []error
	for _, err := range c.AllSubscriptions(t.Context(), 1000) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], client.ErrInvalid)
}

func TestClient_AddAddresses_batches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		failCall int // 1-based call that fails; 0: none
		sizes    []int
		changed  int
	}{
		{"one batch", 3, 0, []int{3}, 3},
		{"exactly the limit", client.MaxAddressesPerCall, 0, []int{client.MaxAddressesPerCall}, client.MaxAddressesPerCall},
		{"three batches", 2*client.MaxAddressesPerCall + 5, 0, []int{client.MaxAddressesPerCall, client.MaxAddressesPerCall, 5}, 2*client.MaxAddressesPerCall + 5},
		{"second batch fails", 2*client.MaxAddressesPerCall + 5, 2, []int{client.MaxAddressesPerCall, client.MaxAddressesPerCall}, client.MaxAddressesPerCall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var count int64
			f, c := newFakeAPI(t, nil)
			calls := 0
			f.reply = func(r recorded) (int, string) {
				calls++
				if calls == tc.failCall {
					return 422, `{"error":{"code":"too_many_addresses","message":"over the limit"}}`
				}
				var body struct{ Addresses []string }
				require.NoError(t, json.Unmarshal([]byte(r.body), &body))
				count += int64(len(body.Addresses))
				return 200, fmt.Sprintf(`{"subscription_id":"sub_1","added":%d,"address_count":%d}`, len(body.Addresses), count)
			}
			addrs := make([]string, tc.n)
			for i := range addrs {
				addrs[i] = fmt.Sprintf("T%d", i)
			}
			res, err := c.AddAddresses(t.Context(), "sub_1", addrs)
			var sizes []int
			f.mu.Lock()
			for _, r := range f.reqs {
				require.Equal(t, "POST", r.method)
				require.Equal(t, "/v1/subscriptions/sub_1/addresses", r.path)
				sizes = append(sizes, strings.Count(r.body, `"T`))
			}
			f.mu.Unlock()
			require.Equal(t, tc.sizes, sizes)
			if tc.failCall > 0 {
				var be *client.BatchError
				require.ErrorAs(t, err, &be)
				require.Equal(t, tc.failCall-1, be.Batch)
				require.Equal(t, tc.changed, be.Result.Changed)
				require.ErrorIs(t, err, client.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.changed, res.Changed)
			require.Equal(t, int64(tc.n), res.AddressCount)
			require.Equal(t, len(tc.sizes), res.Batches)
		})
	}
}

func TestClient_RemoveAndListAddresses(t *testing.T) {
	t.Parallel()
	f, c := newFakeAPI(t, func(r recorded) (int, string) {
		switch {
		case r.method == "DELETE":
			return 200, `{"subscription_id":"sub_1","removed":1,"address_count":2}`
		case r.query == "limit=2":
			return 200, `{"addresses":["TA","TB"],"next":"TB"}`
		case r.query == "cursor=TB&limit=2":
			return 200, `{"addresses":["TC"],"next":null}`
		}
		return 500, `{"error":{"code":"internal","message":"?"}}`
	})
	res, err := c.RemoveAddresses(t.Context(), "sub_1", []string{"TA"})
	require.NoError(t, err)
	require.Equal(t, client.AddressesResult{Changed: 1, AddressCount: 2, Batches: 1}, res)
	_, err = c.RemoveAddresses(t.Context(), "sub_1", nil)
	require.ErrorIs(t, err, client.ErrInvalid)

	var all []string
	for a, err := range c.AllAddresses(t.Context(), "sub_1", 2) {
		require.NoError(t, err)
		all = append(all, a)
	}
	require.Equal(t, []string{"TA", "TB", "TC"}, all)
	f.mu.Lock()
	require.Equal(t, "DELETE", f.reqs[0].method)
	require.JSONEq(t, `{"addresses":["TA"]}`, f.reqs[0].body)
	f.mu.Unlock()
}

func TestClient_History(t *testing.T) {
	t.Parallel()
	f, c := newFakeAPI(t, func(r recorded) (int, string) {
		switch r.query {
		case "address=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t&kind=trx_transfer%2Ctrc20_transfer&limit=2":
			return 200, `{"events":[` + eventJSON(1) + `,` + eventJSON(2) + `],"next":"` + cur(2) + `"}`
		case "address=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t&after=" + cur(2) + "&kind=trx_transfer%2Ctrc20_transfer&limit=2":
			return 200, `{"events":[` + eventJSON(3) + `],"next":null}`
		}
		return 400, `{"error":{"code":"invalid_cursor","message":"` + r.query + `"}}`
	})
	opts := client.HistoryOptions{Limit: 2, Kinds: []string{"trx_transfer", "trc20_transfer"}, Address: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}
	p, err := c.History(t.Context(), "sub_1", opts)
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	require.Equal(t, cur(2), p.Next)
	require.JSONEq(t, eventJSON(1), string(p.Events[0].Raw))
	require.Equal(t, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", p.Events[0].From.String())

	var got []string
	for ev, err := range c.AllHistory(t.Context(), "sub_1", opts) {
		require.NoError(t, err)
		got = append(got, ev.Cursor)
	}
	require.Equal(t, []string{cur(1), cur(2), cur(3)}, got)
	f.mu.Lock()
	require.Len(t, f.reqs, 3)
	f.mu.Unlock()
}

func TestClient_networkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := newClient(t, srv.URL)
	_, err := c.GetSubscription(t.Context(), "sub_1")
	require.Error(t, err)
	var ae *client.APIError
	require.NotErrorAs(t, err, &ae, "a network failure is not an API error")
	require.ErrorContains(t, err, "GET /v1/subscriptions/sub_1")
}
