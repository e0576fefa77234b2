// Package cursor encodes the opaque, per-subscription position of an event
// in delivery order. A cursor is 32 lowercase hex digits: the ingest's
// 64-bit step (one per processed block, including reorg steps and backfill
// phases) followed by the 64-bit position of the event within that step.
// Fixed width makes byte order equal numeric order, so MongoDB range queries
// and string comparison both follow delivery order.
package cursor

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Len is the length of an encoded cursor.
const Len = 32

// ErrInvalid is wrapped when a string is not a cursor.
var ErrInvalid = errors.New("cursor: invalid cursor")

// Cursor is a decoded cursor. The zero value sorts before every event.
type Cursor struct {
	Step uint64
	Pos  uint64
}

// String encodes c.
func (c Cursor) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], c.Step)
	binary.BigEndian.PutUint64(b[8:], c.Pos)
	return hex.EncodeToString(b[:])
}

// Parse decodes a cursor a client sent back.
func Parse(s string) (Cursor, error) {
	if len(s) != Len {
		return Cursor{}, fmt.Errorf("%w: %.40q: want %d hex digits", ErrInvalid, s, Len)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return Cursor{}, fmt.Errorf("%w: %.40q is not hex", ErrInvalid, s)
	}
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'F' {
			return Cursor{}, fmt.Errorf("%w: %.40q must be lower case", ErrInvalid, s)
		}
	}
	return Cursor{Step: binary.BigEndian.Uint64(b[:8]), Pos: binary.BigEndian.Uint64(b[8:])}, nil
}
