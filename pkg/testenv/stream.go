package testenv

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// SubjectMessages returns every message of stream on subject, in stream
// order, read one by one (for checks of what a test published, not for
// volume). It fails tb on any error.
func SubjectMessages(tb testing.TB, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	tb.Helper()
	s, err := js.Stream(tb.Context(), stream)
	if err != nil {
		tb.Fatalf("testenv: stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(tb.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			tb.Fatalf("testenv: %s message at or after %d: %v", subject, seq, err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}
