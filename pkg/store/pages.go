package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// History pages.
//
// History is read from pages, never by a query over the events: each
// subscription's events are also stored, in cursor order, in pages of
// [PageSize], each one document found by _id equality alone. An event's
// seq is its position in its subscription's history (0, 1, 2, … in cursor
// order); page n holds seqs [n*PageSize, (n+1)*PageSize). Pages are
// grouped in chunks of [ChunkPages]: a small bounds document per chunk
// names each of its pages with its first cursor, written once, when the
// page is made, so that a reader finds the page of any cursor with a
// binary search over bounds, not over pages. See [Pages.Scan] for the
// reads.
//
// Why _id equality alone: it is the one lookup both stores serve without
// reading the whole collection. MongoDB serves it from the _id index.
// FerretDB 1.24 on SQLite sends it to SQLite but does not use the _id
// index for it: SQLite reads the table in insertion order up to the
// match (about 1 µs per KB of the documents before it), and turning the
// match into BSON costs about 80 µs per KB. So on FerretDB the documents
// are spread over [FerretDBPartitions] collections by a hash of their
// subscription and chunk (and bounds over a sixteenth as many), which
// keeps the part a lookup reads at a 256th of the pages, and a page keeps
// its events compressed, in a binary per write (see [encodeEntries]), so
// the part read is a quarter of the bytes and the match a few values to
// decode. MongoDB keeps one collection of each. More collections would cost FerretDB more: each query lists
// the database's collections.
//
// The writers (the ingest's follower and backfill) give every event its
// seq, store the events, then write their pages ([Pages.Write]), and only
// then publish them: whatever was published is in the pages. A write
// sets its events at the place of its first seq in its page, clears what
// the page held after that, and sets the page's end after its last: a
// redo writes the same again, and a redo that delivers otherwise leaves
// the page ending where it does. Every
// update names its document by _id alone, the one filter FerretDB hands
// to SQLite; a filter with more in it makes FerretDB decode every
// document of the collection to test it. So a write cannot be refused by
// a condition: a deposed leader is kept from writing by the lease check
// before it (see the ingest's follower), and the pages record the highest
// fencing token that wrote them.

// Collections of the history pages; on FerretDB each is split into
// partitions named with a "." and their number.
const (
	// EventPages holds the pages.
	EventPages = "event_pages"
	// EventPageBounds holds a bounds document per chunk of pages.
	EventPageBounds = "event_page_bounds"
)

// Sizes of the history pages.
const (
	// PageSize is how many events a page holds: a REST page of 100
	// events reads one or two pages, and an append rewrites at most this
	// many.
	PageSize = 128
	// ChunkPages is how many pages one bounds document describes.
	ChunkPages = 32
	// FerretDBPartitions is how many collections hold the pages on
	// FerretDB; their bounds take a sixteenth as many.
	FerretDBPartitions = 256
)

// PageEntry is one event in a page.
type PageEntry struct {
	Cursor string
	// CreatedAt is when the event was stored.
	CreatedAt time.Time
	// JSON is the event exactly as published and streamed.
	JSON []byte
}

// EntryFields are the fields of an entry's event that the readers filter
// and account by, read from its JSON.
type EntryFields struct {
	EventID string `json:"id"`
	Removed bool   `json:"removed"`
	Kind    string `json:"kind"`
	TxID    string `json:"tx_id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Watched string `json:"watched"`
	Data    *struct {
		Votes []struct {
			Address string `json:"address"`
		} `json:"votes"`
	} `json:"data"`
}

// Fields decodes what the readers need of the entry's event.
func (e PageEntry) Fields() (EntryFields, error) {
	var f EntryFields
	if err := json.Unmarshal(e.JSON, &f); err != nil {
		return EntryFields{}, fmt.Errorf("store: event %s: %w", e.Cursor, err)
	}
	return f, nil
}

// HasAddress reports whether a is one of the event's parties (from, to,
// voted) or its watched address, as [EventDoc].Addresses has them.
func (f EntryFields) HasAddress(a string) bool {
	if f.From == a || f.To == a || f.Watched == a {
		return true
	}
	if f.Data != nil {
		for _, v := range f.Data.Votes {
			if v.Address == a {
				return true
			}
		}
	}
	return false
}

// pageDoc is one page as stored. Each write keeps its events in W, in
// one compressed binary keyed by the place of its first event in the page
// (seq - Page*PageSize, in decimal): see [encodeEntries]. Pages written
// before that keep theirs in three maps keyed by place: C, their cursors,
// At, when each was stored, and J, their JSON. Either way a write sets
// its places without reading the page.
type pageDoc struct {
	ID             string               `bson:"_id"`
	SubscriptionID string               `bson:"subscription_id"`
	Page           int64                `bson:"page"`
	Start          int64                `bson:"start"`
	End            int64                `bson:"end"`
	W              map[string][]byte    `bson:"w,omitempty"`
	C              map[string]string    `bson:"c,omitempty"`
	At             map[string]time.Time `bson:"at,omitempty"`
	J              map[string][]byte    `bson:"j,omitempty"`
	// CreatedAt is that of its newest event: the page expires with it.
	CreatedAt time.Time `bson:"created_at"`
	// Fence is the highest fencing token that wrote it.
	Fence int64 `bson:"fence"`
}

// full reports whether the page holds every seq it can: only then may a
// next page exist.
func full(page, end int64) bool { return end >= (page+1)*PageSize }

// pageBound is what a bounds document says of one of its pages, all
// written when the page was made.
type pageBound struct {
	Start int64  `bson:"start"`
	First string `bson:"first"`
	// At is when its first event was stored: the page's events are all
	// older than the next page's first.
	At time.Time `bson:"at"`
}

// boundsDoc describes the pages of one chunk of a subscription's history.
type boundsDoc struct {
	ID             string `bson:"_id"`
	SubscriptionID string `bson:"subscription_id"`
	Chunk          int64  `bson:"chunk"`
	// Pages is keyed by page number, in decimal.
	Pages map[string]pageBound `bson:"pages"`
	// Oldest is the At of its first page: the sweep looks at the chunk
	// once it passes the retention.
	Oldest time.Time `bson:"oldest"`
	Fence  int64     `bson:"fence"`
}

// pageNums returns the chunk's page numbers in order.
func (b *boundsDoc) pageNums() []int64 {
	out := make([]int64, 0, len(b.Pages))
	for n := b.Chunk * ChunkPages; n < (b.Chunk+1)*ChunkPages && len(out) < len(b.Pages); n++ {
		if _, ok := b.Pages[strconv.FormatInt(n, 10)]; ok {
			out = append(out, n)
		}
	}
	return out
}

func (b *boundsDoc) page(n int64) (pageBound, bool) {
	pb, ok := b.Pages[strconv.FormatInt(n, 10)]
	return pb, ok
}

// PageID returns the _id of page n of a subscription's history; the fixed
// width makes a subscription's ids sort by page.
func PageID(subscriptionID string, n int64) string {
	return fmt.Sprintf("%s|%012d", subscriptionID, n)
}

// boundsID returns the _id of the bounds of a chunk.
func boundsID(sub string, chunk int64) string { return fmt.Sprintf("%s|%08d", sub, chunk) }

func chunkOf(page int64) int64 { return page / ChunkPages }

// Pages reads and writes the history pages of a database. Its methods are
// safe for concurrent use; the first finds out which store serves the
// database (one round trip) and how the pages are laid out there.
type Pages struct {
	db *mongo.Database

	mu    sync.Mutex
	parts int // partitions of the pages; 0 until known
}

// NewPages returns the history pages of db. It does no I/O.
func NewPages(db *mongo.Database) *Pages { return &Pages{db: db} }

// Partitions returns how many collections hold the pages: 1 on MongoDB,
// [FerretDBPartitions] on FerretDB.
func (p *Pages) Partitions(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parts > 0 {
		return p.parts, nil
	}
	var info bson.Raw
	if err := p.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return 0, fmt.Errorf("store: which store serves the pages: %w", err)
	}
	p.parts = 1
	if _, err := info.LookupErr("ferretdbVersion"); err == nil {
		p.parts = FerretDBPartitions
	}
	return p.parts, nil
}

// layout names the collections of the pages.
type layout struct {
	db    *mongo.Database
	parts int
}

func (p *Pages) layout(ctx context.Context) (layout, error) {
	n, err := p.Partitions(ctx)
	return layout{db: p.db, parts: n}, err
}

func (l layout) boundsParts() int { return max(l.parts/16, 1) }

func partition(sub string, chunk int64, parts int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sub))
	_, _ = h.Write([]byte{'|', byte(chunk), byte(chunk >> 8), byte(chunk >> 16), byte(chunk >> 24)})
	return int(h.Sum32() % uint32(parts))
}

func partName(base string, i, parts int) string {
	if parts == 1 {
		return base
	}
	return fmt.Sprintf("%s.%03d", base, i)
}

// pages returns the collection of page n of sub.
func (l layout) pages(sub string, n int64) *mongo.Collection {
	return l.db.Collection(partName(EventPages, partition(sub, chunkOf(n), l.parts), l.parts))
}

// bounds returns the collection of the bounds of chunk c of sub.
func (l layout) bounds(sub string, c int64) *mongo.Collection {
	return l.db.Collection(partName(EventPageBounds, partition(sub, c, l.boundsParts()), l.boundsParts()))
}

// all returns every collection of the pages and of their bounds.
func (l layout) all() (pages, bounds []*mongo.Collection) {
	for i := range l.parts {
		pages = append(pages, l.db.Collection(partName(EventPages, i, l.parts)))
	}
	for i := range l.boundsParts() {
		bounds = append(bounds, l.db.Collection(partName(EventPageBounds, i, l.boundsParts())))
	}
	return pages, bounds
}

// ensureIndexes gives the pages a TTL index where the server accepts it,
// and the bounds the index of the sweep.
func (p *Pages) ensureIndexes(ctx context.Context, retention time.Duration) (ttl bool, err error) {
	l, err := p.layout(ctx)
	if err != nil {
		return false, err
	}
	pages, bounds := l.all()
	for _, c := range bounds {
		if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "oldest", Value: 1}}, Options: options.Index().SetName("oldest")}); err != nil {
			return false, fmt.Errorf("store: index oldest on %s: %w", c.Name(), err)
		}
	}
	if l.parts > 1 {
		// FerretDB: no TTL index, and pages are only ever read and
		// deleted by _id.
		return false, nil
	}
	return ensureExpiry(ctx, pages[0], retention)
}

// pageWrite is the events one write puts on one page, from seq start on.
type pageWrite struct {
	sub   string
	page  int64
	start int64
	docs  []*EventDoc
}

func (w *pageWrite) end() int64 { return w.start + int64(len(w.docs)) }

// begins reports whether the write begins its page: it sets the page's
// start and first event rather than keeping those it has.
func (w *pageWrite) begins() bool { return w.start == w.page*PageSize }

func (w *pageWrite) newest() time.Time {
	var t time.Time
	for _, d := range w.docs {
		if d.CreatedAt.After(t) {
			t = d.CreatedAt
		}
	}
	return t
}

// namespaceNotFound is the code of a command on a collection that does
// not exist.
const namespaceNotFound = 26

// writeBatch bounds the updates of one bulk write.
const writeBatch = 500

// Write writes docs, which carry their Seq, to their subscriptions' pages,
// recording fencing token fence. Each subscription's docs must be in
// order and consecutive (seq n, n+1, …; cursors rising), and follow its
// events already paged: the page of the last one ends after it. It is
// idempotent, so a redo may call it again.
func (p *Pages) Write(ctx context.Context, docs []EventDoc, fence int64) error {
	if len(docs) == 0 {
		return nil
	}
	l, err := p.layout(ctx)
	if err != nil {
		return err
	}
	writes, err := splitPages(docs)
	if err != nil {
		return err
	}
	// The pages, then their bounds: a reader that finds a page in the
	// bounds finds the page.
	byColl := map[string][]int{}
	var order []string
	for i := range writes {
		name := l.pages(writes[i].sub, writes[i].page).Name()
		if _, ok := byColl[name]; !ok {
			order = append(order, name)
		}
		byColl[name] = append(byColl[name], i)
	}
	made := map[string]bool{}
	for _, name := range order {
		if err := writePagesTo(ctx, l.db.Collection(name), writes, byColl[name], fence, made); err != nil {
			return err
		}
	}
	// Bounds change only when a page is made or begun again (a redo):
	// most writes, appends to a page, have none to write.
	byColl, order = map[string][]int{}, nil
	for i := range writes {
		if !writes[i].begins() && !made[PageID(writes[i].sub, writes[i].page)] {
			continue
		}
		name := l.bounds(writes[i].sub, chunkOf(writes[i].page)).Name()
		if _, ok := byColl[name]; !ok {
			order = append(order, name)
		}
		byColl[name] = append(byColl[name], i)
	}
	for _, name := range order {
		if err := writeBoundsTo(ctx, l.db.Collection(name), writes, byColl[name], fence); err != nil {
			return err
		}
	}
	return nil
}

// splitPages groups docs into writes of one page each.
func splitPages(docs []EventDoc) ([]pageWrite, error) {
	type key struct {
		sub  string
		page int64
	}
	var out []pageWrite
	at := map[key]int{}
	last := map[string]*EventDoc{}
	for i := range docs {
		d := &docs[i]
		if p := last[d.SubscriptionID]; p != nil && (d.Seq != p.Seq+1 || d.Cursor <= p.Cursor) {
			return nil, fmt.Errorf("store: write pages: event %s (seq %d) does not follow %s (seq %d)", d.Cursor, d.Seq, p.Cursor, p.Seq)
		}
		if d.Seq < 0 {
			return nil, fmt.Errorf("store: write pages: event %s has seq %d", d.Cursor, d.Seq)
		}
		last[d.SubscriptionID] = d
		k := key{d.SubscriptionID, d.Seq / PageSize}
		j, ok := at[k]
		if !ok {
			out = append(out, pageWrite{sub: k.sub, page: k.page, start: d.Seq})
			j = len(out) - 1
			at[k] = j
		}
		out[j].docs = append(out[j].docs, d)
	}
	return out, nil
}

// writePagesTo writes the writes idx of ws to their pages in coll, and
// adds to made the _id of each page it made.
func writePagesTo(ctx context.Context, coll *mongo.Collection, ws []pageWrite, idx []int, fence int64, made map[string]bool) error {
	for lo := 0; lo < len(idx); lo += writeBatch {
		part := idx[lo:min(lo+writeBatch, len(idx))]
		models := make([]mongo.WriteModel, len(part))
		for i, j := range part {
			w := &ws[j]
			blob, err := encodeEntries(w.docs)
			if err != nil {
				return err
			}
			place := w.start - w.page*PageSize
			set := bson.D{{Key: "end", Value: w.end()}, {Key: "w." + strconv.FormatInt(place, 10), Value: blob}}
			// The page from this write on is this write's: a blob
			// further on is what a first attempt this one redoes left.
			var stale bson.D
			for m := place + 1; m < PageSize; m++ {
				stale = append(stale, bson.E{Key: "w." + strconv.FormatInt(m, 10), Value: ""})
			}
			update := bson.D{
				{Key: "$max", Value: bson.D{{Key: "created_at", Value: w.newest()}, {Key: "fence", Value: fence}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "subscription_id", Value: w.sub}, {Key: "page", Value: w.page}}},
			}
			if w.begins() {
				set = append(set, bson.E{Key: "start", Value: w.start})
			} else {
				// A page whose first events expired before this write
				// starts here.
				update = append(update, bson.E{Key: "$min", Value: bson.D{{Key: "start", Value: w.start}}})
			}
			update = append(update, bson.E{Key: "$set", Value: set})
			if len(stale) > 0 {
				update = append(update, bson.E{Key: "$unset", Value: stale})
			}
			models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: PageID(w.sub, w.page)}}).SetUpdate(update).SetUpsert(true)
		}
		res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err != nil {
			return fmt.Errorf("store: write pages: %w", err)
		}
		// By _id: FerretDB numbers its upserts in its own way.
		for _, id := range res.UpsertedIDs {
			if s, ok := id.(string); ok {
				made[s] = true
			}
		}
	}
	for _, j := range idx {
		if w := &ws[j]; full(w.page, w.end()) && !w.begins() {
			if err := compactPage(ctx, coll, PageID(w.sub, w.page)); err != nil {
				return err
			}
		}
	}
	return nil
}

// compactPage rewrites a page that was filled by several writes as one
// blob: one write per block leaves a sparse subscription's page in up to
// [PageSize] blobs of an event each, which zstd can hardly shrink, and
// the page is read many more times than it is written. It costs a read
// and a write per full page. A page a crash left uncompacted reads the
// same.
func compactPage(ctx context.Context, coll *mongo.Collection, id string) error {
	var pg pageDoc
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&pg); err != nil {
		return fmt.Errorf("store: compact page %s: %w", id, err)
	}
	if len(pg.W) == 1 && len(pg.C) == 0 {
		return nil
	}
	ents, err := pg.entries()
	if err != nil {
		return err
	}
	if int64(len(ents)) != pg.End-pg.Start {
		return nil // not whole: left as it is for the readers to pass over
	}
	docs := make([]*EventDoc, len(ents))
	for i, e := range ents {
		docs[i] = &EventDoc{Cursor: e.Cursor, CreatedAt: e.CreatedAt, JSON: e.JSON}
	}
	blob, err := encodeEntries(docs)
	if err != nil {
		return err
	}
	place := strconv.FormatInt(pg.Start-pg.Page*PageSize, 10)
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "w", Value: bson.D{{Key: place, Value: blob}}}}},
		{Key: "$unset", Value: bson.D{{Key: "c", Value: ""}, {Key: "at", Value: ""}, {Key: "j", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("store: compact page %s: %w", id, err)
	}
	return nil
}

// writeBoundsTo records in coll, the bounds of the writes idx of ws, the
// pages they made or began.
func writeBoundsTo(ctx context.Context, coll *mongo.Collection, ws []pageWrite, idx []int, fence int64) error {
	for lo := 0; lo < len(idx); lo += writeBatch {
		part := idx[lo:min(lo+writeBatch, len(idx))]
		models := make([]mongo.WriteModel, len(part))
		for i, j := range part {
			w := &ws[j]
			pb := pageBound{Start: w.start, First: w.docs[0].Cursor, At: w.docs[0].CreatedAt}
			update := bson.D{
				{Key: "$set", Value: bson.D{{Key: "pages." + strconv.FormatInt(w.page, 10), Value: pb}}},
				{Key: "$min", Value: bson.D{{Key: "oldest", Value: pb.At}}},
				{Key: "$max", Value: bson.D{{Key: "fence", Value: fence}}},
				{Key: "$setOnInsert", Value: bson.D{{Key: "subscription_id", Value: w.sub}, {Key: "chunk", Value: chunkOf(w.page)}}},
			}
			if !full(w.page, w.end()) {
				// The history ends in this page now: what the bounds say
				// of later pages of the chunk is what the first attempt
				// of a redo left.
				var stale bson.D
				for m := w.page + 1; m < (chunkOf(w.page)+1)*ChunkPages; m++ {
					stale = append(stale, bson.E{Key: "pages." + strconv.FormatInt(m, 10), Value: ""})
				}
				if len(stale) > 0 {
					update = append(update, bson.E{Key: "$unset", Value: stale})
				}
			}
			models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: boundsID(w.sub, chunkOf(w.page))}}).SetUpdate(update).SetUpsert(true)
		}
		if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
			return fmt.Errorf("store: page bounds: %w", err)
		}
	}
	return nil
}

// AppendEvents stores docs after their subscriptions' stored events, in
// the events and in the pages, giving each its seq: each subscription's
// docs are taken in cursor order, and must all come after its newest
// stored event. It also moves the subscriptions' heads in [SubHeads] as
// the ingest would. It is for tests and for seeding a database; the
// ingest knows its seqs and calls [InsertEvents] and [Pages.Write]
// itself. It writes with fencing token 0.
func AppendEvents(ctx context.Context, db *mongo.Database, docs ...EventDoc) error {
	if len(docs) == 0 {
		return nil
	}
	bySub := map[string][]EventDoc{}
	var subs []string
	for _, d := range docs {
		if _, ok := bySub[d.SubscriptionID]; !ok {
			subs = append(subs, d.SubscriptionID)
		}
		bySub[d.SubscriptionID] = append(bySub[d.SubscriptionID], d)
	}
	p := NewPages(db)
	all := make([]EventDoc, 0, len(docs))
	for _, sub := range subs {
		l := bySub[sub]
		sortByCursor(l)
		next, last, err := p.tail(ctx, sub)
		if err != nil {
			return err
		}
		if l[0].Cursor <= last {
			return fmt.Errorf("store: append events: %s is not after %s, the newest of %s", l[0].Cursor, last, sub)
		}
		for i := range l {
			l[i].ID = EventDocID(sub, l[i].Cursor)
			l[i].Seq = next + int64(i)
		}
		all = append(all, l...)
	}
	in := make([]any, len(all))
	for i := range all {
		in[i] = all[i]
	}
	if err := InsertEvents(ctx, db, in); err != nil {
		return err
	}
	if err := p.Write(ctx, all, 0); err != nil {
		return err
	}
	models := make([]mongo.WriteModel, 0, len(subs))
	for _, sub := range subs {
		l := bySub[sub]
		d := l[len(l)-1]
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: sub}}).
			SetUpdate(bson.D{
				{Key: "$set", Value: bson.D{{Key: "cursor", Value: d.Cursor}, {Key: "base", Value: d.Cursor}, {Key: "seq", Value: d.Seq + 1}, {Key: "base_seq", Value: d.Seq + 1}}},
				// A fencing token, as the ingest's heads have: an ingest
				// started on a seeded database may write over them.
				{Key: "$setOnInsert", Value: bson.D{{Key: "fence", Value: int64(0)}}},
			}).
			SetUpsert(true))
	}
	if _, err := db.Collection(SubHeads).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("store: append events: heads: %w", err)
	}
	return nil
}

func sortByCursor(l []EventDoc) {
	slices.SortFunc(l, func(a, b EventDoc) int { return strings.Compare(a.Cursor, b.Cursor) })
}

// tail returns the seq of the subscription's next event and the cursor
// of its newest, "" when it has had none: from its head, which
// AppendEvents writes, or else from its pages.
func (p *Pages) tail(ctx context.Context, sub string) (next int64, last string, err error) {
	var h struct {
		Cursor string `bson:"cursor"`
		Seq    int64  `bson:"seq"`
	}
	err = p.db.Collection(SubHeads).FindOne(ctx, bson.D{{Key: "_id", Value: sub}}).Decode(&h)
	switch {
	case err == nil:
		return h.Seq, h.Cursor, nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return 0, "", fmt.Errorf("store: head of %s: %w", sub, err)
	}
	l, err := p.layout(ctx)
	if err != nil {
		return 0, "", err
	}
	r := reader{l: l, sub: sub}
	pg, ok, err := r.newestPage(ctx)
	if err != nil || !ok {
		return next, "", err
	}
	ents, err := pg.entries()
	if err != nil {
		return 0, "", err
	}
	if len(ents) == 0 {
		return next, "", nil
	}
	return max(next, pg.End), ents[len(ents)-1].Cursor, nil
}

// Sweep deletes the pages whose newest event is older than retention,
// and returns how many. Bounds name their pages' times, so only the
// chunks old enough are looked at, by their oldest page.
func (p *Pages) Sweep(ctx context.Context, retention time.Duration, now time.Time) (int64, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	cutoff := now.Add(-retention)
	l, err := p.layout(ctx)
	if err != nil {
		return 0, err
	}
	_, bounds := l.all()
	var deleted int64
	for _, bc := range bounds {
		cur, err := bc.Find(ctx, bson.D{{Key: "oldest", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
		if err != nil {
			return deleted, fmt.Errorf("store: retention sweep of pages: %w", err)
		}
		var docs []boundsDoc
		if err := cur.All(ctx, &docs); err != nil {
			return deleted, fmt.Errorf("store: retention sweep of pages: %w", err)
		}
		for i := range docs {
			n, err := sweepChunk(ctx, l, bc, &docs[i], cutoff)
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
	}
	return deleted, nil
}

// sweepChunk deletes the expired pages of one chunk, then their bounds.
// A page expired when the next one began a retention ago; the
// subscription's newest page when its own newest event is that old.
func sweepChunk(ctx context.Context, l layout, bc *mongo.Collection, b *boundsDoc, cutoff time.Time) (int64, error) {
	r := reader{l: l, sub: b.SubscriptionID}
	ns := b.pageNums()
	var gone []int64
	for i, n := range ns {
		var next time.Time
		if i+1 < len(ns) {
			pb, _ := b.page(ns[i+1])
			next = pb.At
		} else {
			nb, ok, err := r.bounds(ctx, b.Chunk+1)
			if err != nil {
				return 0, err
			}
			if ok {
				next = firstOf(nb).At
			} else {
				pg, ok, err := r.page(ctx, n)
				if err != nil {
					return 0, err
				}
				if ok {
					next = pg.CreatedAt
				}
			}
		}
		if !next.Before(cutoff) {
			break
		}
		gone = append(gone, n)
	}
	if len(gone) == 0 {
		return 0, nil
	}
	// By _id alone (see Pages.Write): no event comes to a page that
	// expired, since the subscription's newest page expires only when it
	// has had none for a retention.
	var deleted int64
	for _, n := range gone {
		res, err := l.pages(b.SubscriptionID, n).DeleteOne(ctx, bson.D{{Key: "_id", Value: PageID(b.SubscriptionID, n)}})
		if err != nil {
			return deleted, fmt.Errorf("store: retention sweep of pages: %w", err)
		}
		deleted += res.DeletedCount
	}
	var err error
	filter := bson.D{{Key: "_id", Value: b.ID}}
	if len(gone) == len(ns) {
		_, err = bc.DeleteOne(ctx, filter)
	} else {
		unset := bson.D{}
		for _, n := range gone {
			unset = append(unset, bson.E{Key: "pages." + strconv.FormatInt(n, 10), Value: ""})
		}
		pb, _ := b.page(ns[len(gone)])
		_, err = bc.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "oldest", Value: pb.At}}}, {Key: "$unset", Value: unset}})
	}
	if err != nil {
		return deleted, fmt.Errorf("store: retention sweep of page bounds: %w", err)
	}
	return deleted, nil
}

// Drop deletes every page and bound, for a rebuild: it drops their
// collections, which costs no read on either store, and makes their
// indexes again.
func (p *Pages) Drop(ctx context.Context) error {
	l, err := p.layout(ctx)
	if err != nil {
		return err
	}
	pages, bounds := l.all()
	for _, c := range append(pages, bounds...) {
		specs, err := c.Indexes().ListSpecifications(ctx)
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == namespaceNotFound {
			continue // never made
		}
		if err != nil {
			return fmt.Errorf("store: drop pages: %w", err)
		}
		if err := c.Drop(ctx); err != nil {
			return fmt.Errorf("store: drop pages: %w", err)
		}
		for _, sp := range specs {
			if sp.Name == "_id_" {
				continue
			}
			o := options.Index().SetName(sp.Name)
			if sp.ExpireAfterSeconds != nil {
				o.SetExpireAfterSeconds(*sp.ExpireAfterSeconds)
			}
			if sp.Unique != nil && *sp.Unique {
				o.SetUnique(true)
			}
			if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: sp.KeysDocument, Options: o}); err != nil {
				return fmt.Errorf("store: drop pages: index %s on %s: %w", sp.Name, c.Name(), err)
			}
		}
	}
	return nil
}

// CheckPages reports how a subscription's pages differ from its stored
// events, nil when they hold exactly its events in cursor order, with seqs
// counting from its first page's start without a gap, bounds that say so,
// and each event document's seq, where it has one, matching. It reads all
// of the subscription's events: for tests, and for checking a database by
// hand.
func CheckPages(ctx context.Context, db *mongo.Database, subscriptionID string) error {
	cur, err := db.Collection(Events).Find(ctx, bson.D{{Key: "subscription_id", Value: subscriptionID}},
		options.Find().SetSort(bson.D{{Key: "cursor", Value: 1}}))
	if err != nil {
		return fmt.Errorf("store: check pages: %w", err)
	}
	var events []struct {
		EventDoc `bson:",inline"`
		HasSeq   *int64 `bson:"seq"`
	}
	if err := cur.All(ctx, &events); err != nil {
		return fmt.Errorf("store: check pages: %w", err)
	}
	l, err := NewPages(db).layout(ctx)
	if err != nil {
		return err
	}
	r := reader{l: l, sub: subscriptionID}
	first, ok, err := r.firstPage(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if len(events) > 0 {
			return fmt.Errorf("store: %s has %d events and no page", subscriptionID, len(events))
		}
		return nil
	}
	i, seq := 0, first.Start
	for n := first.n; ; n++ {
		p, ok, err := r.page(ctx, n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		ents, err := p.entries()
		if err != nil {
			return err
		}
		if len(ents) == 0 || p.End-p.Start != int64(len(ents)) {
			return fmt.Errorf("store: page %s holds %d events for seqs %d..%d", p.ID, len(ents), p.Start, p.End)
		}
		if p.Start != seq || p.Start < p.Page*PageSize || p.End > (p.Page+1)*PageSize {
			return fmt.Errorf("store: page %s holds seqs %d..%d; want from %d", p.ID, p.Start, p.End, seq)
		}
		b, ok, err := r.bounds(ctx, chunkOf(n))
		if err != nil {
			return err
		}
		pb, bok := b.page(n)
		if !ok || !bok || pb.Start != p.Start || pb.First != ents[0].Cursor {
			return fmt.Errorf("store: the bounds of page %s say %+v; it holds seqs %d..%d from %s", p.ID, pb, p.Start, p.End, ents[0].Cursor)
		}
		for _, e := range ents {
			if i == len(events) {
				return fmt.Errorf("store: page %s holds %s (seq %d) past the %d events", p.ID, e.Cursor, seq, len(events))
			}
			d := events[i]
			if e.Cursor != d.Cursor || string(e.JSON) != string(d.JSON) {
				return fmt.Errorf("store: seq %d of %s is %s in its page, %s in the events", seq, subscriptionID, e.Cursor, d.Cursor)
			}
			if d.HasSeq != nil && *d.HasSeq != seq {
				return fmt.Errorf("store: event %s says seq %d, its page %d", d.Cursor, *d.HasSeq, seq)
			}
			i++
			seq++
		}
		if !full(p.Page, p.End) {
			break
		}
	}
	if i != len(events) {
		return fmt.Errorf("store: the pages of %s hold %d of its %d events; the first missing is %s", subscriptionID, i, len(events), events[i].Cursor)
	}
	return nil
}
