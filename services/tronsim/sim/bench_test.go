package sim_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/tronsim/sim"
)

// BenchmarkGenerateBlock measures what serving a new mainnet-sized block
// costs: generating its 300 transactions and infos and rendering both as
// JSON, as getblockbynum and gettransactioninfobyblocknum do.
func BenchmarkGenerateBlock(b *testing.B) {
	s, err := sim.New(sim.Config{Seed: 1, TxsPerBlock: 300, Instant: true})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for b.Loop() {
		n := s.Mine(1)
		for _, path := range []string{"/wallet/getblockbynum", "/wallet/gettransactioninfobyblocknum"} {
			w := &countingWriter{header: http.Header{}}
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"num":`+strconv.FormatInt(n, 10)+`}`)))
			if w.code != http.StatusOK || w.n < 1000 {
				b.Fatalf("%s: %d, %d bytes", path, w.code, w.n)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// countingWriter stands for the connection: unlike a ResponseRecorder it
// does not grow a buffer, which would be most of what is measured.
type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }

func (w *countingWriter) WriteHeader(code int) { w.code = code }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// TestSim_Concurrent reads blocks, transactions and status while blocks
// are mined and reorged, for the race detector.
func TestSim_Concurrent(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 8, TxsPerBlock: 10, InitialBlocks: 30, CacheBlocks: 8})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 30 {
				head, _ := s.Head()
				n := head - int64((i*7+w)%25)
				b, _ := fetchBlock(t, base, n)
				if len(b.Transactions) > 0 {
					call(t, base, "/wallet/gettransactioninfobyid", map[string]any{"value": b.Transactions[0].TxID})
				}
				call(t, base, "/wallet/getblockbylimitnext", map[string]any{"startNum": n - 3, "endNum": n + 2})
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			s.Mine(1)
			if i%4 == 0 {
				require.NoError(t, s.Reorg(2))
			}
			_ = s.Status()
		}
	})
	wg.Wait()
	head, _ := s.Head()
	all := blocks(t, s, head)
	for i := 1; i < len(all); i++ {
		require.Equal(t, all[i-1].BlockID, all[i].BlockHeader.RawData.ParentHash)
	}
}
