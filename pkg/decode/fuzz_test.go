package decode_test

import (
	"encoding/json"
	"testing"

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
		if len(evs) != len(info.Log) {
			t.Fatalf("%d logs gave %d events", len(info.Log), len(evs))
		}
		checkEvents(t, evs)
	})
}

func checkEvents(t *testing.T, evs []event.Event) {
	t.Helper()
	for i := range evs {
		e := &evs[i]
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
