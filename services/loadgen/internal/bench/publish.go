package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// eventTemplate is a realistic USDT transfer; the publisher stamps it with
// a cursor, a subscription and the publish time.
func eventTemplate() (event.Event, error) {
	from, to := tron.Address{0x41, 0x11, 0x22, 19: 0x33, 20: 0x44}, tron.Address{0x41, 0x55, 0x66, 19: 0x77, 20: 0x88}
	usdt, err := tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	if err != nil {
		return event.Event{}, fmt.Errorf("bench: %w", err)
	}
	amount, err := tron.ParseAmount("1500000")
	if err != nil {
		return event.Event{}, fmt.Errorf("bench: %w", err)
	}
	six := 6
	return event.Event{
		Type:    "event",
		Kind:    event.KindTRC20Transfer,
		Network: "mainnet",
		Block: event.BlockRef{
			Number:    68123456,
			ID:        "00000000040f7a40b1c3d5e7f90a2b4c6d8e0f1a2b3c4d5e6f708192a3b4c5d6",
			Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		TxID:          "7c2d5e8f1a4b7c0d3e6f9a2b5c8d1e4f7a0b3c6d9e2f5a8b1c4d7e0f3a6b9c2d",
		TxIndex:       17,
		Index:         2,
		Success:       true,
		Watched:       to,
		Direction:     event.DirectionIn,
		From:          from,
		To:            to,
		Contract:      usdt,
		Token:         &event.Token{Symbol: "USDT", Decimals: &six},
		Amount:        amount,
		AmountDecimal: "1.5",
	}, nil
}

// encodeEvent returns tmpl as the JSON the edge streams, for sub at c,
// linked to prev (the cursor of sub's event before, "" for its first), with
// "data":{"sent_ns":sent} appended: the field loadgen measures latency by.
func encodeEvent(tmpl event.Event, sub string, c cursor.Cursor, prev string, seq int, sent time.Time) ([]byte, error) {
	tmpl.Cursor, tmpl.PrevCursor = c.String(), prev
	tmpl.SubscriptionID = sub
	tmpl.ID = tmpl.TxID + ":" + strconv.Itoa(seq)
	b, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("bench: encode event: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	b = append(b, `,"data":{"contract_type":"TriggerSmartContract","sent_ns":`...)
	b = strconv.AppendInt(b, sent.UnixNano(), 10)
	return append(b, "}}"...), nil
}

// publishStats is what a paced publication did.
type publishStats struct {
	Published int
	Elapsed   time.Duration
	Bytes     int
}

// publish sends rate events per second for d, round-robin over subs, on
// their NATS subjects the way the ingest does: each subscription's cursors
// increase, and each event links to the one before it (its prev_cursor,
// and bus.PrevCursorHeader), which the edge checks. It paces by the clock,
// so a stalled publisher catches up rather than silently publishing less.
func publish(ctx context.Context, nc *nats.Conn, subs []string, rate float64, d time.Duration) (publishStats, error) {
	tmpl, err := eventTemplate()
	if err != nil {
		return publishStats{}, err
	}
	subjects := make([]string, len(subs))
	for i, s := range subs {
		subjects[i] = bus.EventsSubject(s)
	}
	// Cursors above any replayed ones; Step is the time, so two runs on
	// one edge never go backwards.
	step := uint64(time.Now().UnixNano())
	prev := make([]string, len(subs))
	var st publishStats
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		elapsed := now.Sub(start)
		if elapsed >= d {
			break
		}
		due := int(elapsed.Seconds()*rate) - st.Published
		for range due {
			i := st.Published % len(subs)
			seq := st.Published / len(subs)
			c := cursor.Cursor{Step: step, Pos: uint64(seq)}
			msg, err := encodeEvent(tmpl, subs[i], c, prev[i], seq, time.Now())
			if err != nil {
				return st, err
			}
			m := &nats.Msg{Subject: subjects[i], Data: msg}
			if prev[i] != "" {
				m.Header = nats.Header{bus.PrevCursorHeader: []string{prev[i]}}
			}
			if err := nc.PublishMsg(m); err != nil {
				return st, fmt.Errorf("bench: publish: %w", err)
			}
			prev[i] = c.String()
			st.Published++
			st.Bytes += len(msg)
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("bench: publish: %w", ctx.Err())
		case <-tick.C:
		}
	}
	st.Elapsed = time.Since(start)
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		return st, fmt.Errorf("bench: publish flush: %w", err)
	}
	return st, nil
}
