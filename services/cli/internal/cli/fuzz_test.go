package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mongotron/mongotron/pkg/decode"
)

// FuzzReadTxInfos feeds --txinfo files of any content through shape
// detection and decoding: bad input must be an error, never a panic.
func FuzzReadTxInfos(f *testing.F) {
	ledger, err := os.ReadFile(fixture(f, ledgerFixture))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(ledger), "[]", "{}", `{"id":""}`,
		`[{"id":"034897cb63856eeb5c224c5fa9ff5d4c94af36d9e1e9087d5bcc9fd665fb5a6d","log":[{"address":"a614f803b6fd780986a42c78ec9c7f77e6ded13c","topics":["ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"]}]}]`,
		`{"aa":{"id":"aa"}}`, "[] []", " \n",
	} {
		f.Add([]byte(seed))
	}
	dec := decode.NewDecoder(decode.DecoderConfig{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		infos, indexed, err := readTxInfos(p)
		if err != nil {
			return
		}
		for i := range infos {
			idx := -1
			if indexed {
				idx = i
			}
			_, _ = dec.DecodeTxInfo(&infos[i], idx)
		}
	})
}
