package sim

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// The gRPC API: java-tron's Wallet service (a full node's port 50051) and
// WalletSolidity (its own port, 50061, on a real node), over the same
// chain and through the same faults as the HTTP API. An API key in the
// request metadata is accepted and ignored, like the HTTP header.

// RegisterGRPC registers e's Wallet and WalletSolidity services on srv, with
// e's faults. A server holds one endpoint: the services' names are
// java-tron's, and a gRPC server registers each name once.
func (e *Endpoint) RegisterGRPC(srv *grpc.Server) {
	tronpb.RegisterWalletServer(srv, walletServer{e: e})
	tronpb.RegisterWalletSolidityServer(srv, solidityServer{e: e})
}

// admitGRPC applies e's faults to one gRPC call and returns the error to
// answer instead, if any: ResourceExhausted with "retry-after" metadata
// (whole seconds, in the header and the trailer) above the rate limit,
// Internal or Unavailable for an injected error (a dropped connection
// becomes Unavailable too, as a client sees it).
func (e *Endpoint) admitGRPC(ctx context.Context) error {
	o, retry := e.admit(ctx)
	switch o {
	case pass:
		return nil
	case refused:
		md := metadata.Pairs("retry-after", strconv.Itoa(retry))
		_ = grpc.SetHeader(ctx, md)
		_ = grpc.SetTrailer(ctx, md)
		return status.Error(codes.ResourceExhausted, "tronsim: rate limit exceeded")
	case failInternal:
		return status.Error(codes.Internal, "tronsim: injected internal error")
	case failUnavailable:
		return status.Error(codes.Unavailable, "tronsim: injected unavailable")
	case dropped:
		return status.Error(codes.Unavailable, "tronsim: injected dropped connection")
	default:
		return status.FromContextError(ctx.Err()).Err()
	}
}

// internalGRPC answers a failure of the simulator itself.
func (s *Sim) internalGRPC(err error) error {
	s.log.Error("serving gRPC request", "err", err)
	return status.Error(codes.Internal, err.Error())
}

// pbBlock returns block n as view v shows it, or an empty BlockExtention,
// as java-tron answers for a block it does not have.
func (s *Sim) pbBlock(n int64, v view) (*tronpb.BlockExtention, error) {
	e, err := s.entryAt(n, v.maxNum)
	if err != nil {
		return nil, s.internalGRPC(err)
	}
	if e == nil {
		return &tronpb.BlockExtention{}, nil
	}
	b, err := s.blockPB(e, v)
	if err != nil {
		return nil, s.internalGRPC(err)
	}
	return b, nil
}

// blockPB converts a block as v serves it; the untampered message is
// converted once per entry and shared, as gRPC only reads it.
func (s *Sim) blockPB(e *entry, v view) (*tronpb.BlockExtention, error) {
	if v.corruptBlocks {
		return tron.BlockToPB(servedBlock(e, v))
	}
	return e.pb()
}

// pbInfos returns the infos of block n as v shows them; an empty list for
// a block it does not have.
func (s *Sim) pbInfos(n int64, v view) (*tronpb.TransactionInfoList, error) {
	e, err := s.entryAt(n, v.maxNum)
	if err != nil {
		return nil, s.internalGRPC(err)
	}
	if e == nil {
		return &tronpb.TransactionInfoList{}, nil
	}
	var l []*tronpb.TransactionInfo
	if v.corruptReceipts {
		l, err = tron.TxInfosToPB(servedInfos(e, v))
	} else {
		l, err = e.pbInfos()
	}
	if err != nil {
		return nil, s.internalGRPC(err)
	}
	return &tronpb.TransactionInfoList{TransactionInfo: l}, nil
}

// pbRange answers GetBlockByLimitNext2: the blocks of [start, end) v
// shows, none for a range java-tron refuses.
func (s *Sim) pbRange(start, end int64, v view) (*tronpb.BlockListExtention, error) {
	entries, err := s.blockRange(start, end, v)
	if err != nil {
		return nil, s.internalGRPC(err)
	}
	out := &tronpb.BlockListExtention{}
	for _, e := range entries {
		b, err := s.blockPB(e, v)
		if err != nil {
			return nil, s.internalGRPC(err)
		}
		out.Block = append(out.Block, b)
	}
	return out, nil
}

// pbNodeInfo answers GetNodeInfo with what getnodeinfo says over HTTP.
func (s *Sim) pbNodeInfo(v view) *tronpb.NodeInfo {
	m := s.nodeInfo(v)
	conf := m["configNodeInfo"].(map[string]any)
	return &tronpb.NodeInfo{
		BeginSyncNum:        m["beginSyncNum"].(int64),
		Block:               m["block"].(string),
		SolidityBlock:       m["solidityBlock"].(string),
		CurrentConnectCount: int32(m["currentConnectCount"].(int)),
		ActiveConnectCount:  int32(m["activeConnectCount"].(int)),
		PassiveConnectCount: int32(m["passiveConnectCount"].(int)),
		ConfigNodeInfo: &tronpb.NodeInfo_ConfigNodeInfo{
			CodeVersion: conf["codeVersion"].(string),
			P2PVersion:  conf["p2pVersion"].(string),
			ListenPort:  int32(conf["listenPort"].(int)),
		},
	}
}

// pbConstantCall answers TriggerConstantContract with what the HTTP call
// answers, as java-tron's TransactionExtention.
func (s *Sim) pbConstantCall(in *tronpb.TriggerSmartContract, v view) (*tronpb.TransactionExtention, error) {
	p := params{Data: hex.EncodeToString(in.GetData())}
	if len(in.GetOwnerAddress()) > 0 {
		p.OwnerAddress = hex.EncodeToString(in.GetOwnerAddress())
	}
	p.ContractAddress = hex.EncodeToString(in.GetContractAddress())
	ans := s.constantCall(p, v.maxNum)
	out := &tronpb.TransactionExtention{EnergyUsed: ans.EnergyUsed, Result: &tronpb.Return{Result: ans.Result.Result}}
	if ans.Result.Code != "" {
		code, ok := tronpb.ReturnResponseCode_value[ans.Result.Code]
		if !ok {
			return nil, s.internalGRPC(fmt.Errorf("tronsim: unknown return code %q", ans.Result.Code))
		}
		out.Result.Code = tronpb.ReturnResponseCode(code)
	}
	var err error
	if out.Result.Message, err = hex.DecodeString(ans.Result.Message); err != nil {
		return nil, s.internalGRPC(fmt.Errorf("tronsim: return message: %w", err))
	}
	for _, r := range ans.ConstantResult {
		b, err := hex.DecodeString(r)
		if err != nil {
			return nil, s.internalGRPC(fmt.Errorf("tronsim: constant result: %w", err))
		}
		out.ConstantResult = append(out.ConstantResult, b)
	}
	if tx := ans.Transaction; tx != nil {
		raw, err := hex.DecodeString(tx.RawDataHex)
		if err != nil {
			return nil, s.internalGRPC(fmt.Errorf("tronsim: call transaction: %w", err))
		}
		pt := &tronpb.Transaction{RawData: &tronpb.TransactionRaw{}, Ret: []*tronpb.Transaction_Result{{}}}
		if err := proto.Unmarshal(raw, pt.RawData); err != nil {
			return nil, s.internalGRPC(fmt.Errorf("tronsim: call transaction: %w", err))
		}
		out.Transaction = pt
		if out.Txid, err = hex.DecodeString(tx.TxID); err != nil {
			return nil, s.internalGRPC(fmt.Errorf("tronsim: call transaction id: %w", err))
		}
	}
	return out, nil
}

// walletServer is the Wallet service of an endpoint.
type walletServer struct {
	tronpb.UnimplementedWalletServer
	e *Endpoint
}

func (w walletServer) GetNowBlock2(ctx context.Context, _ *tronpb.EmptyMessage) (*tronpb.BlockExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	v := w.e.view(false)
	return w.e.s.pbBlock(v.maxNum, v)
}

func (w walletServer) GetBlockByNum2(ctx context.Context, in *tronpb.NumberMessage) (*tronpb.BlockExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbBlock(in.GetNum(), w.e.view(false))
}

func (w walletServer) GetBlockByLimitNext2(ctx context.Context, in *tronpb.BlockLimit) (*tronpb.BlockListExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbRange(in.GetStartNum(), in.GetEndNum(), w.e.view(false))
}

func (w walletServer) GetTransactionInfoByBlockNum(ctx context.Context, in *tronpb.NumberMessage) (*tronpb.TransactionInfoList, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbInfos(in.GetNum(), w.e.view(false))
}

func (w walletServer) TriggerConstantContract(ctx context.Context, in *tronpb.TriggerSmartContract) (*tronpb.TransactionExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbConstantCall(in, w.e.view(false))
}

func (w walletServer) GetNodeInfo(ctx context.Context, _ *tronpb.EmptyMessage) (*tronpb.NodeInfo, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbNodeInfo(w.e.view(false)), nil
}

// solidityServer is the WalletSolidity service of an endpoint: the same
// answers, up to the solidified block.
type solidityServer struct {
	tronpb.UnimplementedWalletSolidityServer
	e *Endpoint
}

func (w solidityServer) GetNowBlock2(ctx context.Context, _ *tronpb.EmptyMessage) (*tronpb.BlockExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	v := w.e.view(true)
	return w.e.s.pbBlock(v.maxNum, v)
}

func (w solidityServer) GetBlockByNum2(ctx context.Context, in *tronpb.NumberMessage) (*tronpb.BlockExtention, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbBlock(in.GetNum(), w.e.view(true))
}

func (w solidityServer) GetTransactionInfoByBlockNum(ctx context.Context, in *tronpb.NumberMessage) (*tronpb.TransactionInfoList, error) {
	if err := w.e.admitGRPC(ctx); err != nil {
		return nil, err
	}
	return w.e.s.pbInfos(in.GetNum(), w.e.view(true))
}
