package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// rawGRPCBlock is mainnet block 79072107 as a node's GetBlockByNum2
// returned it: a protobuf BlockExtention, hex with 0x.
const rawGRPCBlock = "getblockbynum2-79072107.hex"

// TestDecode_blockProtobuf decodes a real raw gRPC block, as hex and as
// binary: the same events, all of the block the id names.
func TestDecode_blockProtobuf(t *testing.T) {
	t.Parallel()
	text := fixtures.Read(t, rawGRPCBlock)
	bin, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(string(text)), "0x"))
	require.NoError(t, err)

	fromHex := run(t.Context(), t, nil, "decode", "--block", fixture(t, rawGRPCBlock))
	require.Equal(t, service.ExitOK, fromHex.code, fromHex.stderr)
	require.Empty(t, fromHex.stderr)
	evs := events(t, fromHex.stdout)
	require.NotEmpty(t, evs)
	requireChainOrder(t, evs)
	want, err := tron.DecodeBlockExtention(bin)
	require.NoError(t, err)
	for _, e := range evs {
		require.Equal(t, int64(79072107), e.Block.Number)
		require.Equal(t, want.BlockID, e.Block.ID)
	}

	fromBinary := run(t.Context(), t, nil, "decode", "--block", writeFile(t, "block.pb", bin))
	require.Equal(t, service.ExitOK, fromBinary.code, fromBinary.stderr)
	require.Equal(t, fromHex.stdout, fromBinary.stdout)
}

// TestDecode_blockProtobufMatchesJSON pins "the same block read over gRPC
// and over HTTP gives byte-identical events" for saved blocks: the real
// JSON fixture, converted to the protobuf a node would serve, prints the
// same bytes.
func TestDecode_blockProtobufMatchesJSON(t *testing.T) {
	t.Parallel()
	var b tron.Block
	require.NoError(t, json.Unmarshal(fixtures.Read(t, blockFixture), &b))
	pb, err := tron.BlockToPB(&b)
	require.NoError(t, err)
	bin, err := proto.Marshal(pb)
	require.NoError(t, err)

	fromJSON := run(t.Context(), t, nil, "decode", "--block", fixture(t, blockFixture))
	require.Equal(t, service.ExitOK, fromJSON.code, fromJSON.stderr)
	for name, data := range map[string][]byte{
		"binary":   bin,
		"hex":      []byte(hex.EncodeToString(bin) + "\n"),
		"0x hex":   []byte("0x" + hex.EncodeToString(bin)),
		"spaced":   []byte("\n  " + hex.EncodeToString(bin) + "  \n"),
		"upper 0X": []byte("0X" + strings.ToUpper(hex.EncodeToString(bin))),
	} {
		r := run(t.Context(), t, nil, "decode", "--block", writeFile(t, "block", data))
		require.Equal(t, service.ExitOK, r.code, "%s: %s", name, r.stderr)
		require.Equal(t, fromJSON.stdout, r.stdout, name)
	}
}

func TestDecode_blockProtobufBad(t *testing.T) {
	t.Parallel()
	text := bytes.TrimSpace(fixtures.Read(t, rawGRPCBlock))
	tests := []struct {
		name, data, wantErr string
	}{
		{"odd hex", "0x0a0", "neither a getblockbynum answer (JSON) nor a protobuf BlockExtention"},
		{"not protobuf", "\x0a\x50\x0a", "neither a getblockbynum answer"},
		{"empty file", "", "empty input"},
		// A forged id: the last byte of the blockid (the message's last
		// field) changed.
		{"forged block id", string(text[:len(text)-2]) + "00", "integrity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t.Context(), t, nil, "decode", "--block", writeFile(t, "b.pb", []byte(tt.data)))
			require.Equal(t, service.ExitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.wantErr)
		})
	}
}

// chainNode serves the shasta fixture block and its infos, over HTTP and
// over gRPC, for the online decode.
type chainNode struct {
	tronpb.UnimplementedWalletServer
	block *tron.Block
	infos []tron.TxInfo
}

func newChainNode(t *testing.T) *chainNode {
	t.Helper()
	n := &chainNode{block: &tron.Block{}}
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "getblock-shasta-1000000.json"), n.block))
	var byID map[string]tron.TxInfo
	require.NoError(t, json.Unmarshal(fixtures.Read(t, "gettransactioninfobyid-internal.json"), &byID))
	for _, tx := range n.block.Transactions {
		n.infos = append(n.infos, byID[tx.TxID])
	}
	return n
}

func (n *chainNode) num() int64 { return n.block.BlockHeader.RawData.Number }

func (n *chainNode) GetNowBlock2(context.Context, *tronpb.EmptyMessage) (*tronpb.BlockExtention, error) {
	return tron.BlockToPB(n.block)
}

func (n *chainNode) GetBlockByNum2(_ context.Context, m *tronpb.NumberMessage) (*tronpb.BlockExtention, error) {
	if m.GetNum() != n.num() {
		return &tronpb.BlockExtention{}, nil
	}
	return tron.BlockToPB(n.block)
}

func (n *chainNode) GetBlockByLimitNext2(_ context.Context, m *tronpb.BlockLimit) (*tronpb.BlockListExtention, error) {
	out := &tronpb.BlockListExtention{}
	if m.GetStartNum() <= n.num() && n.num() < m.GetEndNum() {
		b, err := tron.BlockToPB(n.block)
		if err != nil {
			return nil, err
		}
		out.Block = append(out.Block, b)
	}
	return out, nil
}

func (n *chainNode) GetTransactionInfoByBlockNum(_ context.Context, m *tronpb.NumberMessage) (*tronpb.TransactionInfoList, error) {
	if m.GetNum() != n.num() {
		return &tronpb.TransactionInfoList{}, nil
	}
	l, err := tron.TxInfosToPB(n.infos)
	return &tronpb.TransactionInfoList{TransactionInfo: l}, err
}

func (n *chainNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct{ Num, StartNum, EndNum int64 }
	_ = json.NewDecoder(r.Body).Decode(&req)
	var body any = map[string]any{}
	switch r.URL.Path {
	case "/wallet/getnowblock":
		body = n.block
	case "/wallet/getblockbylimitnext":
		if req.StartNum <= n.num() && n.num() < req.EndNum {
			body = map[string]any{"block": []*tron.Block{n.block}}
		}
	case "/wallet/gettransactioninfobyblocknum":
		body = []tron.TxInfo{}
		if req.Num == n.num() {
			body = n.infos
		}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// TestDecode_grpcNode decodes a block online from a gRPC node and from an
// HTTP node serving the same chain: the output is the same, byte for byte,
// logs and internal transactions included.
func TestDecode_grpcNode(t *testing.T) {
	t.Parallel()
	n := newChainNode(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	tronpb.RegisterWalletServer(srv, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	httpSrv := httptest.NewServer(n)
	t.Cleanup(httpSrv.Close)

	from := strconv.FormatInt(n.num(), 10)
	overHTTP := run(t.Context(), t, nil, "decode", "--network", "shasta", "--node", httpSrv.URL, "--from", from)
	require.Equal(t, service.ExitOK, overHTTP.code, overHTTP.stderr)
	overGRPC := run(t.Context(), t, nil, "decode", "--network", "shasta", "--node", "grpc://"+lis.Addr().String(), "--from", from)
	require.Equal(t, service.ExitOK, overGRPC.code, overGRPC.stderr)
	require.Equal(t, overHTTP.stdout, overGRPC.stdout)
	evs := events(t, overGRPC.stdout)
	require.Greater(t, len(evs), len(n.block.Transactions), "logs and internal transactions decode too")
}

func TestDecodeConfig_validateNodeSchemes(t *testing.T) {
	t.Parallel()
	for _, node := range []string{"http://127.0.0.1:8090", "https://api.trongrid.io", "grpc://127.0.0.1:50051", "grpcs://grpc.trongrid.io:50051?solidity=grpc.trongrid.io:50052"} {
		cfg := decodeConfig{Node: node, From: 1, fromSet: true, PollInterval: 1, Network: tron.NetworkMainnet}
		require.NoError(t, cfg.validate(), node)
	}
	cfg := decodeConfig{Node: "ftp://node", From: 1, fromSet: true, PollInterval: 1, Network: tron.NetworkMainnet}
	require.ErrorContains(t, cfg.validate(), `scheme "ftp"`)
}
