package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/tron"
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
// are mined and reorged, for the race detector. The goroutines report
// their failures to the test's goroutine, which alone may end the test.
func TestSim_Concurrent(t *testing.T) {
	t.Parallel()
	s, base := newSim(t, sim.Config{Seed: 8, TxsPerBlock: 10, InitialBlocks: 30, CacheBlocks: 8})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for w := range 4 {
		wg.Go(func() { errs <- readWhileMining(s, base, w) })
	}
	wg.Go(func() {
		for i := range 20 {
			s.Mine(1)
			if i%4 == 0 {
				if err := s.Reorg(2); err != nil {
					errs <- fmt.Errorf("reorg %d: %w", i, err)
					return
				}
			}
			_ = s.Status()
		}
		errs <- nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	head, _ := s.Head()
	all := blocks(t, s, head)
	for i := 1; i < len(all); i++ {
		require.Equal(t, all[i-1].BlockID, all[i].BlockHeader.RawData.ParentHash)
	}
}

// readWhileMining is one reader of [TestSim_Concurrent]: blocks near the
// head, a transaction's info and a range, 30 times. It returns the first
// failure.
func readWhileMining(s *sim.Sim, base string, w int) error {
	for i := range 30 {
		head, _ := s.Head()
		n := head - int64((i*7+w)%25)
		var b tron.Block
		if err := post(base, "/wallet/getblockbynum", map[string]any{"num": n}, &b); err != nil {
			return err
		}
		if len(b.Transactions) > 0 {
			if err := post(base, "/wallet/gettransactioninfobyid", map[string]any{"value": b.Transactions[0].TxID}, nil); err != nil {
				return err
			}
		}
		if err := post(base, "/wallet/getblockbylimitnext", map[string]any{"startNum": n - 3, "endNum": n + 2}, nil); err != nil {
			return err
		}
	}
	return nil
}

// post calls the node API and decodes a 200 answer into out (nil: only
// checks the status). Unlike call, it reports failures instead of ending
// the test, so any goroutine may use it.
func post(base, path string, body, out any) error {
	j, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := http.Post(base+path, "application/json", bytes.NewReader(j))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", path, j, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
