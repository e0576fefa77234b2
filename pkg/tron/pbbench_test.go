package tron_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// BenchmarkDecodeBlock reads the largest real block of the fixtures
// (mainnet 43811922, 198 transactions, the node's own 400 KB of JSON) from
// the bytes of a node's answer, as the client does for each protocol:
// protobuf is proto.Unmarshal then BlockFromPB; json is the client's
// go-json, and encoding/json for reference. raw-grpc is a real captured
// gRPC answer of 619 transactions (mainnet 79072107), which has no JSON
// twin. One block per op, on one core.
func BenchmarkDecodeBlock(b *testing.B) {
	jsonData := fixtures.Read(b, "getblockbynum-43811922.json")
	var blk tron.Block
	if err := json.Unmarshal(jsonData, &blk); err != nil {
		b.Fatal(err)
	}
	pb, err := tron.BlockToPB(&blk)
	if err != nil {
		b.Fatal(err)
	}
	pbData, err := proto.Marshal(pb)
	if err != nil {
		b.Fatal(err)
	}
	rawText := bytes.TrimSpace(fixtures.Read(b, "getblockbynum2-79072107.hex"))
	rawData, err := hex.DecodeString(strings.TrimPrefix(string(rawText), "0x"))
	if err != nil {
		b.Fatal(err)
	}

	fromPB := func(data []byte) func(*testing.B) {
		return func(b *testing.B) {
			b.Helper()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var ext tronpb.BlockExtention
				if err := proto.Unmarshal(data, &ext); err != nil {
					b.Fatal(err)
				}
				if _, err := tron.BlockFromPB(&ext); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
		}
	}
	fromJSON := func(unmarshal func([]byte, any) error) func(*testing.B) {
		return func(b *testing.B) {
			b.Helper()
			b.SetBytes(int64(len(jsonData)))
			b.ReportAllocs()
			for b.Loop() {
				var out tron.Block
				if err := unmarshal(jsonData, &out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
		}
	}
	b.Run("protobuf", fromPB(pbData))
	b.Run("json", fromJSON(gojson.Unmarshal))
	b.Run("json-stdlib", fromJSON(json.Unmarshal))
	b.Run("raw-grpc-619tx", fromPB(rawData))
}
