package stream

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
)

var cursorKey = []byte(`"cursor":"`)

// messageCursor returns the cursor of an event message by scanning for its
// "cursor" field rather than decoding the JSON: the ingest writes it near
// the start, and this runs for every live message buffered during replay.
// It returns "" when the message has none.
func messageCursor(msg []byte) string {
	i := bytes.Index(msg, cursorKey)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(cursorKey):]
	if len(rest) < cursor.Len+1 || rest[cursor.Len] != '"' {
		return ""
	}
	return string(rest[:cursor.Len])
}

var prevKey = []byte(`"prev_cursor":"`)

// messageLink returns the link of an event message, the cursor of its
// subscription's previous event: its "prev_cursor" field ("" for the
// subscription's first event), scanned for like its cursor; or, for an
// event published before that field existed, header, the message's
// bus.PrevCursorHeader. The two say the same when both are there.
func messageLink(msg []byte, header string) string {
	i := bytes.Index(msg, prevKey)
	if i < 0 {
		return header
	}
	rest := msg[i+len(prevKey):]
	switch {
	case len(rest) > 0 && rest[0] == '"':
		return ""
	case len(rest) > cursor.Len && rest[cursor.Len] == '"':
		return string(rest[:cursor.Len])
	}
	return header
}

// helloMessage is the first frame of every stream.
func helloMessage(subscriptionID string, resumed bool, heartbeat time.Duration) []byte {
	b, _ := json.Marshal(struct {
		Type           string `json:"type"`
		SubscriptionID string `json:"subscription_id"`
		Resumed        bool   `json:"resumed"`
		HeartbeatS     int64  `json:"heartbeat_s"`
	}{"hello", subscriptionID, resumed, int64(heartbeat / time.Second)})
	return b
}

// heartbeatMessage is
// {"type":"heartbeat","head_block":N,"solidified_block":S,"time":"…"}.
func heartbeatMessage(head, solidified int64, now time.Time) []byte {
	b := make([]byte, 0, 112)
	b = append(b, `{"type":"heartbeat","head_block":`...)
	b = strconv.AppendInt(b, head, 10)
	b = append(b, `,"solidified_block":`...)
	b = strconv.AppendInt(b, solidified, 10)
	b = append(b, `,"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339)
	return append(b, `"}`...)
}

func busEventsSubject(id string) string { return bus.EventsSubject(id) }
