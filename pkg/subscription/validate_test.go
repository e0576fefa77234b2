package subscription_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/subscription"
)

const (
	addrA    = "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vx"
	addrAHex = "4160bb513e91aa723a10a4020ae6fcce39bce7e240"
	addrB    = "TYD4pB7wGi1p8zK67rBTV3KdfEb9nvNDXh"
	usdt     = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
	// addrBad is addrA with its last character changed: the checksum
	// fails.
	addrBad = "TJngGWiRMLgNFScEybQxLEKQMNdB4nR6Vw"
)

func decode(tb testing.TB, body string) (*subscription.Request, error) {
	tb.Helper()
	var r subscription.Request
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&r)
	return &r, err
}

func TestRequest_New(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantCode string
		wantMsg  string
		check    func(t *testing.T, s *subscription.Subscription, addrs []string)
	}{
		{
			name: "defaults and normalised addresses",
			body: `{"addresses":["` + addrAHex + `","` + addrA + `","` + addrB + `"],"min_amount":"1000"}`,
			check: func(t *testing.T, s *subscription.Subscription, addrs []string) {
				require.Equal(t, []string{addrA, addrB}, addrs)
				require.Equal(t, subscription.DirectionAny, s.Direction)
				require.True(t, s.OnlySuccess)
				require.Equal(t, 19, s.Confirmations)
				require.Equal(t, "1000", *s.MinAmount)
				require.Nil(t, s.MaxAmount)
			},
		},
		{
			name: "everything",
			body: `{"label":"x","contracts":["` + usdt + `"],"kinds":["trc20_transfer","trc20_transfer"],"direction":"in","min_amount":"1","max_amount":"1","only_success":false,"confirmations":0,"start_block":5,"webhook":{"url":"https://h.example/x","secret":"s"},"metadata":{"a":{"b":1}}}`,
			check: func(t *testing.T, s *subscription.Subscription, addrs []string) {
				require.Empty(t, addrs)
				require.Equal(t, []string{usdt}, s.Contracts)
				require.Equal(t, []string{"trc20_transfer"}, s.Kinds)
				require.Equal(t, "in", s.Direction)
				require.False(t, s.OnlySuccess)
				require.Zero(t, s.Confirmations)
				require.Equal(t, int64(5), *s.StartBlock)
				require.Equal(t, "https://h.example/x", s.Webhook.URL)
			},
		},
		{name: "all", body: `{"all":true}`, check: func(t *testing.T, s *subscription.Subscription, _ []string) { require.True(t, s.All) }},
		{name: "empty filter", body: `{"label":"x"}`, wantCode: subscription.CodeEmptyFilter},
		{name: "all false", body: `{"all":false,"addresses":[]}`, wantCode: subscription.CodeEmptyFilter},
		{name: "bad checksum", body: `{"addresses":["` + addrA + `","` + addrBad + `"]}`, wantCode: subscription.CodeInvalidAddress, wantMsg: "addresses[1]: " + `"` + addrBad + `" has a bad checksum`},
		{name: "bad hex", body: `{"addresses":["41zz"]}`, wantCode: subscription.CodeInvalidAddress, wantMsg: "addresses[0]:"},
		{name: "bad contract", body: `{"contracts":["x"]}`, wantCode: subscription.CodeInvalidContract, wantMsg: "contracts[0]:"},
		{name: "bad kind", body: `{"kinds":["trc721_transfer"]}`, wantCode: subscription.CodeInvalidKind, wantMsg: `kinds[0]: "trc721_transfer" is not a known kind`},
		{name: "bad direction", body: `{"all":true,"direction":"sideways"}`, wantCode: subscription.CodeInvalidDirection},
		{name: "float amount", body: `{"all":true,"min_amount":"1.5"}`, wantCode: subscription.CodeInvalidAmount, wantMsg: "min_amount:"},
		{name: "negative amount", body: `{"all":true,"max_amount":"-1"}`, wantCode: subscription.CodeInvalidAmount, wantMsg: "max_amount:"},
		{name: "min above max", body: `{"all":true,"min_amount":"10","max_amount":"9"}`, wantCode: subscription.CodeInvalidRange},
		{name: "confirmations 20", body: `{"all":true,"confirmations":20}`, wantCode: subscription.CodeInvalidConfirmations},
		{name: "confirmations -1", body: `{"all":true,"confirmations":-1}`, wantCode: subscription.CodeInvalidConfirmations},
		{name: "negative start", body: `{"all":true,"start_block":-1}`, wantCode: subscription.CodeInvalidStartBlock},
		{name: "webhook ftp", body: `{"all":true,"webhook":{"url":"ftp://h/x"}}`, wantCode: subscription.CodeInvalidWebhook},
		{name: "webhook relative", body: `{"all":true,"webhook":{"url":"/x"}}`, wantCode: subscription.CodeInvalidWebhook},
		{name: "webhook credentials", body: `{"all":true,"webhook":{"url":"https://u:p@h/x"}}`, wantCode: subscription.CodeInvalidWebhook, wantMsg: "credentials"},
		{name: "metadata dollar key", body: `{"all":true,"metadata":{"$where":1}}`, wantCode: subscription.CodeInvalidMetadata},
		{name: "every problem reported", body: `{"kinds":["x"],"confirmations":99}`, wantCode: subscription.CodeInvalidKind, wantMsg: "confirmations: 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := decode(t, tc.body)
			require.NoError(t, err)
			s, addrs, err := r.New()
			if tc.wantCode == "" {
				require.NoError(t, err)
				tc.check(t, s, addrs)
				return
			}
			require.ErrorIs(t, err, subscription.ErrInvalid)
			var es subscription.Errors
			require.ErrorAs(t, err, &es)
			require.Equal(t, tc.wantCode, es.Code(), err.Error())
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

func TestRequest_New_tooManyAddresses(t *testing.T) {
	t.Parallel()
	addrs := make([]string, subscription.MaxAddressesPerCall+1)
	for i := range addrs {
		addrs[i] = addrA
	}
	b, err := json.Marshal(map[string]any{"addresses": addrs})
	require.NoError(t, err)
	r, err := decode(t, string(b))
	require.NoError(t, err)
	_, _, err = r.New()
	var es subscription.Errors
	require.ErrorAs(t, err, &es)
	require.Equal(t, subscription.CodeTooManyAddresses, es.Code())
}

func TestRequest_decode(t *testing.T) {
	t.Parallel()
	_, err := decode(t, `{"webhook":{"url":"https://h/x","sekret":"s"}}`)
	require.ErrorContains(t, err, `unknown field "sekret"`)
	r, err := decode(t, `{"min_amount":null,"label":"x"}`)
	require.NoError(t, err)
	require.True(t, r.MinAmount.Set)
	require.True(t, r.MinAmount.Null)
	require.False(t, r.MaxAmount.Set)
}

func TestRequest_Apply(t *testing.T) {
	t.Parallel()
	minA := "5"
	cur := &subscription.Subscription{
		ID: "sub_x", Label: "old", Kinds: []string{"trx_transfer"}, Contracts: []string{},
		Direction: "in", MinAmount: &minA, OnlySuccess: true, Confirmations: 19,
		Webhook: &subscription.Webhook{URL: "https://h/x"}, Version: 3,
	}
	tests := []struct {
		name     string
		body     string
		wantCode string
		check    func(t *testing.T, s *subscription.Subscription)
	}{
		{name: "absent fields kept", body: `{"label":"new"}`, check: func(t *testing.T, s *subscription.Subscription) {
			require.Equal(t, "new", s.Label)
			require.Equal(t, "in", s.Direction)
			require.Equal(t, "5", *s.MinAmount)
			require.NotNil(t, s.Webhook)
		}},
		{name: "null clears", body: `{"min_amount":null,"webhook":null,"direction":null}`, check: func(t *testing.T, s *subscription.Subscription) {
			require.Nil(t, s.MinAmount)
			require.Nil(t, s.Webhook)
			require.Equal(t, "any", s.Direction)
		}},
		{name: "max below kept min", body: `{"max_amount":"4"}`, wantCode: subscription.CodeInvalidRange},
		{name: "removing the only filter", body: `{"kinds":[]}`, wantCode: subscription.CodeEmptyFilter},
		{name: "addresses refused", body: `{"addresses":["` + addrA + `"]}`, wantCode: subscription.CodeNotPatchable},
		{name: "start_block refused", body: `{"start_block":1}`, wantCode: subscription.CodeNotPatchable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := decode(t, tc.body)
			require.NoError(t, err)
			s, err := r.Apply(cur)
			if tc.wantCode != "" {
				var es subscription.Errors
				require.ErrorAs(t, err, &es)
				require.Equal(t, tc.wantCode, es.Code(), err.Error())
				return
			}
			require.NoError(t, err)
			tc.check(t, s)
			require.Equal(t, "old", cur.Label, "cur must not change")
		})
	}
}

func TestNormaliseAddresses(t *testing.T) {
	t.Parallel()
	got, err := subscription.NormaliseAddresses("addresses", []string{addrAHex, "0x" + addrAHex, addrB})
	require.NoError(t, err)
	require.Equal(t, []string{addrA, addrB}, got)
	_, err = subscription.NormaliseAddresses("addresses", []string{addrB, "T0O"})
	require.ErrorContains(t, err, "addresses[1]:")
}
