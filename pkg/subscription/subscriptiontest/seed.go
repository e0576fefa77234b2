// Package subscriptiontest fills a database with subscriptions shaped
// exactly as the edge's API stores them (a [subscription.Subscription]
// document and one [subscription.Address] document per address), fast, so
// that benchmarks can measure the subscription writes and their control
// messages against a store holding 100,000 of them.
package subscriptiontest

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Defaults of [SeedConfig].
const (
	DefaultTenants = 100
	DefaultBatch   = 10_000
)

// SeedConfig configures [Seed].
type SeedConfig struct {
	// Count is how many subscriptions to store.
	Count int
	// From is the number of the first, so that seeds add up: Seed stores
	// subscriptions From to From+Count-1 (see [ID]).
	From int
	// Tenants is how many tenants own them, in turn ("tenant-0", …).
	// Zero means [DefaultTenants].
	Tenants int
	// AddressesEach is the size of each address set. Zero means one;
	// negative means none (the subscriptions then watch a contract).
	AddressesEach int
	// Batch is how many documents go in one InsertMany. Zero means
	// [DefaultBatch].
	Batch int
	// Now is the creation time recorded. Zero means time.Now.
	Now time.Time
}

// ID returns the id of the i-th subscription [Seed] stores: it has the
// shape of the edge's ids (IDPrefix and 24 hex digits) and never clashes
// with a random one in practice.
func ID(i int) string { return fmt.Sprintf("%s%024x", subscription.IDPrefix, i) }

// Tenant returns the tenant of the i-th subscription of a seed with n
// tenants.
func Tenant(i, n int) string { return fmt.Sprintf("tenant-%d", i%n) }

// Address returns the j-th address of the i-th subscription's set. Its
// last byte is 0xA5, so it differs from the addresses tests usually make.
func Address(i, j int) string {
	var a tron.Address
	a[0] = tron.AddressPrefix
	a[1], a[2], a[3], a[4] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	a[5], a[6], a[7] = byte(j>>16), byte(j>>8), byte(j)
	a[20] = 0xA5
	return a.String()
}

// Seed stores cfg.Count active subscriptions, with their address sets,
// in batches of unordered InsertMany calls; it sends no control message.
// The documents are those a create through the API would store, from a
// request with a label and the addresses (or a contract) only.
func Seed(ctx context.Context, db *mongo.Database, cfg SeedConfig) error {
	if cfg.Tenants <= 0 {
		cfg.Tenants = DefaultTenants
	}
	if cfg.AddressesEach == 0 {
		cfg.AddressesEach = 1
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	now := cfg.Now.UTC().Truncate(time.Millisecond)
	var subs, addrs []any
	// Both go in together, the address sets first, as the API writes
	// them.
	flush := func() error {
		for _, b := range []struct {
			coll string
			docs *[]any
		}{{store.SubscriptionAddresses, &addrs}, {store.Subscriptions, &subs}} {
			if len(*b.docs) == 0 {
				continue
			}
			if _, err := db.Collection(b.coll).InsertMany(ctx, *b.docs, options.InsertMany().SetOrdered(false)); err != nil {
				return fmt.Errorf("subscriptiontest: seed %s: %w", b.coll, err)
			}
			*b.docs = (*b.docs)[:0]
		}
		return nil
	}
	for i := cfg.From; i < cfg.From+cfg.Count; i++ {
		s, set, err := stored(i, cfg, now)
		if err != nil {
			return err
		}
		for _, ad := range set {
			addrs = append(addrs, subscription.Address{ID: subscription.AddressDocID(s.ID, ad), SubscriptionID: s.ID, Address: ad, AddedAt: now})
		}
		subs = append(subs, s)
		if len(subs) >= cfg.Batch || len(addrs) >= cfg.Batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// stored returns the i-th subscription as the API's create stores it: the
// request's normalised form with the server-side fields set.
func stored(i int, cfg SeedConfig, now time.Time) (*subscription.Subscription, []string, error) {
	req := subscription.Request{Label: subscription.Field[string]{Set: true, Value: fmt.Sprintf("seed %d", i)}}
	if cfg.AddressesEach > 0 {
		set := make([]string, cfg.AddressesEach)
		for j := range set {
			set[j] = Address(i, j)
		}
		req.Addresses = subscription.Field[[]string]{Set: true, Value: set}
	} else {
		req.Contracts = subscription.Field[[]string]{Set: true, Value: []string{"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}}
	}
	s, set, err := req.New()
	if err != nil {
		return nil, nil, fmt.Errorf("subscriptiontest: subscription %d: %w", i, err)
	}
	s.ID = ID(i)
	s.Tenant = Tenant(i, cfg.Tenants)
	s.Status = subscription.StatusActive
	s.AddressCount = int64(len(set))
	s.CreatedAt, s.UpdatedAt = now, now
	s.Version = 1
	return s, set, nil
}
