package tron

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/sha3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// grpcTransport calls a java-tron node's gRPC services: Wallet (port 50051
// on a node of one's own) and WalletSolidity (port 50061), which answers
// from the solidified chain. The answers are converted with the functions
// of pbconv.go, so they equal what the HTTP API gives.
type grpcTransport struct {
	conns    []*grpc.ClientConn
	wallet   tronpb.WalletClient
	solidity tronpb.WalletSolidityClient
	// keyHeader is the metadata key of the API key, lower case as gRPC
	// requires; empty when no key is sent.
	keyHeader, apiKey string
}

var grpcMethods = [...]string{
	opNowBlock:        tronpb.Wallet_GetNowBlock2_FullMethodName,
	opSolidNowBlock:   tronpb.WalletSolidity_GetNowBlock2_FullMethodName,
	opBlockByNum:      tronpb.Wallet_GetBlockByNum2_FullMethodName,
	opBlockRange:      tronpb.Wallet_GetBlockByLimitNext2_FullMethodName,
	opTxInfos:         tronpb.Wallet_GetTransactionInfoByBlockNum_FullMethodName,
	opNodeInfo:        tronpb.Wallet_GetNodeInfo_FullMethodName,
	opTriggerConstant: tronpb.Wallet_TriggerConstantContract_FullMethodName,
}

func (t *grpcTransport) path(o op) string { return grpcMethods[o] }

// grpcConfig is what a gRPC transport needs from [ClientConfig].
type grpcConfig struct {
	apiKey, keyHeader string
	tls               *tls.Config
	maxMessage        int64
}

// newGRPCTransport sets up the connections to u (grpc:// or grpcs://,
// host:port, optionally ?solidity=host:port). grpc.NewClient does not
// dial: the first call does.
func newGRPCTransport(u *url.URL, cfg grpcConfig) (*grpcTransport, error) {
	if err := checkHostPort(u.Host); err != nil {
		return nil, err
	}
	if u.User != nil || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, errors.New("a grpc URL is scheme://host:port, with no user, path or fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	solidity := u.Host
	for k, v := range q {
		if k != "solidity" || len(v) != 1 {
			return nil, fmt.Errorf("query %q: the only parameter is solidity=host:port, once", k)
		}
		if err := checkHostPort(v[0]); err != nil {
			return nil, fmt.Errorf("solidity: %w", err)
		}
		solidity = v[0]
	}

	creds := insecure.NewCredentials()
	if u.Scheme == "grpcs" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.tls != nil {
			tc = cfg.tls.Clone()
		}
		creds = credentials.NewTLS(tc)
	}
	maxMsg := int(min(cfg.maxMessage, math.MaxInt32))
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg)),
		grpc.WithUserAgent("mongotron"),
	}
	t := &grpcTransport{apiKey: cfg.apiKey}
	if cfg.apiKey != "" {
		t.keyHeader = strings.ToLower(cfg.keyHeader)
	}
	full, err := grpc.NewClient(u.Host, opts...)
	if err != nil {
		return nil, err
	}
	t.conns = append(t.conns, full)
	t.wallet = tronpb.NewWalletClient(full)
	t.solidity = tronpb.NewWalletSolidityClient(full)
	if solidity != u.Host {
		sc, err := grpc.NewClient(solidity, opts...)
		if err != nil {
			_ = full.Close()
			return nil, err
		}
		t.conns = append(t.conns, sc)
		t.solidity = tronpb.NewWalletSolidityClient(sc)
	}
	return t, nil
}

func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%q: want host:port", hp)
	}
	return nil
}

// close closes the connections; calls after it fail.
func (t *grpcTransport) close() error {
	var errs []error
	for _, c := range t.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// invoke makes one call, sending the API key as metadata and reading a
// retry-after from the answer's header or trailer metadata.
func (t *grpcTransport) invoke(ctx context.Context, o op, call func(context.Context, ...grpc.CallOption) error) (attemptMeta, error) {
	if t.keyHeader != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, t.keyHeader, t.apiKey)
	}
	var header, trailer metadata.MD
	err := call(ctx, grpc.Header(&header), grpc.Trailer(&trailer))
	if err == nil {
		return attemptMeta{status: http.StatusOK, code: codes.OK.String()}, nil
	}
	return t.classify(ctx, o, err, header, trailer)
}

// classify turns a failed call into the Client's terms: the statuses a
// busy or restarting node gives are retried like HTTP 5xx, and
// ResourceExhausted like HTTP 429.
func (t *grpcTransport) classify(ctx context.Context, o op, err error, header, trailer metadata.MD) (attemptMeta, error) {
	method := t.path(o)
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && status.Code(err) == codes.DeadlineExceeded && time.Until(d) < deadlineSkew {
		// The node ran out the deadline the call sent it, which its
		// clock ends a little before ours: our timeout all the same.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		// The attempt timed out or the call was cancelled: no answer.
		return attemptMeta{}, &retryable{fmt.Errorf("tron: %s: %w", method, ctxErr)}
	}
	st, ok := status.FromError(err)
	if !ok {
		return attemptMeta{}, &retryable{fmt.Errorf("tron: %s: %w", method, err)}
	}
	meta := attemptMeta{status: httpStatusFromCode(st.Code()), code: st.Code().String()}
	ge := &GRPCError{Method: method, Code: st.Code(), Message: clip(st.Message())}
	switch st.Code() {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.DeadlineExceeded:
		meta.retryAfter = retryAfterMD(header, trailer)
		return meta, &retryable{ge}
	case codes.ResourceExhausted:
		// grpc-go fails an answer over MaxCallRecvMsgSize with this code
		// too, before the node's own status: that one is ErrBadResponse,
		// and asking again gets the same answer.
		if msg := st.Message(); strings.HasPrefix(msg, "grpc: received message") && strings.Contains(msg, "larger than max") {
			// The node did answer, as an HTTP node answers 200 with a body
			// over MaxResponseBytes.
			meta.status = http.StatusOK
			return meta, fmt.Errorf("tron: %s: %w: %s", method, ErrBadResponse, clip(msg))
		}
		meta.retryAfter = retryAfterMD(header, trailer)
		return meta, &retryable{ge}
	case codes.NotFound:
		return meta, fmt.Errorf("tron: %s: %w: %s", method, ErrNotFound, ge.Message)
	default:
		return meta, ge
	}
}

// deadlineSkew is how much earlier than the caller a node may end the
// deadline the call carried to it (the timeout is sent as a duration,
// rounded, and counted from when the node read it).
const deadlineSkew = 100 * time.Millisecond

func retryAfterMD(mds ...metadata.MD) time.Duration {
	for _, md := range mds {
		if v := md.Get("retry-after"); len(v) > 0 {
			if d, ok := parseRetryAfter(v[0], time.Now()); ok {
				return d
			}
		}
	}
	return 0
}

// httpStatusFromCode maps a gRPC code to the HTTP status that means the
// same, so that metrics by status class read alike for both protocols.
func httpStatusFromCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // nginx's "client closed request", as grpc-gateway maps it
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss
		return http.StatusInternalServerError
	}
}

func (t *grpcTransport) bad(o op, err error) error {
	return fmt.Errorf("tron: %s: %w: %w", t.path(o), ErrBadResponse, err)
}

func (t *grpcTransport) block(ctx context.Context, o op, num int64) (*Block, attemptMeta, error) {
	var ext *tronpb.BlockExtention
	meta, err := t.invoke(ctx, o, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		switch o {
		case opSolidNowBlock:
			ext, err = t.solidity.GetNowBlock2(ctx, &tronpb.EmptyMessage{}, opts...)
		case opBlockByNum:
			ext, err = t.wallet.GetBlockByNum2(ctx, &tronpb.NumberMessage{Num: num}, opts...)
		default:
			ext, err = t.wallet.GetNowBlock2(ctx, &tronpb.EmptyMessage{}, opts...)
		}
		return err
	})
	if err != nil {
		return nil, meta, err
	}
	b, err := BlockFromPB(ext)
	if err != nil {
		return nil, meta, t.bad(o, err)
	}
	return b, meta, nil
}

func (t *grpcTransport) blockRange(ctx context.Context, from, to int64) ([]Block, attemptMeta, error) {
	var list *tronpb.BlockListExtention
	meta, err := t.invoke(ctx, opBlockRange, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		list, err = t.wallet.GetBlockByLimitNext2(ctx, &tronpb.BlockLimit{StartNum: from, EndNum: to}, opts...)
		return err
	})
	if err != nil {
		return nil, meta, err
	}
	blocks := make([]Block, len(list.GetBlock()))
	for i, ext := range list.GetBlock() {
		b, err := BlockFromPB(ext)
		if err != nil {
			return nil, meta, t.bad(opBlockRange, fmt.Errorf("block %d of the range from %d: %w", i, from, err))
		}
		blocks[i] = *b
	}
	return blocks, meta, nil
}

func (t *grpcTransport) txInfos(ctx context.Context, num int64) ([]TxInfo, attemptMeta, error) {
	var list *tronpb.TransactionInfoList
	meta, err := t.invoke(ctx, opTxInfos, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		list, err = t.wallet.GetTransactionInfoByBlockNum(ctx, &tronpb.NumberMessage{Num: num}, opts...)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		// Over HTTP a block past the head has no infos, not an error.
		return nil, meta, nil
	}
	if err != nil {
		return nil, meta, err
	}
	infos, err := TxInfosFromPB(list.GetTransactionInfo())
	if err != nil {
		return nil, meta, t.bad(opTxInfos, err)
	}
	return infos, meta, nil
}

func (t *grpcTransport) nodeInfo(ctx context.Context) (*NodeInfo, attemptMeta, error) {
	var ni *tronpb.NodeInfo
	meta, err := t.invoke(ctx, opNodeInfo, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		ni, err = t.wallet.GetNodeInfo(ctx, &tronpb.EmptyMessage{}, opts...)
		return err
	})
	if err != nil {
		return nil, meta, err
	}
	return NodeInfoFromPB(ni), meta, nil
}

// triggerConstant sends what the HTTP API builds from function_selector
// and parameter: the call data, the selector's 4-byte Keccak-256 prefix
// followed by the arguments.
func (t *grpcTransport) triggerConstant(ctx context.Context, r *constantRequest) (*constantAnswer, attemptMeta, error) {
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(r.selector))
	data := append(h.Sum(nil)[:4:4], r.parameter...)
	req := &tronpb.TriggerSmartContract{OwnerAddress: r.owner[:], ContractAddress: r.contract[:], Data: data}
	var te *tronpb.TransactionExtention
	meta, err := t.invoke(ctx, opTriggerConstant, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		te, err = t.wallet.TriggerConstantContract(ctx, req, opts...)
		return err
	})
	if err != nil {
		return nil, meta, err
	}
	out := &constantAnswer{results: te.GetConstantResult()}
	if res := te.GetResult(); res != nil {
		out.hasResult, out.ok, out.code = true, res.GetResult(), enumString(res.GetCode(), true)
		out.message = clip(strings.ToValidUTF8(string(res.GetMessage()), "?"))
	}
	if ret := te.GetTransaction().GetRet(); len(ret) > 0 {
		out.reverted = ret[0].GetRet() == tronpb.Transaction_Result_FAILED
	}
	return out, meta, nil
}
