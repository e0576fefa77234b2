package tron_test

import (
	"testing"

	"github.com/mongotron/mongotron/pkg/tron"
)

// FuzzParseAddress checks that whatever parses prints back to something
// that parses to the same address, and that nothing panics.
func FuzzParseAddress(f *testing.F) {
	for _, p := range knownPairs {
		f.Add(p.b58)
		f.Add(p.hex)
		f.Add("0x" + p.hex[2:])
	}
	f.Add("")
	f.Add("T")
	f.Add("1111111111111111111111111111111111")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := tron.ParseAddress(s)
		if err != nil {
			return
		}
		if a[0] != tron.AddressPrefix {
			t.Fatalf("%q parsed to prefix %x", s, a[0])
		}
		b, err := tron.ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q: base58 %q does not round-trip: %v", s, a.String(), err)
		}
		c, err := tron.ParseAddress(a.Hex())
		if err != nil || c != a {
			t.Fatalf("%q: hex %q does not round-trip: %v", s, a.Hex(), err)
		}
	})
}
