package decode_test

import (
	"encoding/json"
	"testing"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/internal/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
)

func TestQuick(t *testing.T) {
	var b tron.Block
	if err := json.Unmarshal(fixtures.Read(t, "getblockbynum-43811922.json"), &b); err != nil {
		t.Fatal(err)
	}
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[event.Kind]int{}
	for _, e := range evs {
		counts[e.Kind]++
	}
	t.Log(counts)
	j, _ := json.Marshal(evs[0])
	t.Log(string(j))
	j, _ = json.Marshal(evs[1])
	t.Log(string(j))
}
