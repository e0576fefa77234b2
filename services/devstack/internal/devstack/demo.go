package devstack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Demo is the demo tenant's key and subscription, which a re-run reuses.
type Demo struct {
	// Tenant is the demo key's tenant.
	Tenant string `json:"tenant"`
	// KeyID and APIKey are the demo tenant's key.
	KeyID  string `json:"key_id"`
	APIKey string `json:"api_key"`
	// SubscriptionID is the demo subscription, watching Addresses (or,
	// when no address was busy, every TRC20 transfer) with 0
	// confirmations.
	SubscriptionID string   `json:"subscription_id"`
	Addresses      []string `json:"addresses,omitempty"`
}

// demoConfig is what [setupDemo] needs.
type demoConfig struct {
	EdgeURL, AdminKey   string
	NodeURL, NodeAPIKey string
	// Previous is the demo of the last run, reused when it still works.
	Previous *Demo
}

// DemoTenant is the tenant of the demo key.
const DemoTenant = "devstack-demo"

// busyCount is how many addresses the demo subscription watches, and
// sampleBlocks how many recent blocks are read to find them.
const (
	busyCount    = 5
	sampleBlocks = 5
)

// setupDemo reuses the previous demo subscription when its key still
// reads it, and otherwise creates a key and a subscription watching the
// busiest addresses of the last blocks.
func setupDemo(ctx context.Context, cfg demoConfig) (Demo, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if p := cfg.Previous; p != nil && p.APIKey != "" && p.SubscriptionID != "" {
		var sub struct {
			Status string `json:"status"`
		}
		err := getJSON(ctx, cfg.EdgeURL+"/v1/subscriptions/"+p.SubscriptionID, p.APIKey, &sub)
		if err == nil && sub.Status != "deleted" {
			return *p, nil
		}
	}
	var key struct {
		ID     string `json:"id"`
		Tenant string `json:"tenant"`
		Key    string `json:"key"`
	}
	if err := postJSON(ctx, cfg.EdgeURL+"/v1/keys", cfg.AdminKey, map[string]string{"tenant": DemoTenant}, &key); err != nil {
		return Demo{}, fmt.Errorf("devstack: demo key: %w", err)
	}
	busy, err := BusyAddresses(ctx, cfg.NodeURL, cfg.NodeAPIKey, busyCount)
	if err != nil {
		return Demo{}, fmt.Errorf("devstack: demo addresses: %w", err)
	}
	body := map[string]any{"label": "devstack demo", "confirmations": 0}
	if len(busy) > 0 {
		body["addresses"] = busy
	} else {
		body["kinds"] = []string{"trc20_transfer"}
	}
	var sub struct {
		ID string `json:"id"`
	}
	if err := postJSON(ctx, cfg.EdgeURL+"/v1/subscriptions", key.Key, body, &sub); err != nil {
		return Demo{}, fmt.Errorf("devstack: demo subscription: %w", err)
	}
	return Demo{Tenant: key.Tenant, KeyID: key.ID, APIKey: key.Key, SubscriptionID: sub.ID, Addresses: busy}, nil
}

// BusyAddresses returns the n addresses that take part in the most events
// of the node's last few blocks, busiest first. The simulator's population
// is Zipf-skewed, so these are the addresses a demo sees events for every
// block or two; on a real node they are exchanges' hot wallets.
func BusyAddresses(ctx context.Context, nodeURL, apiKey string, n int) ([]string, error) {
	c, err := tron.NewClient(tron.ClientConfig{BaseURL: nodeURL, APIKey: apiKey})
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	head, err := c.NowBlock(ctx)
	if err != nil {
		return nil, err
	}
	dec := decode.NewDecoder(decode.DecoderConfig{})
	counts := map[tron.Address]int{}
	top := head.BlockHeader.RawData.Number
	for num := top; num > top-sampleBlocks && num >= 0; num-- {
		b, err := c.BlockByNum(ctx, num)
		if errors.Is(err, tron.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		infos, err := c.TxInfosByBlockNum(ctx, num)
		if err != nil {
			return nil, err
		}
		evs, err := dec.DecodeBlock(b, infos)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			for _, a := range evs[i].Parties() {
				counts[a]++
			}
		}
	}
	type ac struct {
		addr  string
		count int
	}
	all := make([]ac, 0, len(counts))
	for a, k := range counts {
		all = append(all, ac{a.String(), k})
	}
	slices.SortFunc(all, func(x, y ac) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		return cmp.Compare(x.addr, y.addr)
	})
	out := make([]string, 0, n)
	for _, a := range all[:min(n, len(all))] {
		out = append(out, a.addr)
	}
	return out, nil
}

// apiError is an edge's error answer.
type apiError struct {
	Status int
	Code   string
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("devstack: HTTP %d %s: %s", e.Status, e.Code, e.Msg)
}

func getJSON(ctx context.Context, url, key string, out any) error {
	return doJSON(ctx, http.MethodGet, url, key, nil, out)
}

func postJSON(ctx context.Context, url, key string, in, out any) error {
	return doJSON(ctx, http.MethodPost, url, key, in, out)
}

func doJSON(ctx context.Context, method, url, key string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("devstack: %s %s: %w", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("devstack: %s %s: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &apiError{Status: resp.StatusCode, Code: e.Error.Code, Msg: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("devstack: %s %s: %w", method, url, err)
	}
	return nil
}
