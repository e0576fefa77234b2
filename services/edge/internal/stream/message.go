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
