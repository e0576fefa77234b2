package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// newSim returns a simulator in instant mode with small blocks unless cfg
// says otherwise, served by an httptest server on loopback.
func newSim(t testing.TB, cfg sim.Config) (*sim.Sim, string) {
	t.Helper()
	cfg.Instant = true
	if cfg.TxsPerBlock == 0 {
		cfg.TxsPerBlock = 20
	}
	if cfg.Addresses == 0 {
		cfg.Addresses = 300
	}
	s, err := sim.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// call POSTs body (marshalled unless it is a string) and returns the
// status and the raw answer.
func call(t testing.TB, base, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader = http.NoBody
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("TRON-PRO-API-KEY", "ignored-by-the-simulator")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func get(t testing.TB, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, out
}

func fetchBlock(t testing.TB, base string, n int64) (tron.Block, []tron.TxInfo) {
	t.Helper()
	code, body := call(t, base, "/wallet/getblockbynum", map[string]any{"num": n})
	require.Equal(t, http.StatusOK, code)
	var b tron.Block
	require.NoError(t, json.Unmarshal(body, &b))
	code, body = call(t, base, "/wallet/gettransactioninfobyblocknum", map[string]any{"num": n})
	require.Equal(t, http.StatusOK, code)
	var infos []tron.TxInfo
	require.NoError(t, json.Unmarshal(body, &infos))
	return b, infos
}
