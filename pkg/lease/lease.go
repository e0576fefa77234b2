// Package lease is a lease in MongoDB that one holder at a time has, with
// a fencing token that grows with every tenure: the ingest's leader lease
// and the webhook deliverer's lanes (one lease per subscription) are
// both made of it.
//
// Each tenure of a lease is a document of its own, taken by inserting it
// with the _id "<name>#<token>" ([TenureID]): of two holders taking the
// lease at once exactly one insert succeeds, on MongoDB and on FerretDB
// alike. FerretDB has no transactions and applies an update as a read then
// a write, so a conditional update is no compare-and-set there, and two
// holders could both take an expired lease with the same token. Only the
// holder of a tenure writes to it afterwards.
//
// Every read and write names one document by _id: FerretDB's SQLite
// backend serves a filter on _id equality from its primary key, and
// reads the whole collection for any other. A hint document, with the
// _id "<name>", holds the latest token; the latest tenure is found from it
// by looking up the tokens after it one by one, which is two or three
// lookups. Only a lease without a hint (its first tenure, or tenures
// written before hints existed) is looked for with a query on its name.
//
// A Store decides nothing by the clock but whether a tenure has expired.
// Its clock is [Config.Now], so tests move time instead of waiting.
package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Errors of a [Store].
var (
	// ErrHeld: another holder has the lease, unexpired, or took the
	// tenure first.
	ErrHeld = errors.New("lease: held by another holder")
	// ErrLost: the tenure is no longer the lease's latest, or no longer
	// this holder's; a newer one took over.
	ErrLost = errors.New("lease: tenure lost")
)

// Fields names a tenure document's fields. A collection written before
// this package keeps its own names, so that the old and the new version
// of a service, side by side during a rolling upgrade, see each other's
// tenures.
type Fields struct {
	// Name holds the lease's name. Empty means "lease".
	Name string
	// Holder holds the holder; empty in a parked tenure. Empty means
	// "holder".
	Holder string
	// Token holds the fencing token. Empty means "token".
	Token string
	// Expires holds when the tenure ends unless renewed. Empty means
	// "expires_at".
	Expires string
}

func (f Fields) withDefaults() Fields {
	if f.Name == "" {
		f.Name = "lease"
	}
	if f.Holder == "" {
		f.Holder = "holder"
	}
	if f.Token == "" {
		f.Token = "token"
	}
	if f.Expires == "" {
		f.Expires = "expires_at"
	}
	return f
}

// hintField holds, in a lease's hint document, its latest token.
const hintField = "latest_token"

// Config configures a [Store].
type Config struct {
	// Collection holds the tenures and the hints. Required.
	Collection *mongo.Collection
	// Fields names the tenure documents' fields. The zero value means
	// lease, holder, token and expires_at.
	Fields Fields
	// Now returns the time. Nil means time.Now.
	Now func() time.Time
}

// Store takes, renews and releases leases in one collection. It is safe
// for concurrent use.
type Store struct {
	coll *mongo.Collection
	f    Fields
	now  func() time.Time
}

// New returns a store. It does no I/O.
func New(cfg Config) (*Store, error) {
	if cfg.Collection == nil {
		return nil, errors.New("lease: Collection is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{coll: cfg.Collection, f: cfg.Fields.withDefaults(), now: cfg.Now}, nil
}

// Tenure is one holding of a lease.
type Tenure struct {
	Name string
	// Holder is who holds it; empty once it is parked ([Store.Park]).
	Holder string
	// Token is the fencing token: one more than the tenure before.
	Token int64
	// Expires is when it ends unless renewed, by the store's clock.
	Expires time.Time
}

// TenureID returns the _id of the tenure of lease name with token. The
// token is zero-padded, so the ids of a lease sort in token order.
func TenureID(name string, token int64) string { return fmt.Sprintf("%s#%016d", name, token) }

// Latest returns the lease's latest tenure, or nil before the first.
func (s *Store) Latest(ctx context.Context, name string) (*Tenure, error) {
	t, _, err := s.latest(ctx, name)
	return t, err
}

// latest returns the latest tenure and the earlier ones it came across,
// which an acquisition deletes.
func (s *Store) latest(ctx context.Context, name string) (*Tenure, []int64, error) {
	var hint bson.M
	err := s.coll.FindOne(ctx, bson.M{"_id": name}).Decode(&hint)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return s.scan(ctx, name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lease: read %s: %w", name, err)
	}
	from, ok := asInt64(hint[hintField])
	if !ok {
		return s.scan(ctx, name)
	}
	last, err := s.byToken(ctx, name, from)
	if err != nil {
		return nil, nil, err
	}
	if last == nil {
		// The hint lags behind a tenure that deleted its predecessors,
		// or a tenure was removed by hand.
		return s.scan(ctx, name)
	}
	var seen []int64
	for {
		next, err := s.byToken(ctx, name, last.Token+1)
		if err != nil {
			return nil, nil, err
		}
		if next == nil {
			return last, seen, nil
		}
		seen = append(seen, last.Token)
		last = next
	}
}

// byToken returns the tenure of name with token, or nil.
func (s *Store) byToken(ctx context.Context, name string, token int64) (*Tenure, error) {
	var d bson.M
	err := s.coll.FindOne(ctx, bson.M{"_id": TenureID(name, token)}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease: read %s: %w", name, err)
	}
	t := s.decode(d)
	t.Name, t.Token = name, token
	return &t, nil
}

// scan finds the latest tenure of name by a query on its name: for a
// lease without a hint.
func (s *Store) scan(ctx context.Context, name string) (*Tenure, []int64, error) {
	cur, err := s.coll.Find(ctx, bson.M{s.f.Name: name})
	if err != nil {
		return nil, nil, fmt.Errorf("lease: read %s: %w", name, err)
	}
	var ds []bson.M
	if err := cur.All(ctx, &ds); err != nil {
		return nil, nil, fmt.Errorf("lease: read %s: %w", name, err)
	}
	var (
		last *Tenure
		seen []int64
	)
	for _, d := range ds {
		t := s.decode(d)
		t.Name = name
		switch {
		case last == nil:
			last = &t
		case t.Token > last.Token:
			seen = append(seen, last.Token)
			last = &t
		default:
			seen = append(seen, t.Token)
		}
	}
	return last, seen, nil
}

func (s *Store) decode(d bson.M) Tenure {
	var t Tenure
	t.Holder, _ = d[s.f.Holder].(string)
	t.Token, _ = asInt64(d[s.f.Token])
	if dt, ok := d[s.f.Expires].(bson.DateTime); ok {
		t.Expires = dt.Time().UTC()
	}
	return t
}

// stored returns t as MongoDB stores it: UTC, to the millisecond, which
// cuts a tenure short rather than long.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		return int64(x), true
	}
	return 0, false
}

// Acquire takes lease name for holder for ttl, with the next token, when
// it has no tenure yet, its latest tenure expired, or holder holds it
// already (an earlier attempt that timed out on holder's side may have
// taken it). Otherwise it returns [ErrHeld] with the latest tenure, whose
// Expires says until when it is held; after losing a race for the same
// token that is the winner's.
func (s *Store) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (Tenure, error) {
	now := s.now()
	last, seen, err := s.latest(ctx, name)
	if err != nil {
		return Tenure{}, fmt.Errorf("lease: acquire %s: %w", name, err)
	}
	var token int64 = 1
	if last != nil {
		if last.Expires.After(now) && (holder == "" || last.Holder != holder) {
			return *last, ErrHeld
		}
		token = last.Token + 1
	}
	t := Tenure{Name: name, Holder: holder, Token: token, Expires: stored(now.Add(ttl))}
	_, err = s.coll.InsertOne(ctx, bson.D{
		{Key: "_id", Value: TenureID(name, token)},
		{Key: s.f.Name, Value: name},
		{Key: s.f.Holder, Value: holder},
		{Key: s.f.Token, Value: token},
		{Key: s.f.Expires, Value: t.Expires},
	})
	if mongo.IsDuplicateKeyError(err) {
		if cur, err := s.Latest(ctx, name); err == nil && cur != nil {
			return *cur, ErrHeld
		}
		return Tenure{Name: name, Token: token, Expires: now}, ErrHeld
	}
	if err != nil {
		return Tenure{}, fmt.Errorf("lease: acquire %s: %w", name, err)
	}
	// The hint must be at this token before the tenure counts: a reader
	// whose hint lags behind tenures whose predecessors were deleted
	// would otherwise miss them. $max keeps it from going back.
	_, err = s.coll.UpdateOne(ctx, bson.M{"_id": name}, bson.M{"$max": bson.M{hintField: token}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return Tenure{}, fmt.Errorf("lease: acquire %s: hint: %w", name, err)
	}
	// Earlier tenures are history; losing this cleanup is harmless.
	if last != nil {
		seen = append(seen, last.Token)
	}
	for _, old := range seen {
		_, _ = s.coll.DeleteOne(ctx, bson.M{"_id": TenureID(name, old)})
	}
	return t, nil
}

// Check returns nil if t is still the lease's latest tenure, t's holder's,
// and unexpired, and otherwise an error wrapping [ErrLost] (or the error
// of reading the lease).
func (s *Store) Check(ctx context.Context, t Tenure) error {
	now := s.now()
	last, err := s.Latest(ctx, t.Name)
	if err != nil {
		return fmt.Errorf("lease: check %s: %w", t.Name, err)
	}
	if last == nil || last.Token != t.Token || last.Holder != t.Holder {
		return fmt.Errorf("lease: %s token %d taken over: %w", t.Name, t.Token, ErrLost)
	}
	if !last.Expires.After(now) {
		return fmt.Errorf("lease: %s token %d expired: %w", t.Name, t.Token, ErrLost)
	}
	return nil
}

// Renew extends t to ttl from now and returns it renewed. It returns an
// error wrapping [ErrLost] when a newer tenure took over, and another
// error when MongoDB did not answer. A tenure that expired but was not
// taken over is renewed: nobody else acted on its expiry.
func (s *Store) Renew(ctx context.Context, t Tenure, ttl time.Duration) (Tenure, error) {
	until := stored(s.now().Add(ttl))
	last, err := s.Latest(ctx, t.Name)
	if err != nil {
		return t, fmt.Errorf("lease: renew %s: %w", t.Name, err)
	}
	if last == nil || last.Token != t.Token || last.Holder != t.Holder {
		return t, fmt.Errorf("lease: %s token %d taken over: %w", t.Name, t.Token, ErrLost)
	}
	res, err := s.coll.UpdateOne(ctx, bson.M{"_id": TenureID(t.Name, t.Token)}, bson.M{"$set": bson.M{s.f.Expires: until}})
	if err != nil {
		return t, fmt.Errorf("lease: renew %s: %w", t.Name, err)
	}
	if res.MatchedCount == 0 {
		return t, fmt.Errorf("lease: %s token %d taken over: %w", t.Name, t.Token, ErrLost)
	}
	t.Expires = until
	return t, nil
}

// Release ends t now, so that another holder takes the lease at once.
// The tenure keeps its holder, as a record.
func (s *Store) Release(ctx context.Context, t Tenure) error {
	_, err := s.coll.UpdateOne(ctx, bson.M{"_id": TenureID(t.Name, t.Token)}, bson.M{"$set": bson.M{s.f.Expires: s.now()}})
	if err != nil {
		return fmt.Errorf("lease: release %s: %w", t.Name, err)
	}
	return nil
}

// Park ends t and keeps the lease from everyone, t's holder included,
// until until: a webhook lane whose next delivery waits for its retry is
// parked until then. [Store.Wake] ends the wait early.
func (s *Store) Park(ctx context.Context, t Tenure, until time.Time) error {
	_, err := s.coll.UpdateOne(ctx, bson.M{"_id": TenureID(t.Name, t.Token)}, bson.M{"$set": bson.M{s.f.Holder: "", s.f.Expires: until}})
	if err != nil {
		return fmt.Errorf("lease: park %s: %w", t.Name, err)
	}
	return nil
}

// Wake ends the wait of a parked lease, so that it can be taken at once.
// A lease someone holds is left alone: its holder sees new work itself.
func (s *Store) Wake(ctx context.Context, name string) error {
	now := s.now()
	last, err := s.Latest(ctx, name)
	if err != nil {
		return fmt.Errorf("lease: wake %s: %w", name, err)
	}
	if last == nil || last.Holder != "" || !last.Expires.After(now) {
		return nil
	}
	// Only a newer tenure could have changed since the read, and this
	// one, parked, is never held again.
	_, err = s.coll.UpdateOne(ctx, bson.M{"_id": TenureID(name, last.Token)}, bson.M{"$set": bson.M{s.f.Expires: now}})
	if err != nil {
		return fmt.Errorf("lease: wake %s: %w", name, err)
	}
	return nil
}
