package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/tron"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	blockFixture  = "getblockbynum-43811922.json"
	ledgerFixture = "gettransactioninfobyid-ledger.json"
)

// fixture returns the path of a recorded mainnet file (pkg/fixtures'
// testdata); it fails, never skips, when the file is missing.
func fixture(tb testing.TB, name string) string {
	tb.Helper()
	return fixtures.Path(tb, name)
}

type result struct {
	code   int
	stdout string
	stderr string
}

func run(ctx context.Context, tb testing.TB, env []string, args ...string) result {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, env, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// events parses one event per line, failing on anything else.
func events(tb testing.TB, out string) []event.Event {
	tb.Helper()
	var evs []event.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event.Event
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &e), "line %q", sc.Text())
		evs = append(evs, e)
	}
	require.NoError(tb, sc.Err())
	return evs
}

func kinds(evs []event.Event) map[event.Kind]int {
	m := map[event.Kind]int{}
	for _, e := range evs {
		m[e.Kind]++
	}
	return m
}

func requireChainOrder(tb testing.TB, evs []event.Event) {
	tb.Helper()
	for i := 1; i < len(evs); i++ {
		require.False(tb, evs[i].Before(&evs[i-1]), "event %d (%s) comes before event %d (%s)", i, evs[i].ID, i-1, evs[i-1].ID)
	}
}

// writeFile writes data to a new file in a temporary directory.
func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	require.NoError(tb, os.WriteFile(p, data, 0o644))
	return p
}

func TestRun_commands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", want: service.ExitUsage, wantStderr: "Usage: mongotron <command>"},
		{name: "help", args: []string{"--help"}, want: service.ExitOK, wantStdout: "decode   print the events of Tron blocks"},
		{name: "help word", args: []string{"help"}, want: service.ExitOK, wantStdout: "Commands:"},
		{name: "help decode", args: []string{"help", "decode"}, want: service.ExitOK, wantStdout: "--node URL   (MONGOTRON_TRON_NODE_URL)"},
		{name: "decode help", args: []string{"decode", "--help"}, want: service.ExitOK, wantStdout: "--txinfo file\n"},
		{name: "unknown command", args: []string{"decoed"}, want: service.ExitUsage, wantStderr: `mongotron: unknown command "decoed"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t.Context(), t, nil, tc.args...)
			require.Equal(t, tc.want, r.code, r.stderr)
			require.Contains(t, r.stdout, tc.wantStdout)
			require.Contains(t, r.stderr, tc.wantStderr)
		})
	}
}

func TestDecode_block(t *testing.T) {
	t.Parallel()
	r := run(t.Context(), t, nil, "decode", "--block", fixture(t, blockFixture))
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Empty(t, r.stderr)
	require.Equal(t, 198, strings.Count(r.stdout, "\n"))
	evs := events(t, r.stdout)
	require.Len(t, evs, 198)
	require.Equal(t, map[event.Kind]int{
		event.KindTRXTransfer:   73,
		event.KindTRC10Transfer: 62,
		event.KindContractCall:  63,
	}, kinds(evs))
	requireChainOrder(t, evs)
	for i, e := range evs {
		require.Equal(t, "event", e.Type)
		require.Equal(t, "mainnet", e.Network)
		require.Equal(t, int64(43811922), e.Block.Number)
		require.Equal(t, i, e.TxIndex)
	}
	// Subscription fields are absent, not empty.
	first := r.stdout[:strings.IndexByte(r.stdout, '\n')]
	for _, k := range []string{"cursor", "subscription_id", "watched", "direction"} {
		require.NotContains(t, first, `"`+k+`"`)
	}
}

func TestDecode_pretty(t *testing.T) {
	t.Parallel()
	r := run(t.Context(), t, []string{"MONGOTRON_NETWORK=nile"}, "decode", "--block", fixture(t, blockFixture), "--pretty")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	n := 0
	for dec.More() {
		var e event.Event
		require.NoError(t, dec.Decode(&e))
		require.Equal(t, "nile", e.Network)
		n++
	}
	require.Equal(t, 198, n)
	require.Contains(t, r.stdout, "\n  \"kind\": ")
}

// ledgerInfos reads the ledger fixture, a map of transaction id to
// gettransactioninfobyid answer.
func ledgerInfos(t *testing.T) map[string]tron.TxInfo {
	t.Helper()
	data, err := os.ReadFile(fixture(t, ledgerFixture))
	require.NoError(t, err)
	var m map[string]tron.TxInfo
	require.NoError(t, json.Unmarshal(data, &m))
	require.NotEmpty(t, m)
	return m
}

func TestDecode_txinfoMap(t *testing.T) {
	t.Parallel()
	infos := ledgerInfos(t)
	r := run(t.Context(), t, nil, "decode", "--txinfo", fixture(t, ledgerFixture))
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	got := events(t, r.stdout)
	require.NotEmpty(t, got)

	// The documented order: block number, then transaction id.
	ids := make([]string, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if d := infos[a].BlockNumber - infos[b].BlockNumber; d != 0 {
			return int(d)
		}
		return strings.Compare(a, b)
	})
	dec := decode.NewDecoder(decode.DecoderConfig{})
	var want []event.Event
	for _, id := range ids {
		info := infos[id]
		evs, err := dec.DecodeTxInfo(&info, -1)
		require.NoError(t, err)
		want = append(want, evs...)
	}
	requireOutput(t, want, r.stdout)
	require.Positive(t, kinds(got)[event.KindTRC20Transfer])
	for _, e := range got {
		require.Equal(t, -1, e.TxIndex)
	}
}

// requireOutput checks that stdout is exactly want, one JSON object per
// line: the bytes are the command's promise, not only the values.
func requireOutput(t *testing.T, want []event.Event, stdout string) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range want {
		require.NoError(t, enc.Encode(&want[i]))
	}
	wantLines := strings.SplitAfter(buf.String(), "\n")
	gotLines := strings.SplitAfter(stdout, "\n")
	require.Len(t, gotLines, len(wantLines))
	for i := range wantLines {
		if wantLines[i] != gotLines[i] {
			require.Equal(t, wantLines[i], gotLines[i], "line %d", i)
		}
	}
}

func TestDecode_txinfoShapes(t *testing.T) {
	t.Parallel()
	infos := ledgerInfos(t)
	// Two infos whose logs hold a TRC20 transfer, by the ledger's own
	// description of its content.
	var withLogs []tron.TxInfo
	for _, info := range infos {
		if len(info.Log) > 0 {
			withLogs = append(withLogs, info)
		}
	}
	slices.SortFunc(withLogs, func(a, b tron.TxInfo) int { return strings.Compare(a.ID, b.ID) })
	require.GreaterOrEqual(t, len(withLogs), 2)
	pair := withLogs[:2]

	array, err := json.Marshal(pair)
	require.NoError(t, err)
	single, err := json.Marshal(pair[1])
	require.NoError(t, err)

	t.Run("array gives positions as tx_index", func(t *testing.T) {
		t.Parallel()
		r := run(t.Context(), t, nil, "decode", "--txinfo", writeFile(t, "infos.json", array))
		require.Equal(t, service.ExitOK, r.code, r.stderr)
		evs := events(t, r.stdout)
		require.NotEmpty(t, evs)
		seen := map[int]bool{}
		for _, e := range evs {
			seen[e.TxIndex] = true
			require.Equal(t, pair[e.TxIndex].ID, e.TxID)
		}
		require.Equal(t, map[int]bool{0: true, 1: true}, seen)
	})
	t.Run("single answer gives tx_index -1", func(t *testing.T) {
		t.Parallel()
		r := run(t.Context(), t, nil, "decode", "--txinfo", writeFile(t, "info.json", single))
		require.Equal(t, service.ExitOK, r.code, r.stderr)
		evs := events(t, r.stdout)
		require.NotEmpty(t, evs)
		for _, e := range evs {
			require.Equal(t, -1, e.TxIndex)
			require.Equal(t, pair[1].ID, e.TxID)
		}
	})
	t.Run("empty array gives nothing", func(t *testing.T) {
		t.Parallel()
		r := run(t.Context(), t, nil, "decode", "--txinfo", writeFile(t, "empty.json", []byte("[]\n")))
		require.Equal(t, service.ExitOK, r.code, r.stderr)
		require.Empty(t, r.stdout)
	})
}

func TestDecode_badInput(t *testing.T) {
	t.Parallel()
	block := fixture(t, blockFixture)
	data, err := os.ReadFile(block)
	require.NoError(t, err)
	var b tron.Block
	require.NoError(t, json.Unmarshal(data, &b))

	forged := b
	forged.BlockID = strings.Repeat("0", 16) + b.BlockID[16:]
	forgedJSON, err := json.Marshal(&forged)
	require.NoError(t, err)

	tampered := b
	tampered.Transactions = slices.Clone(b.Transactions)
	tampered.Transactions[5].TxID = strings.Repeat("ab", 32)
	tamperedJSON, err := json.Marshal(&tampered)
	require.NoError(t, err)

	missing := filepath.Join(t.TempDir(), "nope.json")
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantErr string
	}{
		{name: "nothing to decode", args: nil, wantErr: "nothing to decode"},
		{name: "missing block file", args: []string{"--block", missing}, wantErr: "nope.json: no such file or directory"},
		{name: "missing txinfo file", args: []string{"--txinfo", missing}, wantErr: "nope.json: no such file or directory"},
		{name: "malformed block", args: []string{"--block", writeFile(t, "b.json", []byte(`{"blockID": "ab",`))}, wantErr: "not a getblockbynum answer: unexpected EOF"},
		{name: "not a block", args: []string{"--block", writeFile(t, "b.json", []byte(`{}`))}, wantErr: "not a getblockbynum answer: no blockID"},
		{name: "two blocks in one file", args: []string{"--block", writeFile(t, "b.json", append(append([]byte{}, data...), data...))}, wantErr: "trailing data"},
		{name: "forged block id", args: []string{"--block", writeFile(t, "b.json", forgedJSON)}, wantErr: "tron: integrity check failed"},
		{name: "tampered transaction id", args: []string{"--block", writeFile(t, "b.json", tamperedJSON)}, wantErr: "integrity"},
		{name: "infos of another block", args: []string{"--block", block, "--txinfo", fixture(t, ledgerFixture)}, wantErr: "belongs to no transaction of the block"},
		{name: "malformed txinfo", args: []string{"--txinfo", writeFile(t, "i.json", []byte(`[{"id": 5}]`))}, wantErr: "not a gettransactioninfobyblocknum array"},
		{name: "txinfo not JSON", args: []string{"--txinfo", writeFile(t, "i.json", []byte("id,fee\n"))}, wantErr: "not JSON"},
		{name: "txinfo empty file", args: []string{"--txinfo", writeFile(t, "i.json", nil)}, wantErr: "empty file"},
		{name: "txinfo empty object", args: []string{"--txinfo", writeFile(t, "i.json", []byte("{}"))}, wantErr: "empty object"},
		{name: "txinfo map key mismatch", args: []string{"--txinfo", writeFile(t, "i.json", []byte(`{"aa": {"id": "bb"}}`))}, wantErr: `key "aa" holds the info of transaction "bb"`},
		{name: "txinfo bad id", args: []string{"--txinfo", writeFile(t, "i.json", []byte(`{"id": "xyz"}`))}, wantErr: "want 64 hex digits"},
		{name: "from after to", args: []string{"--node", "http://127.0.0.1:1", "--from", "10", "--to", "9"}, wantErr: "--from 10 is after --to 9"},
		{name: "negative from", args: []string{"--node", "http://127.0.0.1:1", "--from=-1"}, wantErr: "--from -1 is negative"},
		{name: "to without from", args: []string{"--node", "http://127.0.0.1:1", "--to", "9"}, wantErr: "--to needs --from"},
		{name: "follow with to", args: []string{"--node", "http://127.0.0.1:1", "--follow", "--from", "1", "--to", "9"}, wantErr: "--follow has no end"},
		{name: "range without node", args: []string{"--from", "1"}, wantErr: "need --node"},
		{name: "files with node range", args: []string{"--node", "http://x", "--from", "1", "--block", block}, wantErr: "do not go with --from"},
		{name: "bad node url", args: []string{"--node", "ftp://x", "--follow"}, wantErr: `--node: scheme "ftp"`},
		{name: "bad poll interval", args: []string{"--node", "http://x", "--follow", "--poll-interval=0s"}, wantErr: "--poll-interval 0s"},
		{name: "bad network", args: []string{"--block", block, "--network", "mainet"}, wantErr: `--network "mainet"`},
		{name: "bad network from env", args: []string{"--block", block}, env: []string{"MONGOTRON_NETWORK=testnet"}, wantErr: `--network "testnet"`},
		{name: "unknown flag", args: []string{"--blok", block}, wantErr: "flag provided but not defined: -blok"},
		{name: "stray argument", args: []string{block}, wantErr: "unexpected argument"},
		{name: "bad from", args: []string{"--from", "ten"}, wantErr: `invalid value "ten" for flag -from`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t.Context(), t, tc.env, append([]string{"decode"}, tc.args...)...)
			require.Equal(t, service.ExitUsage, r.code, "stderr: %s", r.stderr)
			require.Empty(t, r.stdout)
			require.True(t, strings.HasPrefix(r.stderr, "mongotron decode: "), r.stderr)
			require.Contains(t, r.stderr, tc.wantErr)
			require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		})
	}
}

func TestDecode_env(t *testing.T) {
	t.Parallel()
	// The daemons' keys do not trouble the command, and the node comes
	// from the shared key; a node that refuses gives exit status 1.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	env := []string{"MONGOTRON_MONGO_URI=mongodb://x", "MONGOTRON_EDGE_WS_WRITE_TIMEOUT=1s", "MONGOTRON_TRON_NODE_URL=" + srv.URL}
	r := run(t.Context(), t, env, "decode", "--from", "5")
	require.Equal(t, service.ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "mongotron decode: node head: ")
	require.Contains(t, r.stderr, "404")
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
}
