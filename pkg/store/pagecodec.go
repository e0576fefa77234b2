package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// The entries of one page write, as stored: a format byte, then the
// entries compressed with zstd, each a uvarint length and the cursor, the
// time it was stored (a varint of Unix milliseconds, what a BSON date
// keeps), and a uvarint length and the event's JSON.
//
// Why one compressed binary per write rather than fields per event: on
// FerretDB a lookup by _id makes SQLite parse the JSON text of every
// document stored before the match in the partition, and FerretDB then
// turns the match into BSON value by value. Both cost by the byte and by
// the value, and a page's events are JSON with much in common (keys,
// addresses, contract ids), which zstd shrinks about four times: a page
// is a few values and a quarter of the bytes. MongoDB is served the same
// documents, smaller.
const pageBlobZstd = 1

// maxPageBlob bounds what one page write decompresses to: 128 events of
// at most 1 MiB each is far more than the chain makes.
const maxPageBlob = 128 << 20

type pageCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// codec is shared: zstd's EncodeAll and DecodeAll are safe for concurrent
// use, and an encoder holds a few hundred KB of tables.
var codec = sync.OnceValues(func() (*pageCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("store: page codec: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(maxPageBlob))
	if err != nil {
		return nil, fmt.Errorf("store: page codec: %w", err)
	}
	return &pageCodec{enc: enc, dec: dec}, nil
})

// encodeEntries returns the blob of docs, a page write's events in order.
func encodeEntries(docs []*EventDoc) ([]byte, error) {
	c, err := codec()
	if err != nil {
		return nil, err
	}
	n := 0
	for _, d := range docs {
		n += len(d.Cursor) + len(d.JSON) + 3*binary.MaxVarintLen64
	}
	raw := make([]byte, 0, n)
	for _, d := range docs {
		raw = binary.AppendUvarint(raw, uint64(len(d.Cursor)))
		raw = append(raw, d.Cursor...)
		raw = binary.AppendVarint(raw, d.CreatedAt.UnixMilli())
		raw = binary.AppendUvarint(raw, uint64(len(d.JSON)))
		raw = append(raw, d.JSON...)
	}
	return c.enc.EncodeAll(raw, []byte{pageBlobZstd}), nil
}

var errPageBlob = errors.New("malformed page write")

// decodeEntries returns the entries of a blob made by [encodeEntries].
func decodeEntries(blob []byte) ([]PageEntry, error) {
	if len(blob) == 0 || blob[0] != pageBlobZstd {
		return nil, fmt.Errorf("%w: unknown format", errPageBlob)
	}
	c, err := codec()
	if err != nil {
		return nil, err
	}
	raw, err := c.dec.DecodeAll(blob[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPageBlob, err)
	}
	var out []PageEntry
	for len(raw) > 0 {
		var e PageEntry
		var b []byte
		if b, raw, err = takeBytes(raw); err != nil {
			return nil, err
		}
		e.Cursor = string(b)
		ms, k := binary.Varint(raw)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad time", errPageBlob)
		}
		raw = raw[k:]
		e.CreatedAt = time.UnixMilli(ms).UTC()
		if e.JSON, raw, err = takeBytes(raw); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// takeBytes splits a uvarint-length-prefixed run of bytes off b. The run
// keeps b's backing array: DecodeAll made it for this page alone.
func takeBytes(b []byte) (run, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad length", errPageBlob)
	}
	b = b[k:]
	return b[:n:n], b[n:], nil
}

// entries returns the page's entries, seqs Start to End. A write's blob,
// keyed by the place of its first event, holds the page from that place
// on (a write clears the blobs after its own, which only an attempt it
// redoes can have left); places before the first blob come from the
// fields of pages written before blobs, C, At and J. A place with no
// entry (which no writer leaves) is passed over.
func (p *pageDoc) entries() ([]PageEntry, error) {
	var (
		at  [PageSize]PageEntry
		has [PageSize]bool
	)
	starts := make([]int64, 0, len(p.W))
	for k := range p.W {
		s, err := strconv.ParseInt(k, 10, 64)
		if err != nil || s < 0 || s >= PageSize {
			return nil, fmt.Errorf("store: page %s: %w: place %q", p.ID, errPageBlob, k)
		}
		starts = append(starts, s)
	}
	slices.Sort(starts)
	first := int64(PageSize)
	if len(starts) > 0 {
		first = starts[0]
	}
	for k, c := range p.C {
		s, err := strconv.ParseInt(k, 10, 64)
		if err != nil || s < 0 || s >= first {
			continue
		}
		at[s], has[s] = PageEntry{Cursor: c, CreatedAt: p.At[k], JSON: p.J[k]}, true
	}
	for _, s := range starts {
		es, err := decodeEntries(p.W[strconv.FormatInt(s, 10)])
		if err != nil {
			return nil, fmt.Errorf("store: page %s, write at %d: %w", p.ID, s, err)
		}
		for i, e := range es {
			if s+int64(i) < PageSize {
				at[s+int64(i)], has[s+int64(i)] = e, true
			}
		}
	}
	out := make([]PageEntry, 0, max(p.End-p.Start, 0))
	for s := p.Start; s < p.End; s++ {
		pl := s - p.Page*PageSize
		if pl >= 0 && pl < PageSize && has[pl] {
			out = append(out, at[pl])
		}
	}
	return out, nil
}
