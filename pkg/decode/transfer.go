package decode

import (
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Memo encodings, the values of event.Event.MemoEncoding.
const (
	MemoUTF8 = "utf8"
	MemoHex  = "hex"
)

// Memo decodes a transaction's raw_data.data, hex as the node sends
// it: the text and MemoUTF8 when the bytes are valid UTF-8, else their
// lower-case hex and MemoHex. An empty data gives ("", "", nil); data that
// is not hex is an [ErrMalformed] error. The memo is free text the sender
// chose and nobody checked: it proves nothing about the transfer (scam
// links are common), and a client must escape it before showing it.
func Memo(data string) (memo, encoding string, err error) {
	if data == "" {
		return "", "", nil
	}
	b, err := hex.DecodeString(data)
	if err != nil {
		return "", "", fmt.Errorf("%w: raw_data.data is not hex", ErrMalformed)
	}
	if len(b) == 0 {
		return "", "", nil
	}
	if utf8.Valid(b) {
		return string(b), MemoUTF8, nil
	}
	return hex.EncodeToString(b), MemoHex, nil
}

func setMemo(e *event.Event, data string) error {
	memo, enc, err := Memo(data)
	if err != nil {
		return err
	}
	e.Memo, e.MemoEncoding = memo, enc
	return nil
}

// setFlags sets the decoder's flags of a transfer event: zero_amount from
// its amount, and the two the caller worked out. A clean event gets an
// empty, non-nil slice, so that JSON shows "flags":[] and a client can
// tell "checked, clean" from "not a transfer". The slice is the event's
// own, with no spare capacity: [event.Event.AddFlag] copies before it
// appends, so copies of the event never share a write.
func setFlags(e *event.Event, unverifiedToken, thirdPartySpender bool) {
	var buf [3]event.Flag
	n := 0
	if isZeroAmount(e.Amount) {
		buf[n] = event.FlagZeroAmount
		n++
	}
	if unverifiedToken {
		buf[n] = event.FlagUnverifiedToken
		n++
	}
	if thirdPartySpender {
		buf[n] = event.FlagThirdPartySpender
		n++
	}
	if n == 0 {
		e.Flags = []event.Flag{} // zero-size: no allocation
		return
	}
	flags := make([]event.Flag, n)
	copy(flags, buf[:n])
	e.Flags = flags
}

// isZeroAmount reports whether a moves nothing: 0, or no amount at all (a
// negative amount from a malformed node decodes to none).
func isZeroAmount(a tron.Amount) bool {
	if a.IsZero() {
		return true
	}
	v, ok := a.Uint64()
	return ok && v == 0
}

// setTRC10 sets the token and decimal amount of a TRC10 event from the
// built-in TRC10 table, and reports whether the token is verified. id is
// the token id as the node gives it; before [tron.TRC10IDsSinceBlock] on
// mainnet it is the token's name, which is never looked up. An unknown
// token gets a token with no symbol and unknown decimals: never a guess.
func (d *Decoder) setTRC10(e *event.Event, id string, block int64) bool {
	if d.network == tron.NetworkMainnet && block > 0 && block < tron.TRC10IDsSinceBlock {
		e.Token = &event.Token{}
		return false
	}
	t, ok := d.trc10.Token(id)
	if !ok {
		e.Token = &event.Token{}
		return false
	}
	tok := &event.Token{Symbol: t.Symbol, Name: t.Name, Verified: t.Verified}
	if t.Decimals >= 0 {
		dec := t.Decimals
		tok.Decimals = &dec
		e.AmountDecimal = e.Amount.Decimal(dec)
	}
	e.Token = tok
	return t.Verified
}
