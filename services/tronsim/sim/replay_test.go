package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

const (
	replayFirst = 43811922
	replayLast  = 43811925
)

// replayDir writes the real mainnet block 43811922 with a made-up info
// array (indented, to check that the bytes are served as they are), and an
// empty block 43811925 without infos; 43811923 and 43811924 are missing.
func replayDir(t testing.TB) (dir string, block, infos []byte) {
	t.Helper()
	block = bytes.TrimSpace(fixtures.Read(t, "getblockbynum-43811922.json"))
	var b tron.Block
	require.NoError(t, json.Unmarshal(block, &b))
	list := make([]tron.TxInfo, len(b.Transactions))
	for i, tx := range b.Transactions {
		list[i] = tron.TxInfo{ID: tx.TxID, BlockNumber: replayFirst, BlockTimeStamp: b.BlockHeader.RawData.Timestamp, ContractResult: []string{""}, Receipt: tron.Receipt{NetUsage: 268}}
	}
	infos, err := json.MarshalIndent(list, "", "   ")
	require.NoError(t, err)
	dir = t.TempDir()
	file := []byte(`{"block": ` + string(block) + `,` + "\n" + `"transaction_info":` + string(infos) + "}\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "43811922.json"), file, 0o600))

	empty := tron.Block{BlockHeader: tron.BlockHeader{RawData: tron.BlockHeaderRaw{Number: replayLast, ParentHash: b.BlockID, Timestamp: b.BlockHeader.RawData.Timestamp + 9000, Version: 24}}}
	id, err := tron.ComputeBlockID(&empty.BlockHeader.RawData)
	require.NoError(t, err)
	empty.BlockID = id
	ej, err := json.Marshal(empty)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "43811925.json"), []byte(`{"block":`+string(ej)+`}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a block"), 0o600))
	return dir, block, infos
}

func TestReplay_Verbatim(t *testing.T) {
	t.Parallel()
	dir, block, infos := replayDir(t)
	s, base := newSim(t, sim.Config{BlocksDir: dir})
	head, _ := s.Head()
	require.Equal(t, int64(replayLast), head)
	require.Equal(t, int64(replayFirst), s.First())

	_, body := call(t, base, "/wallet/getblockbynum", map[string]any{"num": replayFirst})
	require.Equal(t, string(block), string(body))
	_, _, body = get(t, base+"/wallet/gettransactioninfobyblocknum?num=43811922")
	require.Equal(t, string(infos), string(body))

	tests := []struct {
		name, path string
		body       any
		want       string
	}{
		{"missing block", "/wallet/getblockbynum", map[string]any{"num": 43811923}, "{}"},
		{"missing infos", "/wallet/gettransactioninfobyblocknum", map[string]any{"num": 43811924}, "[]"},
		{"empty block infos", "/wallet/gettransactioninfobyblocknum", map[string]any{"num": replayLast}, "[]"},
		{"past head", "/wallet/getblockbynum", map[string]any{"num": replayLast + 1}, "{}"},
	}
	for _, tc := range tests {
		_, body := call(t, base, tc.path, tc.body)
		require.Equal(t, tc.want, string(body), tc.name)
	}
	_, body = call(t, base, "/wallet/getnowblock", nil)
	require.NotContains(t, string(body), "transactions")

	var list struct{ Block []tron.Block }
	_, body = call(t, base, "/wallet/getblockbylimitnext", map[string]any{"startNum": replayFirst, "endNum": replayLast + 1})
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Block, 2)

	b, is, err := s.Block(replayFirst)
	require.NoError(t, err)
	evs, err := decode.NewDecoder(decode.DecoderConfig{}).DecodeBlock(&b, is)
	require.NoError(t, err)
	require.NotEmpty(t, evs)

	var tx tron.Transaction
	_, body = call(t, base, "/wallet/gettransactionbyid", map[string]any{"value": b.Transactions[7].TxID})
	require.NoError(t, json.Unmarshal(body, &tx))
	require.Equal(t, b.Transactions[7].RawDataHex, tx.RawDataHex)

	require.ErrorIs(t, s.Reorg(1), sim.ErrUnsupported)
	code, _ := call(t, base, "/sim/reorg", map[string]any{"depth": 1})
	require.Equal(t, http.StatusConflict, code)
}

func TestReplay_Release(t *testing.T) {
	t.Parallel()
	dir, _, _ := replayDir(t)
	s, err := sim.New(sim.Config{BlocksDir: dir})
	require.NoError(t, err)
	head, id := s.Head()
	require.Equal(t, int64(replayFirst), head)
	require.Equal(t, "00000000029c845221998b944fbc7fdb174bdee264ecea7edcdad50d198bc305", id)
	require.Equal(t, int64(replayLast), s.Mine(1))
	require.Equal(t, int64(replayLast), s.Mine(5))
}

func TestReplay_Errors(t *testing.T) {
	t.Parallel()
	_, err := sim.New(sim.Config{BlocksDir: t.TempDir()})
	require.ErrorContains(t, err, "no <number>.json")
	_, err = sim.New(sim.Config{BlocksDir: filepath.Join(t.TempDir(), "absent")})
	require.Error(t, err)
}
