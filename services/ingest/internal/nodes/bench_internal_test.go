package nodes

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// BenchmarkVerifyBlock is what the pool adds to each block read: the
// block id, every transaction id and the digest its info lists are
// checked against. Compare with BenchmarkDecodeBlock, the decoding the
// follower does of the same block.
func BenchmarkVerifyBlock(b *testing.B) {
	s, err := sim.New(sim.Config{Seed: 1, Instant: true, InitialBlocks: 2, TxsPerBlock: 300})
	require.NoError(b, err)
	blk, infos, err := s.Block(s.First())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if err := verifyBlock(&blk); err != nil {
			b.Fatal(err)
		}
		if !sigOf(&blk).matches(infos) {
			b.Fatal("infos do not match")
		}
	}
}

// BenchmarkDecodeBlock decodes the same block as the follower does: with
// the decoder's own id checks, and without them, as the ingest runs it
// behind the pool.
func BenchmarkDecodeBlock(b *testing.B) {
	s, err := sim.New(sim.Config{Seed: 1, Instant: true, InitialBlocks: 2, TxsPerBlock: 300})
	require.NoError(b, err)
	blk, infos, err := s.Block(s.First())
	require.NoError(b, err)
	for _, skip := range []bool{false, true} {
		name := "verify"
		if skip {
			name = "skip-verify"
		}
		b.Run(name, func(b *testing.B) {
			dec := decode.NewDecoder(decode.DecoderConfig{SkipVerify: skip})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.DecodeBlock(&blk, infos); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
