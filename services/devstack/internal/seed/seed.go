package seed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/subscription"
)

// Defaults of [Config]'s zero fields and of the command's flags.
const (
	DefaultEvents        = 1_000_000
	DefaultSubscriptions = 1_000
	DefaultHeavyEvents   = 100_000
	DefaultBatch         = 16 * store.PageSize * 5 // 10,240 events
	DefaultWorkers       = 2
	DefaultTenant        = "seed"
	DefaultDatabase      = "mongotron"
	DefaultMongoURI      = "mongodb://127.0.0.1:27017"
	// DefaultProgressInterval is how often a progress line is printed.
	DefaultProgressInterval = 5 * time.Second
)

// Config configures a [Seeder].
type Config struct {
	// Plan is what to write; its End zero means now.
	Plan Plan
	// Batch is how many events one write (store.AppendEvents) carries,
	// rounded up to whole pages. Zero means [DefaultBatch].
	Batch int
	// Workers is how many writes are in flight. Zero means
	// [DefaultWorkers].
	Workers int
	// Tenant owns the key and the subscriptions. Empty means
	// [DefaultTenant].
	Tenant string
	// APIKey is the tenant API key ("mt_…") to store, so that a key
	// already in hand reads the seeded subscriptions. Empty means a new
	// random one, returned in [Result].
	APIKey string
	// Retention is the store's event retention, for its indexes. Zero
	// means store.DefaultRetention.
	Retention time.Duration
	// Progress receives a line every ProgressInterval. Nil means none.
	Progress io.Writer
	// ProgressInterval is how often. Zero means [DefaultProgressInterval].
	ProgressInterval time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// RegisterFlags registers the seed flags on fs, with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Plan.Events, "events", DefaultEvents, "events to write in all")
	fs.IntVar(&c.Plan.Subscriptions, "subs", DefaultSubscriptions, "subscriptions the events are spread over")
	fs.IntVar(&c.Plan.HeavyEvents, "heavy-events", DefaultHeavyEvents, "events of the first subscription, the long history (0: an even share)")
	fs.Uint64Var(&c.Plan.Seed, "seed", 1, "seed of the ids, addresses and events (the same seed writes the same data)")
	fs.IntVar(&c.Batch, "batch", DefaultBatch, "events per write")
	fs.IntVar(&c.Workers, "workers", DefaultWorkers, "writes in flight")
	fs.StringVar(&c.Tenant, "tenant", DefaultTenant, "`tenant` of the key and the subscriptions")
	fs.StringVar(&c.APIKey, "api-key", "", "tenant API `key` (mt_…) to store and own the subscriptions (empty: a new one, printed)")
	fs.DurationVar(&c.Retention, "retention", store.DefaultRetention, "the store's event retention (for its indexes)")
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Plan.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Batch < 0 {
		errs = append(errs, fmt.Errorf("seed: batch %d is negative", c.Batch))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("seed: workers %d is negative", c.Workers))
	}
	if c.APIKey != "" && (len(c.APIKey) < 16 || c.APIKey[:3] != keyPrefix) {
		errs = append(errs, fmt.Errorf("seed: api key: want %s followed by 13 characters at least", keyPrefix))
	}
	return errors.Join(errs...)
}

// The edge's key format (services/edge/internal/auth): a prefix and 32
// random bytes, stored as the hex SHA-256 of the whole key.
const (
	keyPrefix   = "mt_"
	keyIDPrefix = "key_"
)

// NewAPIKey returns a new random tenant API key in the edge's format.
func NewAPIKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Result is what a seed wrote.
type Result struct {
	Tenant string
	KeyID  string
	APIKey string
	// Written is how many events this run wrote; Skipped how many were
	// there already (a seed run again continues where one stopped).
	Written, Skipped int
	Elapsed          time.Duration
}

// Rate is the events written per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Written) / r.Elapsed.Seconds()
}

// Seeder writes a [Plan] into a database.
type Seeder struct {
	cfg Config
	db  *mongo.Database

	written atomic.Int64
}

// New returns a seeder of db. It does no I/O.
func New(cfg Config, db *mongo.Database) (*Seeder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	// Whole pages: each write then makes its pages in one update each.
	cfg.Batch = (cfg.Batch + store.PageSize - 1) / store.PageSize * store.PageSize
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Tenant == "" {
		cfg.Tenant = DefaultTenant
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Plan.End.IsZero() {
		cfg.Plan.End = cfg.Now()
	}
	return &Seeder{cfg: cfg, db: db}, nil
}

// Plan returns the plan the seeder writes, its End set.
func (s *Seeder) Plan() Plan { return s.cfg.Plan }

// segment is events from of n of subscription sub.
type segment struct{ sub, from, n int }

// Run writes the key, the subscriptions and whatever part of their
// histories is not stored yet.
func (s *Seeder) Run(ctx context.Context) (Result, error) {
	start := s.cfg.Now()
	res := Result{Tenant: s.cfg.Tenant, APIKey: s.cfg.APIKey}
	if _, err := store.EnsureIndexes(ctx, s.db, s.cfg.Retention); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	if err := s.writeKey(ctx, &res); err != nil {
		return res, err
	}
	if err := s.writeSubscriptions(ctx); err != nil {
		return res, err
	}
	stored, err := s.storedCounts(ctx)
	if err != nil {
		return res, err
	}
	jobs := s.jobs(stored, &res)
	stop := s.progress(ctx, start, res.Skipped)
	err = s.runJobs(ctx, jobs)
	stop()
	res.Written = int(s.written.Load())
	res.Elapsed = s.cfg.Now().Sub(start)
	return res, err
}

// writeKey stores the tenant's key, a new one unless the config names
// one.
func (s *Seeder) writeKey(ctx context.Context, res *Result) error {
	if res.APIKey == "" {
		res.APIKey = NewAPIKey()
	}
	h := hashKey(res.APIKey)
	// The key's id follows from its hash, so storing the same key again
	// changes nothing.
	res.KeyID = keyIDPrefix + h[:24]
	doc := store.KeyDoc{ID: res.KeyID, Tenant: s.cfg.Tenant, Hash: h, CreatedAt: s.cfg.Now().UTC().Truncate(time.Millisecond)}
	_, err := s.db.Collection(store.Keys).UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
		bson.D{{Key: "$setOnInsert", Value: doc}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("seed: store key: %w", err)
	}
	return nil
}

// writeSubscriptions stores the subscriptions and their addresses; those
// stored by an earlier run stay as they are.
func (s *Seeder) writeSubscriptions(ctx context.Context) error {
	p := s.cfg.Plan
	now := s.cfg.Now()
	const chunk = 1000
	for lo := 0; lo < p.Subscriptions; lo += chunk {
		hi := min(lo+chunk, p.Subscriptions)
		subs := make([]any, 0, hi-lo)
		addrs := make([]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			sub := p.Subscription(i, s.cfg.Tenant, now)
			subs = append(subs, sub)
			a := p.Watched(i).String()
			addrs = append(addrs, subscription.Address{ID: subscription.AddressDocID(sub.ID, a), SubscriptionID: sub.ID, Address: a, AddedAt: sub.CreatedAt})
		}
		// The addresses first, as the edge does: invisible until their
		// subscription exists.
		if err := insertNew(ctx, s.db.Collection(store.SubscriptionAddresses), addrs); err != nil {
			return fmt.Errorf("seed: store addresses: %w", err)
		}
		if err := insertNew(ctx, s.db.Collection(store.Subscriptions), subs); err != nil {
			return fmt.Errorf("seed: store subscriptions: %w", err)
		}
	}
	return nil
}

// duplicateKey is MongoDB's (and FerretDB's) E11000 code.
const duplicateKey = 11000

// insertNew inserts docs, passing over those already stored.
func insertNew(ctx context.Context, coll *mongo.Collection, docs []any) error {
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if we.Code != duplicateKey {
				return err
			}
		}
		return nil
	}
	return err
}

// storedCounts returns how many events each subscription's head counts:
// those an earlier run wrote.
func (s *Seeder) storedCounts(ctx context.Context) (map[string]int, error) {
	p := s.cfg.Plan
	out := map[string]int{}
	const chunk = 1000
	for lo := 0; lo < p.Subscriptions; lo += chunk {
		ids := make([]string, 0, chunk)
		for i := lo; i < min(lo+chunk, p.Subscriptions); i++ {
			ids = append(ids, p.SubscriptionID(i))
		}
		cur, err := s.db.Collection(store.SubHeads).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return nil, fmt.Errorf("seed: read heads: %w", err)
		}
		var heads []struct {
			ID  string `bson:"_id"`
			Seq int64  `bson:"seq"`
		}
		if err := cur.All(ctx, &heads); err != nil {
			return nil, fmt.Errorf("seed: read heads: %w", err)
		}
		for _, h := range heads {
			out[h.ID] = int(h.Seq)
		}
	}
	return out, nil
}

// jobs splits what is left to write into jobs, each a list of writes one
// worker makes in order: the long history in one job (its writes must
// follow each other), the others packed whole into writes of about a
// batch.
func (s *Seeder) jobs(stored map[string]int, res *Result) [][][]segment {
	p := s.cfg.Plan
	var out [][][]segment
	var cur []segment
	size := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, [][]segment{cur})
			cur, size = nil, 0
		}
	}
	for i := range p.Subscriptions {
		n := p.Count(i)
		from := min(stored[p.SubscriptionID(i)], n)
		res.Skipped += from
		if from == n {
			continue
		}
		if n-from > s.cfg.Batch {
			var writes [][]segment
			for f := from; f < n; f += s.cfg.Batch {
				writes = append(writes, []segment{{sub: i, from: f, n: min(s.cfg.Batch, n-f)}})
			}
			out = append(out, writes)
			continue
		}
		if size+n-from > s.cfg.Batch {
			flush()
		}
		cur = append(cur, segment{sub: i, from: from, n: n - from})
		size += n - from
	}
	flush()
	return out
}

// runJobs runs the jobs on the workers and returns the first error.
func (s *Seeder) runJobs(ctx context.Context, jobs [][][]segment) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan [][]segment)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range s.cfg.Workers {
		wg.Go(func() {
			for job := range ch {
				for _, w := range job {
					if err := s.write(ctx, w); err != nil {
						once.Do(func() { firstErr = err; cancel() })
						break
					}
				}
			}
		})
	}
	// The long jobs first, so they do not finish alone at the end.
	for _, j := range sortLongFirst(jobs) {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

func sortLongFirst(jobs [][][]segment) [][][]segment {
	out := make([][][]segment, 0, len(jobs))
	for _, j := range jobs {
		if len(j) > 1 {
			out = append(out, j)
		}
	}
	for _, j := range jobs {
		if len(j) <= 1 {
			out = append(out, j)
		}
	}
	return out
}

// write stores the events of segs with one store.AppendEvents.
func (s *Seeder) write(ctx context.Context, segs []segment) error {
	n := 0
	for _, sg := range segs {
		n += sg.n
	}
	docs := make([]store.EventDoc, 0, n)
	for _, sg := range segs {
		for seq := sg.from; seq < sg.from+sg.n; seq++ {
			d, err := s.cfg.Plan.Doc(sg.sub, seq)
			if err != nil {
				return err
			}
			docs = append(docs, d)
		}
	}
	if err := store.AppendEvents(ctx, s.db, docs...); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	s.written.Add(int64(n))
	return nil
}

// progress prints a line every interval until the returned stop is
// called.
func (s *Seeder) progress(ctx context.Context, start time.Time, skipped int) (stop func()) {
	if s.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.cfg.ProgressInterval)
		defer t.Stop()
		total := s.cfg.Plan.Events
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				w := s.written.Load()
				el := s.cfg.Now().Sub(start)
				fmt.Fprintf(s.cfg.Progress, "seed: %d/%d events (%.0f%%), %.0f events/s, %s\n",
					int(w)+skipped, total, 100*float64(int(w)+skipped)/float64(total), float64(w)/el.Seconds(), el.Round(time.Second))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
