package tron_test

import (
	"encoding/json"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
)

// TestGoJSON_ReadsNodeAnswersLikeEncodingJSON guards the client's choice of
// JSON reader: on real node answers it must fill the types exactly as the
// standard library does.
func TestGoJSON_ReadsNodeAnswersLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	raw := fixtures.Read(t, "getblockbynum-43811922.json")
	var std, fast tron.Block
	require.NoError(t, json.Unmarshal(raw, &std))
	require.NoError(t, gojson.Unmarshal(raw, &fast))
	require.Equal(t, std, fast)

	raw = fixtures.Read(t, "gettransactioninfobyid-ledger.json")
	var stdInfos, fastInfos map[string]tron.TxInfo
	require.NoError(t, json.Unmarshal(raw, &stdInfos))
	require.NoError(t, gojson.Unmarshal(raw, &fastInfos))
	require.Equal(t, stdInfos, fastInfos)
}
