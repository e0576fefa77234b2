package client

import (
	"context"
	"fmt"
	"iter"
)

// MaxAddressesPerCall is the most addresses one bulk call carries; the
// client splits larger sets into batches of this size.
const MaxAddressesPerCall = 10_000

// AddressesResult is the outcome of [Client.AddAddresses] or
// [Client.RemoveAddresses], summed over its batches.
type AddressesResult struct {
	// Changed is how many addresses were added (or removed); addresses
	// already in the set (or not in it) do not count.
	Changed int
	// AddressCount is the size of the set after the last batch.
	AddressCount int64
	// Batches is how many calls succeeded.
	Batches int
}

// BatchError is a bulk change that failed part way: the batches before
// Batch were applied (Result says what they did), that one and the later
// ones were not.
type BatchError struct {
	// Batch is the index of the failed batch, from 0.
	Batch int
	// Batches is how many batches the change needed.
	Batches int
	// Result is what the applied batches did.
	Result AddressesResult
	// Err is why the batch failed.
	Err error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %d of %d (addresses %d to %d): %v", e.Batch+1, e.Batches,
		e.Batch*MaxAddressesPerCall+1, (e.Batch+1)*MaxAddressesPerCall, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// AddAddresses adds addresses (base58 or hex) to a subscription's set, in
// batches of [MaxAddressesPerCall]. Each batch is applied on its own: when
// one fails, the error is a [*BatchError] saying which, and adding the same
// addresses again is safe (present ones are skipped).
func (c *Client) AddAddresses(ctx context.Context, subID string, addrs []string) (AddressesResult, error) {
	return c.bulk(ctx, "POST", subID, addrs)
}

// RemoveAddresses removes addresses from a subscription's set, in batches
// of [MaxAddressesPerCall]; see [Client.AddAddresses] for failures. The
// server refuses to remove every address of a subscription (it would widen
// the filter rather than empty it).
func (c *Client) RemoveAddresses(ctx context.Context, subID string, addrs []string) (AddressesResult, error) {
	return c.bulk(ctx, "DELETE", subID, addrs)
}

func (c *Client) bulk(ctx context.Context, method, subID string, addrs []string) (AddressesResult, error) {
	var res AddressesResult
	if len(addrs) == 0 {
		return res, fmt.Errorf("client: no addresses: %w", ErrInvalid)
	}
	n := (len(addrs) + MaxAddressesPerCall - 1) / MaxAddressesPerCall
	for i := range n {
		batch := addrs[i*MaxAddressesPerCall : min(len(addrs), (i+1)*MaxAddressesPerCall)]
		var out struct {
			Added        *int  `json:"added"`
			Removed      *int  `json:"removed"`
			AddressCount int64 `json:"address_count"`
		}
		err := c.do(ctx, method, "/v1/subscriptions/"+pathID(subID)+"/addresses", nil, map[string][]string{"addresses": batch}, &out)
		if err != nil {
			if n == 1 {
				return res, err
			}
			return res, &BatchError{Batch: i, Batches: n, Result: res, Err: err}
		}
		if out.Added != nil {
			res.Changed += *out.Added
		}
		if out.Removed != nil {
			res.Changed += *out.Removed
		}
		res.AddressCount = out.AddressCount
		res.Batches++
	}
	return res, nil
}

// AddressPage is one page of [Client.ListAddresses].
type AddressPage struct {
	Addresses []string
	// Next is the cursor of the following page; empty at the end.
	Next string
}

// ListAddresses returns one page of a subscription's address set, in
// base58 order.
func (c *Client) ListAddresses(ctx context.Context, subID string, opts ListOptions) (*AddressPage, error) {
	var p struct {
		Addresses []string `json:"addresses"`
		Next      *string  `json:"next"`
	}
	if err := c.do(ctx, "GET", "/v1/subscriptions/"+pathID(subID)+"/addresses", opts.query(), nil, &p); err != nil {
		return nil, err
	}
	return &AddressPage{Addresses: p.Addresses, Next: deref(p.Next)}, nil
}

// AllAddresses iterates over a subscription's whole address set, a page of
// limit at a time (zero: the server's default). It stops at the first
// error, which it yields.
func (c *Client) AllAddresses(ctx context.Context, subID string, limit int) iter.Seq2[string, error] {
	return paginate(func(cursor string) ([]string, string, error) {
		p, err := c.ListAddresses(ctx, subID, ListOptions{Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return p.Addresses, p.Next, nil
	})
}
