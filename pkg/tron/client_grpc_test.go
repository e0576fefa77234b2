package tron

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// grpcNode is a test node serving Wallet and WalletSolidity over gRPC
// from blocks and infos held in this package's types, converted with
// BlockToPB and TxInfosToPB as tronsim does.
type grpcNode struct {
	tronpb.UnimplementedWalletServer

	mu     sync.Mutex
	blocks map[int64]*Block
	infos  map[int64][]TxInfo
	head   int64
	// gap leaves the second block out of every range answer.
	gap bool
	// script is handed each call in turn, before the node answers; the
	// last step repeats. A nil step lets the node answer.
	script []step
	calls  []seenCall
	// trigger, if set, answers TriggerConstantContract.
	trigger *tronpb.TransactionExtention
}

// step is one scripted reaction to a call: a non-nil error is the answer.
type step func(ctx context.Context) error

type seenCall struct {
	method string
	md     metadata.MD
}

func fail(c codes.Code, msg string) step {
	return func(context.Context) error { return status.Error(c, msg) }
}

func failRetryAfter(c codes.Code, after string) step {
	return func(ctx context.Context) error {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after", after))
		return status.Error(c, "slow down")
	}
}

// stallGRPC answers nothing until the caller gives up. The handler's
// context carries the caller's deadline, so it ends about when the
// caller's does: it answers half a second later, or a loaded machine
// could let that answer reach the caller before its own deadline fired.
func stallGRPC(ctx context.Context) error {
	select {
	case <-ctx.Done():
		time.Sleep(500 * time.Millisecond)
	case <-time.After(10 * time.Second):
	}
	return status.Error(codes.Unavailable, "stalled")
}

func newGRPCNode(head int64) *grpcNode {
	n := &grpcNode{blocks: map[int64]*Block{}, infos: map[int64][]TxInfo{}, head: head}
	for i := int64(0); i <= head; i++ {
		n.blocks[i] = &Block{BlockID: fmt.Sprintf("%016x%048x", i, 1), BlockHeader: BlockHeader{RawData: BlockHeaderRaw{Number: i}}}
	}
	return n
}

func (n *grpcNode) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	n.mu.Lock()
	n.calls = append(n.calls, seenCall{info.FullMethod, md})
	var s step
	if len(n.script) > 0 {
		s = n.script[0]
		if len(n.script) > 1 {
			n.script = n.script[1:]
		}
	}
	n.mu.Unlock()
	if s != nil {
		if err := s(ctx); err != nil {
			return nil, err
		}
	}
	return h(ctx, req)
}

func (n *grpcNode) seen() []seenCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]seenCall(nil), n.calls...)
}

func (n *grpcNode) ext(num int64) (*tronpb.BlockExtention, error) {
	n.mu.Lock()
	b, ok := n.blocks[num]
	n.mu.Unlock()
	if !ok {
		// java-tron answers an empty message for a block it does not have.
		return &tronpb.BlockExtention{}, nil
	}
	return BlockToPB(b)
}

func (n *grpcNode) GetNowBlock2(context.Context, *tronpb.EmptyMessage) (*tronpb.BlockExtention, error) {
	return n.ext(n.head)
}

func (n *grpcNode) GetBlockByNum2(_ context.Context, m *tronpb.NumberMessage) (*tronpb.BlockExtention, error) {
	return n.ext(m.GetNum())
}

func (n *grpcNode) GetBlockByLimitNext2(_ context.Context, m *tronpb.BlockLimit) (*tronpb.BlockListExtention, error) {
	out := &tronpb.BlockListExtention{}
	if m.GetEndNum()-m.GetStartNum() > MaxBlocksPerRange {
		return out, nil
	}
	for i := m.GetStartNum(); i < m.GetEndNum() && i <= n.head; i++ {
		if n.gap && i == m.GetStartNum()+1 {
			continue
		}
		e, err := n.ext(i)
		if err != nil {
			return nil, err
		}
		out.Block = append(out.Block, e)
	}
	return out, nil
}

func (n *grpcNode) GetTransactionInfoByBlockNum(_ context.Context, m *tronpb.NumberMessage) (*tronpb.TransactionInfoList, error) {
	n.mu.Lock()
	infos := n.infos[m.GetNum()]
	n.mu.Unlock()
	l, err := TxInfosToPB(infos)
	if err != nil {
		return nil, err
	}
	return &tronpb.TransactionInfoList{TransactionInfo: l}, nil
}

func (n *grpcNode) GetNodeInfo(context.Context, *tronpb.EmptyMessage) (*tronpb.NodeInfo, error) {
	return NodeInfoToPB(&NodeInfo{Block: fmt.Sprintf("Num:%d,ID:00", n.head), SolidityBlock: fmt.Sprintf("Num:%d,ID:00", n.head-2)}), nil
}

func (n *grpcNode) TriggerConstantContract(context.Context, *tronpb.TriggerSmartContract) (*tronpb.TransactionExtention, error) {
	if n.trigger == nil {
		return nil, status.Error(codes.Unimplemented, "no trigger")
	}
	return n.trigger, nil
}

// solidityNode serves WalletSolidity with its own head, so that a test
// can tell which service answered.
type solidityNode struct {
	tronpb.UnimplementedWalletSolidityServer
	head int64
}

func (s *solidityNode) GetNowBlock2(context.Context, *tronpb.EmptyMessage) (*tronpb.BlockExtention, error) {
	return BlockToPB(&Block{BlockID: fmt.Sprintf("%016x%048x", s.head, 2), BlockHeader: BlockHeader{RawData: BlockHeaderRaw{Number: s.head}}})
}

// serveGRPC serves n (and a solidity service with head solidHead) on a
// loopback port until the test ends, and returns host:port.
func serveGRPC(tb testing.TB, n *grpcNode, solidHead int64, opts ...grpc.ServerOption) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := grpc.NewServer(append(opts, grpc.UnaryInterceptor(n.intercept))...)
	tronpb.RegisterWalletServer(srv, n)
	tronpb.RegisterWalletSolidityServer(srv, &solidityNode{head: solidHead})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	tb.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// newGRPCTestClient serves n and returns a client of it with fast retries.
func newGRPCTestClient(tb testing.TB, n *grpcNode, cfg ClientConfig) (*Client, *observed) {
	tb.Helper()
	addr := serveGRPC(tb, n, 40)
	return newClientFor(tb, "grpc://"+addr, cfg)
}

func TestClientGRPC_Methods(t *testing.T) {
	t.Parallel()
	node := newGRPCNode(50)
	c, obs := newGRPCTestClient(t, node, ClientConfig{})
	ctx := t.Context()

	b, err := c.NowBlock(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(50), b.BlockHeader.RawData.Number)

	b, err = c.SolidNowBlock(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(40), b.BlockHeader.RawData.Number, "WalletSolidity answers at the same address")

	b, err = c.BlockByNum(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, *node.blocks[7], *b)

	_, err = c.BlockByNum(ctx, 51)
	require.ErrorIs(t, err, ErrNotFound)

	ni, err := c.NodeInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, "Num:50,ID:00", ni.Block)

	h, err := c.SolidHeight(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(48), h)

	infos, err := c.TxInfosByBlockNum(ctx, 3)
	require.NoError(t, err)
	require.NotNil(t, infos)
	require.Empty(t, infos)

	calls := obs.all()
	require.Equal(t, "/protocol.Wallet/GetNowBlock2", calls[0].Path)
	require.Equal(t, "/protocol.WalletSolidity/GetNowBlock2", calls[1].Path)
	require.Equal(t, "/protocol.Wallet/GetBlockByNum2", calls[2].Path)
	for _, ci := range calls {
		if !errors.Is(ci.Err, ErrNotFound) {
			require.NoError(t, ci.Err)
		}
		require.Equal(t, http.StatusOK, ci.StatusCode)
		require.Equal(t, "OK", ci.Code)
	}
}

func TestClientGRPC_SeparateSolidityAddress(t *testing.T) {
	t.Parallel()
	full := serveGRPC(t, newGRPCNode(50), 40)
	solid := serveGRPC(t, newGRPCNode(10), 9)
	c, _ := newClientFor(t, "grpc://"+full+"?solidity="+solid, ClientConfig{})
	b, err := c.SolidNowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(9), b.BlockHeader.RawData.Number)
	b, err = c.NowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(50), b.BlockHeader.RawData.Number)
}

func TestClientGRPC_BlocksByRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		head       int64
		gap        bool
		batch      int
		start, end int64
		wantCalls  int
		wantFirst  int64
		wantCount  int
		wantErr    error
	}{
		{"split in hundreds", 1000, false, 0, 5, 255, 3, 5, 250, nil},
		{"smaller batches", 1000, false, 30, 10, 70, 2, 10, 60, nil},
		{"empty range", 1000, false, 0, 9, 9, 0, 0, 0, nil},
		{"past head stops early", 150, false, 0, 100, 400, 1, 100, 51, nil},
		{"entirely past head", 50, false, 0, 100, 120, 1, 0, 0, nil},
		{"gap", 1000, true, 0, 0, 10, 1, 0, 0, ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(tt.head)
			node.gap = tt.gap
			c, obs := newGRPCTestClient(t, node, ClientConfig{RangeBatch: tt.batch})
			blocks, err := c.BlocksByRange(t.Context(), tt.start, tt.end)
			require.Len(t, obs.all(), tt.wantCalls)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, blocks, tt.wantCount)
			for i, b := range blocks {
				require.Equal(t, tt.wantFirst+int64(i), b.BlockHeader.RawData.Number)
			}
		})
	}
}

func TestClientGRPC_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       []step
		maxRetries   int
		maxBytes     int64
		wantErr      error
		wantCode     codes.Code // of a *GRPCError in the chain; OK for none
		wantAttempts int
		wantStatus   int // of the first attempt
	}{
		{"success", nil, 0, 0, nil, codes.OK, 1, 200},
		{"unavailable, internal, unknown, then success", []step{fail(codes.Unavailable, "restarting"), fail(codes.Internal, "npe"), fail(codes.Unknown, "x"), nil}, 0, 0, nil, codes.OK, 4, 503},
		{"node deadline then success", []step{fail(codes.DeadlineExceeded, "slow"), nil}, 0, 0, nil, codes.OK, 2, 504},
		{"rate limited then success", []step{failRetryAfter(codes.ResourceExhausted, "0"), nil}, 0, 0, nil, codes.OK, 2, 429},
		{"unavailable until retries run out", []step{fail(codes.Unavailable, "down")}, 2, 0, nil, codes.Unavailable, 3, 503},
		{"rate limited forever", []step{failRetryAfter(codes.ResourceExhausted, "1")}, 2, 0, ErrRateLimited, codes.ResourceExhausted, 3, 429},
		{"invalid argument is not retried", []step{fail(codes.InvalidArgument, "bad")}, 0, 0, nil, codes.InvalidArgument, 1, 400},
		{"unimplemented is not retried", []step{fail(codes.Unimplemented, "no such method")}, 0, 0, nil, codes.Unimplemented, 1, 501},
		{"not found", []step{fail(codes.NotFound, "no block")}, 0, 0, ErrNotFound, codes.OK, 1, 404},
		{"answer over the size limit", nil, 0, 20, ErrBadResponse, codes.OK, 1, 200},
		{"no retries", []step{fail(codes.Internal, "")}, -1, 0, nil, codes.Internal, 1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(9)
			node.script = tt.script
			c, obs := newGRPCTestClient(t, node, ClientConfig{MaxRetries: tt.maxRetries, MaxRetryAfter: 5 * time.Millisecond, MaxResponseBytes: tt.maxBytes})
			b, err := c.BlockByNum(t.Context(), 7)
			calls := obs.all()
			require.Len(t, calls, tt.wantAttempts)
			require.Equal(t, tt.wantStatus, calls[0].StatusCode)
			for _, ci := range calls {
				require.Equal(t, "/protocol.Wallet/GetBlockByNum2", ci.Path)
			}
			if tt.wantErr == nil && tt.wantCode == codes.OK {
				require.NoError(t, err)
				require.Equal(t, int64(7), b.BlockHeader.RawData.Number)
				return
			}
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "tron: "), err.Error())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			var ge *GRPCError
			if tt.wantCode != codes.OK {
				require.ErrorAs(t, err, &ge)
				require.Equal(t, tt.wantCode, ge.Code)
				require.Equal(t, tt.wantCode, status.Code(err))
			} else {
				require.NotErrorAs(t, err, &ge)
			}
		})
	}
}

func TestClientGRPC_RateLimitError(t *testing.T) {
	t.Parallel()
	node := newGRPCNode(3)
	node.script = []step{failRetryAfter(codes.ResourceExhausted, "7")}
	c, _ := newGRPCTestClient(t, node, ClientConfig{MaxRetries: 1, MaxRetryAfter: time.Millisecond})
	_, err := c.NowBlock(t.Context())
	rl, ok := errors.AsType[*RateLimitError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 7*time.Second, rl.RetryAfter)
	require.Nil(t, rl.HTTP)
	require.Equal(t, "/protocol.Wallet/GetNowBlock2", rl.GRPC.Method)
	require.Contains(t, rl.Error(), "/protocol.Wallet/GetNowBlock2")
}

func TestClientGRPC_BadAnswers(t *testing.T) {
	t.Parallel()
	bad := newGRPCNode(9)
	bad.blocks[7] = bad.blocks[8] // the wrong block
	// A transaction whose contract value is not its contract type: a
	// TransferContract whose owner_address runs past the end.
	raw, err := proto.Marshal(&tronpb.TransactionRaw{Contract: []*tronpb.Transaction_Contract{{
		Type: tronpb.Transaction_Contract_TransferContract, Parameter: &tronpb.Any{Value: []byte{0x0a, 0x09}},
	}}})
	require.NoError(t, err)
	bad.blocks[6].Transactions = []Transaction{{TxID: strings.Repeat("00", 32), RawDataHex: hex.EncodeToString(raw)}}
	c, obs := newGRPCTestClient(t, bad, ClientConfig{})
	for _, num := range []int64{7, 6} {
		_, err := c.BlockByNum(t.Context(), num)
		require.ErrorIs(t, err, ErrBadResponse, "block %d", num)
	}
	require.Len(t, obs.all(), 2, "bad answers are not retried")
}

func TestClientGRPC_TxInfos(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("0f", 32)
	tests := []struct {
		name    string
		infos   []TxInfo
		want    int
		wantErr error
	}{
		{"empty block", nil, 0, nil},
		{"two infos", []TxInfo{{ID: id, BlockNumber: 42}, {ID: id, BlockNumber: 42, Log: []Log{{Address: "aa"}}}}, 2, nil},
		{"other block", []TxInfo{{ID: id, BlockNumber: 41}}, 0, ErrBadResponse},
		{"no id", []TxInfo{{BlockNumber: 42}}, 0, ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(50)
			node.infos[42] = tt.infos
			c, obs := newGRPCTestClient(t, node, ClientConfig{})
			infos, err := c.TxInfosByBlockNum(t.Context(), 42)
			require.Len(t, obs.all(), 1)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, infos)
			require.Len(t, infos, tt.want)
			if tt.want > 0 {
				require.Equal(t, tt.infos, infos)
			}
		})
	}
}

func TestClientGRPC_TriggerConstant(t *testing.T) {
	t.Parallel()
	usdt, err := ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	six := append(make([]byte, 31), 6)
	failed := &tronpb.Transaction{Ret: []*tronpb.Transaction_Result{{Ret: tronpb.Transaction_Result_FAILED}}}
	tests := []struct {
		name     string
		answer   *tronpb.TransactionExtention
		want     []byte
		wantErr  error
		wantCode string
	}{
		{"success", &tronpb.TransactionExtention{Result: &tronpb.Return{Result: true}, ConstantResult: [][]byte{six}, Transaction: &tronpb.Transaction{Ret: []*tronpb.Transaction_Result{{}}}}, six, nil, ""},
		{"empty result", &tronpb.TransactionExtention{Result: &tronpb.Return{Result: true}, ConstantResult: [][]byte{{}}}, []byte{}, nil, ""},
		{"revert", &tronpb.TransactionExtention{Result: &tronpb.Return{Result: true, Message: []byte("REVERT opcode executed")}, ConstantResult: [][]byte{{0x08, 0xc3, 0x79, 0xa0}}, Transaction: failed}, nil, ErrCallFailed, "REVERT"},
		{"no contract", &tronpb.TransactionExtention{Result: &tronpb.Return{Code: tronpb.Return_CONTRACT_VALIDATE_ERROR, Message: []byte("No contract or not a smart contract")}}, nil, ErrCallFailed, "CONTRACT_VALIDATE_ERROR"},
		{"no result", &tronpb.TransactionExtention{ConstantResult: [][]byte{{0}}}, nil, ErrBadResponse, ""},
		{"no constant_result", &tronpb.TransactionExtention{Result: &tronpb.Return{Result: true}}, nil, ErrBadResponse, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(1)
			node.trigger = tt.answer
			c, _ := newGRPCTestClient(t, node, ClientConfig{})
			ret, err := c.TriggerConstant(t.Context(), Address{}, usdt, "balanceOf(address)", usdt.EVM())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				if tt.wantCode != "" {
					ce, ok := errors.AsType[*CallError](err)
					require.True(t, ok)
					require.Equal(t, tt.wantCode, ce.Code)
					require.NotEmpty(t, ce.Message)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, ret)
		})
	}
}

// recordingWallet keeps the TriggerSmartContract it is sent.
type recordingWallet struct {
	*grpcNode
	got chan *tronpb.TriggerSmartContract
}

func (r recordingWallet) TriggerConstantContract(ctx context.Context, m *tronpb.TriggerSmartContract) (*tronpb.TransactionExtention, error) {
	r.got <- m
	return r.grpcNode.TriggerConstantContract(ctx, m)
}

// TestClientGRPC_TriggerConstantRequest pins the call data: what the HTTP
// API builds from function_selector and parameter, the Keccak-256
// selector followed by the arguments.
func TestClientGRPC_TriggerConstantRequest(t *testing.T) {
	t.Parallel()
	node := newGRPCNode(1)
	node.trigger = &tronpb.TransactionExtention{Result: &tronpb.Return{Result: true}, ConstantResult: [][]byte{{1}}}
	rw := recordingWallet{node, make(chan *tronpb.TriggerSmartContract, 1)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	tronpb.RegisterWalletServer(srv, rw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	c, _ := newClientFor(t, "grpc://"+lis.Addr().String(), ClientConfig{})
	usdt, err := ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(t, err)
	_, err = c.TriggerConstant(t.Context(), Address{}, usdt, "balanceOf(address)", usdt.EVM())
	require.NoError(t, err)
	m := <-rw.got
	require.Equal(t, zeroOwner[:], m.OwnerAddress)
	require.Equal(t, usdt[:], m.ContractAddress)
	require.Equal(t, append([]byte{0x70, 0xa0, 0x82, 0x31}, usdt.EVM()...), m.Data, "balanceOf(address) is 0x70a08231")
}

func TestClientGRPC_APIKeyMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, header, wantKey string
	}{
		{"default header", "k-123", "", "tron-pro-api-key"},
		{"own header", "k-456", "X-Api-Key", "x-api-key"},
		{"no key", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(3)
			c, _ := newGRPCTestClient(t, node, ClientConfig{APIKey: tt.key, APIKeyHeader: tt.header})
			_, err := c.NowBlock(t.Context())
			require.NoError(t, err)
			md := node.seen()[0].md
			if tt.wantKey == "" {
				require.Empty(t, md.Get("tron-pro-api-key"))
				return
			}
			require.Equal(t, []string{tt.key}, md.Get(tt.wantKey))
		})
	}
}

func TestClientGRPC_TLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	addr := serveGRPC(t, newGRPCNode(12), 10, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))

	c, _ := newClientFor(t, "grpcs://"+addr, ClientConfig{TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	b, err := c.NowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(12), b.BlockHeader.RawData.Number)

	// Without the test root the certificate is not trusted.
	untrusting, _ := newClientFor(t, "grpcs://"+addr, ClientConfig{MaxRetries: -1})
	_, err = untrusting.NowBlock(t.Context())
	require.Error(t, err)
	// Nor does a plaintext client get an answer from a TLS server.
	plain, _ := newClientFor(t, "grpc://"+addr, ClientConfig{MaxRetries: -1})
	_, err = plain.NowBlock(t.Context())
	require.Error(t, err)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mongotron test node"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(tb, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestClientGRPC_AttemptTimeout(t *testing.T) {
	t.Parallel()
	node := newGRPCNode(9)
	node.script = []step{stallGRPC, nil}
	c, obs := newGRPCTestClient(t, node, ClientConfig{Timeout: 300 * time.Millisecond})
	b, err := c.NowBlock(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(9), b.BlockHeader.RawData.Number)
	calls := obs.all()
	require.GreaterOrEqual(t, len(calls), 2)
	require.ErrorIs(t, calls[0].Err, context.DeadlineExceeded)
	require.Zero(t, calls[0].StatusCode, "no answer came")
	require.NoError(t, calls[len(calls)-1].Err)
}

func TestClientGRPC_Cancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		step step
	}{
		{"during backoff", fail(codes.Unavailable, "")},
		{"during request", stallGRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := newGRPCNode(3)
			node.script = []step{tt.step}
			c, obs := newGRPCTestClient(t, node, ClientConfig{MinBackoff: time.Minute, MaxBackoff: time.Minute, Timeout: time.Minute})
			ctx, cancel := context.WithCancel(t.Context())
			timer := time.AfterFunc(50*time.Millisecond, cancel)
			defer timer.Stop()
			_, err := c.NowBlock(ctx)
			require.ErrorIs(t, err, context.Canceled)
			require.Len(t, obs.all(), 1)
		})
	}
}

func TestClientGRPC_Close(t *testing.T) {
	t.Parallel()
	addr := serveGRPC(t, newGRPCNode(3), 1)
	c, err := NewClient(ClientConfig{BaseURL: "grpc://" + addr, MaxRetries: -1})
	require.NoError(t, err)
	_, err = c.NowBlock(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.NowBlock(t.Context())
	require.Error(t, err, "a closed client does not call")
}

func TestNewClient_GRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     ClientConfig
		wantErr bool
	}{
		{"grpc", ClientConfig{BaseURL: "grpc://127.0.0.1:50051"}, false},
		{"grpcs", ClientConfig{BaseURL: "grpcs://grpc.trongrid.io:50051"}, false},
		{"trailing slash", ClientConfig{BaseURL: "grpc://node:50051/"}, false},
		{"solidity", ClientConfig{BaseURL: "grpc://node:50051?solidity=node:50061"}, false},
		{"own key header", ClientConfig{BaseURL: "grpc://node:50051", APIKeyHeader: "X-Api-Key"}, false},
		{"no port", ClientConfig{BaseURL: "grpc://node"}, true},
		{"path", ClientConfig{BaseURL: "grpc://node:50051/wallet"}, true},
		{"other query", ClientConfig{BaseURL: "grpc://node:50051?x=1"}, true},
		{"solidity without port", ClientConfig{BaseURL: "grpc://node:50051?solidity=node"}, true},
		{"two solidity", ClientConfig{BaseURL: "grpc://node:50051?solidity=a:1&solidity=b:2"}, true},
		{"user", ClientConfig{BaseURL: "grpc://u:p@node:50051"}, true},
		{"bad key header", ClientConfig{BaseURL: "grpc://node:50051", APIKeyHeader: "a key"}, true},
		{"reserved key header", ClientConfig{BaseURL: "grpc://node:50051", APIKeyHeader: "grpc-timeout"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tt.cfg)
			if tt.wantErr {
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), "tron: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.Close())
		})
	}
}

// TestClient_GRPCMatchesHTTP reads the real fixture blocks and receipts
// through both transports: the answers must be equal, field for field.
func TestClient_GRPCMatchesHTTP(t *testing.T) {
	t.Parallel()
	type recorded struct {
		block *Block
		infos []TxInfo
	}
	byNum := map[int64]recorded{}
	for _, f := range []struct{ block, infos string }{
		{"getblockbynum-43811922.json", ""},
		{"getblock-shasta-1000000.json", "gettransactioninfobyid-internal.json"},
	} {
		var b Block
		require.NoError(t, json.Unmarshal(fixtures.Read(t, f.block), &b))
		r := recorded{block: &b}
		if f.infos != "" {
			var m map[string]TxInfo
			require.NoError(t, json.Unmarshal(fixtures.Read(t, f.infos), &m))
			for _, tx := range b.Transactions {
				r.infos = append(r.infos, m[tx.TxID])
			}
		}
		byNum[b.BlockHeader.RawData.Number] = r
	}

	node := newGRPCNode(0)
	for n, r := range byNum {
		node.blocks[n] = r.block
		node.infos[n] = r.infos
	}
	grpcClient, _ := newGRPCTestClient(t, node, ClientConfig{})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Num int64 }
		_ = json.NewDecoder(r.Body).Decode(&req)
		var body any
		switch r.URL.Path {
		case "/wallet/getblockbynum":
			body = byNum[req.Num].block
		case "/wallet/gettransactioninfobyblocknum":
			body = byNum[req.Num].infos
		}
		raw, err := json.Marshal(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	httpClient, _ := newClientFor(t, srv.URL, ClientConfig{})

	for n, r := range byNum {
		fromGRPC, err := grpcClient.BlockByNum(t.Context(), n)
		require.NoError(t, err)
		fromHTTP, err := httpClient.BlockByNum(t.Context(), n)
		require.NoError(t, err)
		require.Equal(t, fromHTTP, fromGRPC, "block %d", n)
		require.Equal(t, r.block, fromGRPC)

		infosGRPC, err := grpcClient.TxInfosByBlockNum(t.Context(), n)
		require.NoError(t, err)
		infosHTTP, err := httpClient.TxInfosByBlockNum(t.Context(), n)
		require.NoError(t, err)
		require.Equal(t, infosHTTP, infosGRPC, "infos of block %d", n)
		require.Len(t, infosGRPC, len(r.infos))
	}
}
