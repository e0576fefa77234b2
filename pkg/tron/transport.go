package tron

import (
	"context"
	"time"
)

// transport makes single attempts of a node's calls over one protocol:
// JSON over HTTP ([httpTransport]) or protobuf over gRPC
// ([grpcTransport]). It converts each answer to this package's types;
// retries, backoff, timeouts, metrics and the checks of what an answer
// holds are the [Client]'s, shared by both.
//
// An attempt's error is a *retryable when asking again may succeed (the
// node is down, overloaded or rate limiting); otherwise it is final and
// already says which call failed ("tron: <path>: …").
type transport interface {
	// path names o for errors and metrics: an HTTP path such as
	// /wallet/getblockbynum, or a gRPC full method name such as
	// /protocol.Wallet/GetBlockByNum2. It never holds a block number.
	path(o op) string
	// block answers opNowBlock, opSolidNowBlock (num unused) and
	// opBlockByNum. A node without the block answers one with an empty
	// BlockID, which the Client turns into ErrNotFound or ErrBadResponse.
	block(ctx context.Context, o op, num int64) (*Block, attemptMeta, error)
	// blockRange returns the blocks from..to-1 the node has, unchecked.
	blockRange(ctx context.Context, from, to int64) ([]Block, attemptMeta, error)
	// txInfos returns block num's transaction infos, unchecked; nil for
	// none.
	txInfos(ctx context.Context, num int64) ([]TxInfo, attemptMeta, error)
	nodeInfo(ctx context.Context) (*NodeInfo, attemptMeta, error)
	triggerConstant(ctx context.Context, req *constantRequest) (*constantAnswer, attemptMeta, error)
	// close releases connections. For HTTP the client stays usable.
	close() error
}

// op is one of the node calls the Client makes.
type op int

const (
	opNowBlock op = iota
	opSolidNowBlock
	opBlockByNum
	opBlockRange
	opTxInfos
	opNodeInfo
	opTriggerConstant
)

// attemptMeta is what an attempt tells the retry loop and the observer
// besides its answer.
type attemptMeta struct {
	// status is the HTTP status, or for gRPC the HTTP status its code
	// maps to; 0 when no answer came.
	status int
	// code is the gRPC status code's name; empty for HTTP.
	code string
	// retryAfter is the wait the node asked for, zero for none.
	retryAfter time.Duration
}

// constantRequest is a read-only contract call.
type constantRequest struct {
	owner, contract Address
	// selector is the function signature, e.g. "decimals()".
	selector string
	// parameter is the ABI-encoded arguments.
	parameter []byte
}

// constantAnswer is a node's answer to a constant call, in the terms both
// protocols share.
type constantAnswer struct {
	// hasResult is false when the answer has no "result" at all.
	hasResult bool
	// ok is result.result.
	ok bool
	// code is the response code's name; "" or "SUCCESS" for success.
	code string
	// message is the node's explanation as text.
	message string
	// results is constant_result.
	results [][]byte
	// reverted is true when the call ran and reverted (the transaction's
	// first ret is FAILED).
	reverted bool
}
