// Package tronpb holds the protobuf messages and gRPC services of a
// java-tron node that Mongotron reads, generated from the .proto files
// beside it (a subset of github.com/tronprotocol/protocol, with java-tron's
// names and field numbers). `make generate` regenerates the *.pb.go files
// and `make lint-generate` fails when they are not current.
//
// Package tron converts these messages to and from its own types, which
// mirror the node's HTTP JSON, so that a block read over gRPC decodes to
// exactly the events the same block read over HTTP does.
package tronpb
