package decode_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// FuzzDecodeBlock feeds arbitrary getblockbynum JSON and infos to the
// decoder: it may refuse them, never panic, and what it accepts must
// marshal.
func FuzzDecodeBlock(f *testing.F) {
	f.Add([]byte(`{"blockID":"00","block_header":{"raw_data":{"number":1}}}`), []byte(`[]`))
	f.Add([]byte(`{"blockID":"x","block_header":{"raw_data":{"number":5}},"transactions":[{"txID":"ab","ret":[{"contractRet":"REVERT"}],"raw_data":{"contract":[{"type":"TransferContract","parameter":{"value":{"owner_address":"4160bb513e91aa723a10a4020ae6fcce39bce7e240","to_address":"41ec20315a879c48f5e3a6a1c9826d5225f8b658b8","amount":5}}}]}}]}`),
		[]byte(`[{"id":"ab","log":[{"address":"a614f803b6fd780986a42c78ec9c7f77e6ded13c","topics":["ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef","0000000000000000000000006e3b44b96104b26f84057974a1f0c9880f7c9b13","00000000000000000000000018314cd6beab3b324174395a40731cfdf07e857d"],"data":"0000000000000000000000000000000000000000000000000000000000000001"}]}]`))
	verifying := decode.NewDecoder(decode.DecoderConfig{})
	lenient := decode.NewDecoder(decode.DecoderConfig{SkipVerify: true})
	f.Fuzz(func(t *testing.T, blockJSON, infosJSON []byte) {
		var b tron.Block
		if json.Unmarshal(blockJSON, &b) != nil {
			return
		}
		var infos []tron.TxInfo
		if json.Unmarshal(infosJSON, &infos) != nil {
			infos = nil
		}
		for _, d := range []*decode.Decoder{verifying, lenient} {
			evs, err := d.DecodeBlock(&b, infos)
			if err != nil {
				continue
			}
			checkEvents(t, evs)
		}
	})
}

// FuzzDecodeTxInfo does the same for a lone transaction info.
func FuzzDecodeTxInfo(f *testing.F) {
	f.Add([]byte(`{"id":"034897cb63856eeb5c224c5fa9ff5d4c94af36d9e1e9087d5bcc9fd665fb5a6d","blockNumber":69316644,"receipt":{"net_usage":283}}`))
	f.Add([]byte(`{"id":"0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99","blockNumber":69316562,"blockTimeStamp":1738601505000,"receipt":{"result":"SUCCESS"},"log":[{"address":"a614f803b6fd780986a42c78ec9c7f77e6ded13c","topics":["ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef","0000000000000000000000006e3b44b96104b26f84057974a1f0c9880f7c9b13","00000000000000000000000018314cd6beab3b324174395a40731cfdf07e857d"],"data":"00000000000000000000000000000000000000000000000000000000000f4240"}]}`))
	f.Add([]byte(`{"id":"13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a","receipt":{"result":"OUT_OF_ENERGY"},"result":"FAILED","resMessage":"4e6f74"}`))
	// Internal transactions: a real payout (Shasta block 1,000,000), then
	// TRC10, rejected, delegation and malformed frames.
	f.Add([]byte(`{"id":"4ef51a5760bf98dc2dd752658f48db1445e8ca75f8a6efe14d5a462a15edd3f0","blockNumber":1000000,"receipt":{"result":"SUCCESS"},"log":[{"address":"8d9dd663cf90256fdf2faba2a1be71f8a0147f8c","topics":["50b0fde04a05002ee4ba3c03973059b7d8af741148bf53ff213e39d2867a7930"],"data":"00"}],"internal_transactions":[{"hash":"ebd48b28e91e23a0f190b2ef898c6c89d0723759eb17ceb9203fcd6a4b0b313e","caller_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","transferTo_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","callValueInfo":[{}],"note":"63616c6c"},{"hash":"b31eeb5d614133be49ff5be526d8bd258583b478c5daad9713b68591141b5f10","caller_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","transferTo_address":"41f07e117a4b5f1fda66f8fcedf44065f1dafc5ad7","callValueInfo":[{"callValue":2457950000}],"note":"63616c6c"}]}`))
	f.Add([]byte(`{"id":"abababababababababababababababababababababababababababababababab","receipt":{"result":"SUCCESS"},"internal_transactions":[{"caller_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","transferTo_address":"41ec20315a879c48f5e3a6a1c9826d5225f8b658b8","callValueInfo":[{},{"callValue":5,"tokenId":"1002000"}],"note":"63616c6c"},{"caller_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","transferTo_address":"41ec20315a879c48f5e3a6a1c9826d5225f8b658b8","callValueInfo":[{"callValue":9}],"note":"63616c6c","rejected":true},{"caller_address":"418d9dd663cf90256fdf2faba2a1be71f8a0147f8c","transferTo_address":"41ec20315a879c48f5e3a6a1c9826d5225f8b658b8","callValueInfo":[{"callValue":500000000}],"note":"64656c65676174655265736f757263654f66456e65726779"}]}`))
	f.Add([]byte(`{"id":"abababababababababababababababababababababababababababababababab","result":"FAILED","receipt":{"result":"REVERT"},"internal_transactions":[{"caller_address":"41zz","callValueInfo":[{"callValue":-1,"tokenId":"_"}],"note":"63616c6c"}]}`))
	d := decode.NewDecoder(decode.DecoderConfig{})
	f.Fuzz(func(t *testing.T, infoJSON []byte) {
		var info tron.TxInfo
		if json.Unmarshal(infoJSON, &info) != nil {
			return
		}
		evs, err := d.DecodeTxInfo(&info, 0)
		if err != nil {
			return
		}
		entries := 0
		for _, it := range info.InternalTransactions {
			entries += len(it.CallValueInfo)
		}
		failed := info.Result != "" && info.Result != "SUCCESS" || info.Receipt.Result != "" && info.Receipt.Result != "SUCCESS"
		logs := 0
		for _, e := range evs {
			switch e.Kind {
			case event.KindTRXInternalTransfer, event.KindTRC10InternalTransfer:
				if failed {
					t.Fatalf("failed transaction gave internal transfer %s", e.ID)
				}
				if e.Index < 1+len(info.Log) || e.Index >= 1+len(info.Log)+entries {
					t.Fatalf("internal transfer index %d outside [%d, %d)", e.Index, 1+len(info.Log), 1+len(info.Log)+entries)
				}
				fr := info.InternalTransactions[*e.Data.InternalIndex]
				if fr.Rejected {
					t.Fatalf("rejected frame gave %s", e.ID)
				}
				if v, ok := e.Amount.Uint64(); !ok || v == 0 || e.From.IsZero() || e.To.IsZero() {
					t.Fatalf("internal transfer %s lacks a party or a positive amount", e.ID)
				}
			default:
				logs++
			}
		}
		if logs != len(info.Log) {
			t.Fatalf("%d logs gave %d log events", len(info.Log), logs)
		}
		checkEvents(t, evs)
	})
}

// FuzzDecodeMemo feeds arbitrary raw_data.data: Memo refuses what
// is not hex, and otherwise returns either the exact bytes as valid UTF-8
// or their lower-case hex, never both and never a lossy mix.
func FuzzDecodeMemo(f *testing.F) {
	for _, s := range []string{"", "68656c6c6f", "e4bda0e5a5bd", "ff00fe", "FF", "00", "e4bd", "zz", "abc", "efbbbf", "eda080"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		memo, enc, err := decode.Memo(data)
		raw, hexErr := hex.DecodeString(data)
		if hexErr != nil {
			if err == nil {
				t.Fatalf("%q is not hex but decoded", data)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		switch {
		case len(raw) == 0:
			if memo != "" || enc != "" {
				t.Fatalf("empty data gave %q %q", memo, enc)
			}
		case utf8.Valid(raw):
			if enc != decode.MemoUTF8 || memo != string(raw) {
				t.Fatalf("%q: got %q %q", data, memo, enc)
			}
		default:
			if enc != decode.MemoHex || memo != hex.EncodeToString(raw) {
				t.Fatalf("%q: got %q %q", data, memo, enc)
			}
		}
		if !utf8.ValidString(memo) {
			t.Fatalf("%q: memo %q is not valid UTF-8", data, memo)
		}
	})
}

func checkEvents(t *testing.T, evs []event.Event) {
	t.Helper()
	seen := make(map[string]bool, len(evs))
	for i := range evs {
		e := &evs[i]
		if seen[e.ID] {
			t.Fatalf("duplicate id %s", e.ID)
		}
		seen[e.ID] = true
		if e.Kind.IsTransfer() != (e.Flags != nil) {
			t.Fatalf("event %s (%s) has flags %v", e.ID, e.Kind, e.Flags)
		}
		for _, f := range e.Flags {
			if !f.Valid() || f == event.FlagLookalike {
				t.Fatalf("event %s has flag %q", e.ID, f)
			}
		}
		if e.Kind.IsTransfer() && (e.Token == nil || e.Token.Verified && e.Token.Symbol == "") {
			t.Fatalf("transfer %s has token %+v", e.ID, e.Token)
		}
		if e.Memo != "" && e.Kind != event.KindTRXTransfer && e.Kind != event.KindTRC10Transfer {
			t.Fatalf("%s event %s has a memo", e.Kind, e.ID)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("event %s does not marshal: %v", e.ID, err)
		}
		if (e.Kind == event.KindTRC20Transfer || e.Kind == event.KindTRC20Approval) && (e.From.IsZero() || e.To.IsZero() || e.Amount.IsZero()) {
			t.Fatalf("token event %s lacks a party or amount", e.ID)
		}
		if e.Kind == "" {
			t.Fatalf("event %s has no kind", e.ID)
		}
	}
}
