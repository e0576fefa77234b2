// Package auth authenticates the edge's callers: tenant API keys, stored
// hashed in MongoDB, and the operator's admin key from the configuration.
// Lookups are cached for at most [MaxCacheAge], and a revocation anywhere
// drops the cached key on every edge through a bus.KeyChange on NATS.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/store"
)

// Key format.
const (
	// KeyPrefix starts every tenant API key; the rest is 32 random bytes
	// in unpadded base64url.
	KeyPrefix = "mt_"
	// KeyIDPrefix starts every key id.
	KeyIDPrefix = "key_"
	// MaxCacheAge bounds how long a lookup is trusted without asking
	// MongoDB again, so a revocation whose NATS message was lost still
	// takes effect within it.
	MaxCacheAge = time.Second
	// maxCacheEntries bounds the cache against callers sending endless
	// random keys; past it the cache starts afresh.
	maxCacheEntries = 10_000
)

// Errors of [Authenticator.Authenticate] and [Authenticator.Revoke].
var (
	// ErrNoKey means the request carried no key.
	ErrNoKey = errors.New("auth: no API key")
	// ErrBadKey means the key is unknown or revoked.
	ErrBadKey = errors.New("auth: invalid or revoked API key")
	// ErrKeyNotFound means no live key has the id given.
	ErrKeyNotFound = errors.New("auth: key not found")
	// ErrBadTenant means a tenant name is not acceptable.
	ErrBadTenant = errors.New("auth: invalid tenant")
)

// tenantRE is what a tenant name may be: it lands in logs, metrics and
// control messages, so keep it plain.
var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Principal is who a key belongs to.
type Principal struct {
	// KeyID is the key's id, or "admin" for the admin key.
	KeyID string
	// Tenant owns the key; empty for the admin key.
	Tenant string
	// Admin is true for the admin key only.
	Admin bool
}

// AdminKeyID is the KeyID of the admin principal.
const AdminKeyID = "admin"

// Config configures [New].
type Config struct {
	// DB holds the keys collection. Required.
	DB *mongo.Database
	// NATS carries key revocations between edges. Required.
	NATS *nats.Conn
	// Logger receives warnings. Nil discards them.
	Logger *slog.Logger
	// AdminKey is the operator's key for the /v1/keys routes. Empty
	// means no admin key: those routes refuse every caller.
	AdminKey string
	// CacheAge is how long a lookup is cached. Zero means
	// [MaxCacheAge]; it is capped at MaxCacheAge; negative disables the
	// cache.
	CacheAge time.Duration
	// Now returns the time. Nil means time.Now.
	Now func() time.Time
}

type cacheEntry struct {
	p       Principal
	ok      bool
	expires time.Time
}

// Authenticator checks API keys and creates and revokes them.
type Authenticator struct {
	cfg   Config
	coll  *mongo.Collection
	admin [sha256.Size]byte

	mu       sync.Mutex
	cache    map[string]cacheEntry // by key hash
	inflight map[string]*keyLookup // by key hash: reads under way
}

// keyLookup is a read of one key that concurrent requests share.
type keyLookup struct {
	done chan struct{} // closed once e and err are set
	e    cacheEntry
	err  error
}

// New returns an Authenticator. Call [Authenticator.Run] to receive
// revocations made by other edges.
func New(cfg Config) (*Authenticator, error) {
	if cfg.DB == nil || cfg.NATS == nil {
		return nil, errors.New("auth: DB and NATS are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheAge == 0 || cfg.CacheAge > MaxCacheAge {
		cfg.CacheAge = MaxCacheAge
	}
	a := &Authenticator{cfg: cfg, coll: cfg.DB.Collection(store.Keys), cache: map[string]cacheEntry{}, inflight: map[string]*keyLookup{}}
	if cfg.AdminKey != "" {
		a.admin = sha256.Sum256([]byte(cfg.AdminKey))
	}
	return a, nil
}

// Run drops cached keys revoked by any edge until ctx ends. It returns nil
// when ctx ends.
func (a *Authenticator) Run(ctx context.Context) error {
	sub, err := a.cfg.NATS.Subscribe(bus.KeysSubject, func(m *nats.Msg) {
		var kc bus.KeyChange
		if err := json.Unmarshal(m.Data, &kc); err != nil {
			a.cfg.Logger.Warn("bad key change message", "err", err)
			return
		}
		if kc.Op == bus.OpRevoke {
			a.forget(kc.KeyID)
		}
	})
	if err != nil {
		return fmt.Errorf("auth: subscribe %s: %w", bus.KeysSubject, err)
	}
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("auth: unsubscribe: %w", err)
	}
	return nil
}

// Hash returns the stored form of a key: hex SHA-256. Keys are 256 random
// bits, so a fast hash is enough; a slow one would only slow every request.
func Hash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Authenticate returns who key belongs to. It returns [ErrNoKey] for an
// empty key and [ErrBadKey] for an unknown or revoked one.
func (a *Authenticator) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" {
		return Principal{}, ErrNoKey
	}
	if a.cfg.AdminKey != "" {
		h := sha256.Sum256([]byte(key))
		if subtle.ConstantTimeCompare(h[:], a.admin[:]) == 1 {
			return Principal{KeyID: AdminKeyID, Admin: true}, nil
		}
	}
	if !strings.HasPrefix(key, KeyPrefix) {
		return Principal{}, ErrBadKey
	}
	hash := Hash(key)
	now := a.cfg.Now()
	if a.cfg.CacheAge > 0 {
		a.mu.Lock()
		e, hit := a.cache[hash]
		a.mu.Unlock()
		if hit && now.Before(e.expires) {
			if !e.ok {
				return Principal{}, ErrBadKey
			}
			return e.p, nil
		}
	}
	e, err := a.lookupShared(ctx, hash, now)
	if err != nil {
		return Principal{}, err
	}
	if !e.ok {
		return Principal{}, ErrBadKey
	}
	return e.p, nil
}

// lookupShared reads the key with hash once for every request that needs
// it meanwhile. Every client of an edge that restarted reconnects at
// once, most of them with the same few keys, and nothing is cached yet:
// ten thousand reads of one key would take every MongoDB connection of
// the pool, and most requests would wait past the store timeout (503).
// Each waiter stops waiting when its own context ends; the read itself
// ignores the reader's cancellation, since the others wait on it (the
// client's server selection timeout bounds it).
func (a *Authenticator) lookupShared(ctx context.Context, hash string, now time.Time) (cacheEntry, error) {
	a.mu.Lock()
	if l, ok := a.inflight[hash]; ok {
		a.mu.Unlock()
		select {
		case <-l.done:
			return l.e, l.err
		case <-ctx.Done():
			return cacheEntry{}, fmt.Errorf("auth: look up key: %w", ctx.Err())
		}
	}
	l := &keyLookup{done: make(chan struct{})}
	a.inflight[hash] = l
	a.mu.Unlock()
	l.e, l.err = a.lookup(context.WithoutCancel(ctx), hash)
	a.mu.Lock()
	delete(a.inflight, hash)
	if l.err == nil && a.cfg.CacheAge > 0 {
		l.e.expires = now.Add(a.cfg.CacheAge)
		if len(a.cache) >= maxCacheEntries {
			a.cache = map[string]cacheEntry{}
		}
		a.cache[hash] = l.e
	}
	a.mu.Unlock()
	close(l.done)
	return l.e, l.err
}

// lookup reads the key with hash from MongoDB: ok false when it is
// unknown or revoked.
func (a *Authenticator) lookup(ctx context.Context, hash string) (cacheEntry, error) {
	var doc store.KeyDoc
	err := a.coll.FindOne(ctx, bson.M{"hash": hash}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return cacheEntry{}, nil
	case err != nil:
		return cacheEntry{}, fmt.Errorf("auth: look up key: %w", err)
	case doc.RevokedAt != nil:
		return cacheEntry{}, nil
	}
	return cacheEntry{p: Principal{KeyID: doc.ID, Tenant: doc.Tenant}, ok: true}, nil
}

// forget drops the cached lookups of the key with id keyID.
func (a *Authenticator) forget(keyID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, e := range a.cache {
		if e.p.KeyID == keyID {
			delete(a.cache, h)
		}
	}
}

// NewKey is a key just created: the only time the key itself is known.
type NewKey struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Key    string `json:"key"`
}

// Create makes a key for tenant and stores its hash.
func (a *Authenticator) Create(ctx context.Context, tenant string) (NewKey, error) {
	if !tenantRE.MatchString(tenant) {
		return NewKey{}, fmt.Errorf("%w: %q: want 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit", ErrBadTenant, clip(tenant))
	}
	var secret [32]byte
	var id [12]byte
	// crypto/rand.Read never fails (Go 1.24+).
	_, _ = rand.Read(secret[:])
	_, _ = rand.Read(id[:])
	k := NewKey{
		ID:     KeyIDPrefix + hex.EncodeToString(id[:]),
		Tenant: tenant,
		Key:    KeyPrefix + base64.RawURLEncoding.EncodeToString(secret[:]),
	}
	doc := store.KeyDoc{ID: k.ID, Tenant: tenant, Hash: Hash(k.Key), CreatedAt: a.cfg.Now().UTC()}
	if _, err := a.coll.InsertOne(ctx, doc); err != nil {
		return NewKey{}, fmt.Errorf("auth: store key: %w", err)
	}
	return k, nil
}

// Revoke marks the key with id keyID revoked, forgets it at once on this
// edge and tells the other edges (whose streams of it close with 1008).
// It returns [ErrKeyNotFound] when no live key has that id, so a second
// revoke of the same key is a not-found.
func (a *Authenticator) Revoke(ctx context.Context, keyID string) error {
	now := a.cfg.Now().UTC()
	var doc store.KeyDoc
	err := a.coll.FindOneAndUpdate(ctx,
		bson.M{"_id": keyID, "revoked_at": nil},
		bson.M{"$set": bson.M{"revoked_at": now}},
	).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ErrKeyNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: revoke key: %w", err)
	}
	a.forget(keyID)
	msg, err := json.Marshal(bus.KeyChange{Op: bus.OpRevoke, KeyID: keyID, Tenant: doc.Tenant})
	if err != nil {
		return fmt.Errorf("auth: encode key change: %w", err)
	}
	// The revocation is stored; if the message is lost, the other edges'
	// caches still expire within MaxCacheAge.
	if err := a.cfg.NATS.Publish(bus.KeysSubject, msg); err != nil {
		a.cfg.Logger.Warn("publish key revocation", "key_id", keyID, "err", err)
		return nil
	}
	if err := a.cfg.NATS.FlushWithContext(ctx); err != nil {
		a.cfg.Logger.Warn("flush key revocation", "key_id", keyID, "err", err)
	}
	return nil
}

// RevokedAmong returns the ids among keyIDs of keys revoked (or gone). An
// edge asks after its NATS connection came back: revocations published
// while it was away never reached it, and the streams of those keys must
// close all the same.
func (a *Authenticator) RevokedAmong(ctx context.Context, keyIDs []string) ([]string, error) {
	if len(keyIDs) == 0 {
		return nil, nil
	}
	cur, err := a.coll.Find(ctx, bson.M{"_id": bson.M{"$in": keyIDs}, "revoked_at": nil},
		options.Find().SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return nil, fmt.Errorf("auth: live keys: %w", err)
	}
	var live []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &live); err != nil {
		return nil, fmt.Errorf("auth: live keys: %w", err)
	}
	alive := make(map[string]bool, len(live))
	for _, k := range live {
		alive[k.ID] = true
	}
	var out []string
	for _, id := range keyIDs {
		if !alive[id] && id != AdminKeyID {
			out = append(out, id)
		}
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}
