package gen

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/tron"
)

// TypeURLPrefix prefixes every contract's google.protobuf.Any type URL.
const TypeURLPrefix = "type.googleapis.com/protocol."

// AppendTxRaw appends to dst the protobuf bytes of a transaction's raw
// data (protocol.Transaction.raw) as java-tron serialises it, so that a
// synthetic txID is sha256 of the bytes a real node would hash. Addresses
// and other bytes are hex.
func AppendTxRaw(dst []byte, raw *tron.TxRaw) ([]byte, error) {
	// pkg/tron builds the raw data of a transaction that has no
	// raw_data_hex from its typed fields: the one converter from JSON
	// fields to the generated message, shared with the gRPC answers.
	b, err := tron.BlockToPB(&tron.Block{Transactions: []tron.Transaction{{RawData: *raw}}})
	if err != nil {
		return nil, fmt.Errorf("gen: raw data: %w", err)
	}
	dst, err = proto.MarshalOptions{}.MarshalAppend(dst, b.GetTransactions()[0].GetTransaction().GetRawData())
	if err != nil {
		return nil, fmt.Errorf("gen: raw data: %w", err)
	}
	return dst, nil
}
