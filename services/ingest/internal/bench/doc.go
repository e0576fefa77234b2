// Package bench holds the ingest's end-to-end benchmarks: the chain
// follower against the Tron node simulator, embedded FerretDB and embedded
// NATS, with a production-sized subscription set. It has no code of its
// own; run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/bench/
package bench
