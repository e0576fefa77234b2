package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxMine bounds one /sim/mine call: each block costs 32 bytes of memory
// for good, and a typo should not take the simulator down.
const maxMine = 1_000_000

// The control API: /sim/mine, /sim/reorg, /sim/status, /sim/faults and
// /sim/traps (traps.go). It is never subject to injected faults, so tests can always
// drive the chain.

// headAnswer is what /sim/mine and /sim/reorg return.
type headAnswer struct {
	Head   int64  `json:"head"`
	HeadID string `json:"head_id"`
	Reorgs int    `json:"reorgs"`
}

func (s *Sim) headAnswer() headAnswer {
	n, id := s.src.head()
	return headAnswer{Head: n, HeadID: id, Reorgs: s.src.reorgs()}
}

func controlParams(w http.ResponseWriter, r *http.Request) (params, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONValue(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return params{}, false
	}
	p, err := parseParams(r)
	if err != nil {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return p, false
	}
	return p, true
}

// handleMine produces n blocks (default 1) and returns the new head.
func (s *Sim) handleMine(w http.ResponseWriter, r *http.Request) {
	p, ok := controlParams(w, r)
	if !ok {
		return
	}
	if p.N < 0 || p.N > maxMine {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("n must be between 0 and %d", maxMine)})
		return
	}
	if p.N == 0 {
		p.N = 1
	}
	s.Mine(p.N)
	writeJSONValue(w, http.StatusOK, s.headAnswer())
}

// handleReorg replaces the last depth blocks (default 1); 409 when it
// cannot (replay mode, or a solidified block in the way).
func (s *Sim) handleReorg(w http.ResponseWriter, r *http.Request) {
	p, ok := controlParams(w, r)
	if !ok {
		return
	}
	if p.Depth < 0 {
		writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": "depth must not be negative"})
		return
	}
	if p.Depth == 0 {
		p.Depth = 1
	}
	if err := s.Reorg(p.Depth); err != nil {
		writeJSONValue(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	writeJSONValue(w, http.StatusOK, s.headAnswer())
}

// handleStatus answers the simulator's status with the endpoint's.
func (e *Endpoint) handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeJSONValue(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"})
		return
	}
	st := e.s.Status()
	es := e.Status()
	st.Endpoint = &es
	writeJSONValue(w, http.StatusOK, st)
}

// handleFaults answers the endpoint's faults (GET) or changes them (POST):
// the body's fields replace those of the current faults, the others stay
// (see [Faults.UnmarshalJSON]). 400 for an invalid body.
func (e *Endpoint) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		// Read, merge and set under one lock would be stricter; two
		// concurrent POSTs to one endpoint are not a case worth it.
		f := e.Faults()
		if err := json.Unmarshal(body, &f); err != nil {
			writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := f.Validate(); err != nil {
			writeJSONValue(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		e.SetFaults(f)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSONValue(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
		return
	}
	writeJSONValue(w, http.StatusOK, e.Faults())
}
