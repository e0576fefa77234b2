package tron_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mongotron/mongotron/pkg/fixtures"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/pkg/tron/tronpb"
)

// FuzzBlockFromPB feeds the gRPC block conversion whatever protobuf a node
// could send: it must never panic, and a block it accepts must come back
// the same through BlockToPB, the wire and BlockFromPB again, as it does
// when tronsim serves it. Seeds: testdata/fuzz/FuzzBlockFromPB and the
// real blocks.
func FuzzBlockFromPB(f *testing.F) {
	for _, name := range []string{"getblock-shasta-1000000.json"} {
		var b tron.Block
		if err := json.Unmarshal(fixtures.Read(f, name), &b); err != nil {
			f.Fatal(err)
		}
		pb, err := tron.BlockToPB(&b)
		if err != nil {
			f.Fatal(err)
		}
		wire, err := proto.Marshal(pb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ext tronpb.BlockExtention
		if proto.Unmarshal(data, &ext) != nil {
			return
		}
		b, err := tron.BlockFromPB(&ext)
		if err != nil {
			return
		}
		pb, err := tron.BlockToPB(b)
		if err != nil {
			t.Fatalf("a converted block does not convert back: %v", err)
		}
		wire, err := proto.Marshal(pb)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var again tronpb.BlockExtention
		if err := proto.Unmarshal(wire, &again); err != nil {
			t.Fatalf("unmarshal of our own encoding: %v", err)
		}
		b2, err := tron.BlockFromPB(&again)
		if err != nil {
			t.Fatalf("second conversion fails: %v", err)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("not stable:\nfirst  %+v\nsecond %+v", b, b2)
		}
	})
}

// FuzzTxInfosFromPB does for transaction info lists what FuzzBlockFromPB
// does for blocks.
func FuzzTxInfosFromPB(f *testing.F) {
	for _, name := range realReceipts {
		var byID map[string]tron.TxInfo
		if err := json.Unmarshal(fixtures.Read(f, name), &byID); err != nil {
			f.Fatal(err)
		}
		var infos []tron.TxInfo
		for _, info := range byID {
			infos = append(infos, info)
		}
		pb, err := tron.TxInfosToPB(infos)
		if err != nil {
			f.Fatal(err)
		}
		wire, err := proto.Marshal(&tronpb.TransactionInfoList{TransactionInfo: pb})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l tronpb.TransactionInfoList
		if proto.Unmarshal(data, &l) != nil {
			return
		}
		infos, err := tron.TxInfosFromPB(l.GetTransactionInfo())
		if err != nil {
			return
		}
		pb, err := tron.TxInfosToPB(infos)
		if err != nil {
			t.Fatalf("converted infos do not convert back: %v", err)
		}
		wire, err := proto.Marshal(&tronpb.TransactionInfoList{TransactionInfo: pb})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var again tronpb.TransactionInfoList
		if err := proto.Unmarshal(wire, &again); err != nil {
			t.Fatalf("unmarshal of our own encoding: %v", err)
		}
		infos2, err := tron.TxInfosFromPB(again.GetTransactionInfo())
		if err != nil {
			t.Fatalf("second conversion fails: %v", err)
		}
		if !reflect.DeepEqual(infos, infos2) {
			t.Fatalf("not stable:\nfirst  %+v\nsecond %+v", infos, infos2)
		}
	})
}
