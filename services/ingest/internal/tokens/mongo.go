package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/tron"
)

// Collection holds one [Doc] per token contract the ingest has asked
// about. It needs no index but _id: it is read whole at start and by _id
// after, and written by upserts by _id.
const Collection = "tokens"

// Doc is a token contract's document in [Collection]. Contracts of the
// built-in table have none: the table always answers for them.
type Doc struct {
	// ID is the contract address, base58.
	ID string `bson:"_id"`
	// Symbol and Name are what the contract answered to symbol() and
	// name(), cleaned for display; empty when it did not answer.
	Symbol string `bson:"symbol"`
	Name   string `bson:"name"`
	// Decimals is what the contract answered to decimals(); null while
	// unknown (never answered, or no decimals()). It is never guessed.
	Decimals *int `bson:"decimals"`
	// ResolvedAt is when the contract last answered, with or without
	// decimals; absent while it never has.
	ResolvedAt *time.Time `bson:"resolved_at,omitempty"`
	// CheckedAt is the last attempt, answered or failed.
	CheckedAt time.Time `bson:"checked_at"`
	// NextRefresh is when the contract is asked again, if it is still
	// seen then.
	NextRefresh time.Time `bson:"next_refresh"`
	// Failures counts the attempts since the last answer with decimals
	// that failed or had none; it sets the retry backoff.
	Failures int `bson:"failures"`
	// LastError is why the last attempt gave no decimals; absent after
	// an answer with decimals.
	LastError string `bson:"last_error,omitempty"`
}

// docOf returns the document of e.
func docOf(a tron.Address, e *entry) Doc {
	d := Doc{
		ID: a.String(), Symbol: e.info.Symbol, Name: e.info.Name,
		CheckedAt: e.checked, NextRefresh: e.next, Failures: e.failures, LastError: e.lastErr,
	}
	if e.info.Decimals >= 0 {
		dec := e.info.Decimals
		d.Decimals = &dec
	}
	if !e.resolved.IsZero() {
		t := e.resolved
		d.ResolvedAt = &t
	}
	return d
}

// toEntry returns the entry d records, and the contract's address; ok is
// false for a document that names no valid address.
func (d *Doc) toEntry() (tron.Address, *entry, bool) {
	a, err := tron.ParseBase58(d.ID)
	if err != nil {
		return tron.Address{}, nil, false
	}
	e := &entry{
		info:     tron.TokenInfo{Symbol: d.Symbol, Name: d.Name, Decimals: -1},
		checked:  d.CheckedAt,
		next:     d.NextRefresh,
		failures: max(d.Failures, 0),
		lastErr:  d.LastError,
	}
	if d.Decimals != nil && *d.Decimals >= 0 && *d.Decimals <= 255 {
		e.info.Decimals = *d.Decimals
	}
	if d.ResolvedAt != nil {
		e.resolved = *d.ResolvedAt
	}
	e.setOK()
	return a, e, true
}

// writeTimeout bounds one read or write of a document, and
// defaultRetryWrite is the wait after a failed write.
const (
	writeTimeout      = 10 * time.Second
	defaultRetryWrite = 10 * time.Second
	// loadBatch is how many loaded entries are installed per hold of
	// the lock, so that a large load never holds up a lookup for long.
	loadBatch = 1000
)

// Load reads [Collection] into memory, up to MaxEntries documents, once:
// later calls return nil at once. [Cache.Run] calls it first, retrying
// until it succeeds; calling it before the first block is decoded makes
// every token resolved before a restart known from that block on. An
// entry already in memory is newer than its document and is kept.
// Without a DB it does nothing.
func (c *Cache) Load(ctx context.Context) error {
	if c.coll == nil {
		return nil
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if c.loaded.Load() {
		return nil
	}
	// Created up front, idempotently, so that the first writes (and a
	// standby's) do not race to create it.
	if err := c.coll.Database().CreateCollection(ctx, Collection); err != nil && !isNamespaceExists(err) {
		return fmt.Errorf("tokens: creating %s: %w", Collection, err)
	}
	cur, err := c.coll.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("tokens: loading %s: %w", Collection, err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	type loaded struct {
		a tron.Address
		e *entry
	}
	batch := make([]loaded, 0, loadBatch)
	n, bad := 0, 0
	install := func() {
		c.mu.Lock()
		for _, l := range batch {
			if _, ok := c.entries[l.a]; !ok {
				c.put(l.a, l.e)
			}
		}
		c.mu.Unlock()
		batch = batch[:0]
	}
	for n < c.cfg.MaxEntries && cur.Next(ctx) {
		var d Doc
		if err := cur.Decode(&d); err != nil {
			bad++
			continue
		}
		a, e, ok := d.toEntry()
		if !ok {
			bad++
			continue
		}
		if _, builtin := c.table[a]; builtin {
			continue
		}
		batch = append(batch, loaded{a, e})
		n++
		if len(batch) == loadBatch {
			install()
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("tokens: loading %s: %w", Collection, err)
	}
	install()
	c.loaded.Store(true)
	c.logger.Info("tokens loaded", "count", n, "unreadable", bad)
	return nil
}

// read returns the entry stored for a, or nil when there is none.
func (c *Cache) read(ctx context.Context, a tron.Address) (*entry, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	var d Doc
	err := c.coll.FindOne(ctx, bson.D{{Key: "_id", Value: a.String()}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens: reading %s: %w", a, err)
	}
	_, e, ok := d.toEntry()
	if !ok {
		return nil, nil
	}
	return e, nil
}

// write upserts the document of e. It is not cancelled by ctx once
// started, only bounded by writeTimeout: a cancelled write may still
// land, and race with the next one.
func (c *Cache) write(ctx context.Context, a tron.Address, e *entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	d := docOf(a, e)
	filter := bson.D{{Key: "_id", Value: d.ID}}
	_, err := c.coll.ReplaceOne(ctx, filter, d, options.Replace().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// Two upserts of one _id both found nothing and both inserted
		// (an earlier write that timed out, another ingest): the
		// document exists now, so this one replaces it.
		_, err = c.coll.ReplaceOne(ctx, filter, d, options.Replace().SetUpsert(true))
	}
	if err != nil {
		return fmt.Errorf("tokens: writing %s: %w", a, err)
	}
	return nil
}

// flush writes every entry waiting to be written, in no order, and
// reports whether all were. It stops at the first failure (MongoDB is
// likely down) or once ctx is done: what is left waits for the next
// flush. Only the writer
// loop (or Run, once the loop has stopped) calls it, so that an older
// state of a contract is never written after a newer one.
func (c *Cache) flush(ctx context.Context) bool {
	c.mu.Lock()
	todo := c.dirty
	c.dirty = make(map[tron.Address]*entry)
	c.mu.Unlock()
	for a, e := range todo {
		err := ctx.Err()
		if err == nil {
			err = c.write(ctx, a, e)
		}
		if err == nil {
			delete(todo, a)
			continue
		}
		if ctx.Err() == nil {
			c.m.storeErrors.WithLabelValues("write").Inc()
			c.logger.Warn("tokens: writing to MongoDB; retrying", "token", a.String(), "err", err, "left", len(todo), "retry_in", c.retryWrite)
		}
		// Back in the queue, unless a newer state of the contract
		// came in meanwhile.
		c.mu.Lock()
		for a, e := range todo {
			if _, newer := c.dirty[a]; !newer {
				c.dirty[a] = e
			}
		}
		c.mu.Unlock()
		return false
	}
	return true
}

// writeLoop writes resolved entries to MongoDB as they come, until ctx is
// done.
func (c *Cache) writeLoop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-retry.C:
		}
		if !c.flush(ctx) {
			retry.Reset(c.retryWrite)
		}
	}
}

// isNamespaceExists reports whether err says the collection exists
// already (code 48).
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 48 || ce.Name == "NamespaceExists")
}
