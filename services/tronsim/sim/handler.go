package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mongotron/mongotron/pkg/tron"
)

// blockLimit is java-tron's cap on getblockbylimitnext: a longer range
// gets "{}".
const blockLimit = 100

// maxBody bounds a request body; java-tron's are tiny.
const maxBody = 1 << 20

// params holds every request parameter the API reads, from a POST's JSON
// body or a GET's query, as java-tron accepts both.
type params struct {
	Num              int64  `json:"num"`
	StartNum         int64  `json:"startNum"`
	EndNum           int64  `json:"endNum"`
	Value            string `json:"value"`
	Visible          bool   `json:"visible"`
	OwnerAddress     string `json:"owner_address"`
	ContractAddress  string `json:"contract_address"`
	FunctionSelector string `json:"function_selector"`
	Parameter        string `json:"parameter"`
	Data             string `json:"data"`
	// Control API.
	N     int `json:"n"`
	Depth int `json:"depth"`
}

func parseParams(r *http.Request) (params, error) {
	var p params
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			return p, fmt.Errorf("reading body: %w", err)
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p); err != nil {
				return p, fmt.Errorf("body is not a JSON object of the expected fields: %w", err)
			}
		}
		if v := q.Get("visible"); v != "" {
			p.Visible, _ = strconv.ParseBool(v)
		}
		return p, nil
	}
	return p, p.fromQuery(q)
}

func (p *params) fromQuery(q url.Values) error {
	var errs []error
	intParam := func(name string, dst *int64) {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			*dst = n
		}
	}
	intParam("num", &p.Num)
	intParam("startNum", &p.StartNum)
	intParam("endNum", &p.EndNum)
	var n, depth int64
	intParam("n", &n)
	intParam("depth", &depth)
	p.N, p.Depth = int(n), int(depth)
	p.Value = q.Get("value")
	p.OwnerAddress = q.Get("owner_address")
	p.ContractAddress = q.Get("contract_address")
	p.FunctionSelector = q.Get("function_selector")
	p.Parameter = q.Get("parameter")
	p.Data = q.Get("data")
	if v := q.Get("visible"); v != "" {
		p.Visible, _ = strconv.ParseBool(v)
	}
	return errors.Join(errs...)
}

// apiFunc answers one node API call with what the endpoint's view of the
// chain shows.
type apiFunc func(w http.ResponseWriter, p params, v view)

func (e *Endpoint) routes() http.Handler {
	s := e.s
	mux := http.NewServeMux()
	full := map[string]apiFunc{
		"getnowblock":                  s.getNowBlock,
		"getblockbynum":                s.getBlockByNum,
		"getblockbylimitnext":          s.getBlockByLimitNext,
		"gettransactioninfobyblocknum": s.getTxInfoByBlockNum,
		"gettransactioninfobyid":       s.getTxInfoByID,
		"gettransactionbyid":           s.getTxByID,
	}
	for name, f := range full {
		mux.Handle("/wallet/"+name, e.withFaults(e.api(f, false)))
		mux.Handle("/walletsolidity/"+name, e.withFaults(e.api(f, true)))
	}
	mux.Handle("/wallet/getnodeinfo", e.withFaults(e.api(s.getNodeInfo, false)))
	mux.Handle("/wallet/triggerconstantcontract", e.withFaults(e.api(s.triggerConstantContract, false)))
	mux.Handle("/walletsolidity/triggerconstantcontract", e.withFaults(e.api(s.triggerConstantContract, true)))
	mux.HandleFunc("/sim/mine", s.handleMine)
	mux.HandleFunc("/sim/reorg", s.handleReorg)
	mux.HandleFunc("/sim/status", e.handleStatus)
	mux.HandleFunc("/sim/traps", s.handleTraps)
	mux.HandleFunc("/sim/faults", e.handleFaults)
	return mux
}

// api adapts an apiFunc: GET or POST, parameters parsed, and a parse error
// answered 200 {"Error": …} as java-tron does.
func (e *Endpoint) api(f apiFunc, solidity bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p, err := parseParams(r)
		if err != nil {
			writeJSONValue(w, http.StatusOK, map[string]string{"Error": err.Error()})
			return
		}
		f(w, p, e.view(solidity))
	})
}

var emptyObject = []byte("{}")

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeJSONValue(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, status, b)
}

// internalError answers what the node would not: a failure of the
// simulator itself (an unreadable recorded file, say).
func (s *Sim) internalError(w http.ResponseWriter, err error) {
	s.log.Error("serving request", "err", err)
	writeJSONValue(w, http.StatusOK, map[string]string{"Error": err.Error()})
}

// entryAt returns block n if it exists and n <= maxNum; nil otherwise.
func (s *Sim) entryAt(n, maxNum int64) (*entry, error) {
	if n > maxNum || n < s.src.first() {
		return nil, nil
	}
	e, err := s.src.entry(n)
	if errors.Is(err, ErrNoBlock) {
		return nil, nil
	}
	return e, err
}

// servedBlock returns the block an endpoint serves for e: the block
// itself, or a tampered copy.
func servedBlock(e *entry, v view) *tron.Block {
	if v.corruptBlocks {
		return corruptBlock(&e.block)
	}
	return &e.block
}

// servedInfos returns the transaction infos an endpoint serves for e.
func servedInfos(e *entry, v view) []tron.TxInfo {
	if v.corruptReceipts {
		return corruptInfos(e.infos, e.number)
	}
	return e.infos
}

func (s *Sim) blockJSON(e *entry, v view, visible bool) ([]byte, error) {
	if visible || v.corruptBlocks {
		b := servedBlock(e, v)
		if visible {
			vb := visibleBlock(b)
			b = &vb
		}
		return json.Marshal(b)
	}
	b, _, err := e.json()
	return b, err
}

func (s *Sim) writeBlock(w http.ResponseWriter, n int64, v view, visible bool) {
	e, err := s.entryAt(n, v.maxNum)
	if err != nil {
		s.internalError(w, err)
		return
	}
	if e == nil {
		writeJSON(w, http.StatusOK, emptyObject)
		return
	}
	b, err := s.blockJSON(e, v, visible)
	if err != nil {
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Sim) getNowBlock(w http.ResponseWriter, p params, v view) {
	s.writeBlock(w, v.maxNum, v, p.Visible)
}

func (s *Sim) getBlockByNum(w http.ResponseWriter, p params, v view) {
	s.writeBlock(w, p.Num, v, p.Visible)
}

// blockRange returns the blocks of [start, end) a view shows, or nil for a
// range java-tron refuses (empty, reversed, or longer than blockLimit).
func (s *Sim) blockRange(start, end int64, v view) ([]*entry, error) {
	if end <= 0 || end <= start || end-start > blockLimit {
		return nil, nil
	}
	var out []*entry
	for n := max(start, s.src.first()); n < end && n <= v.maxNum; n++ {
		e, err := s.entryAt(n, v.maxNum)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Sim) getBlockByLimitNext(w http.ResponseWriter, p params, v view) {
	entries, err := s.blockRange(p.StartNum, p.EndNum, v)
	if err != nil {
		s.internalError(w, err)
		return
	}
	if len(entries) == 0 {
		writeJSON(w, http.StatusOK, emptyObject)
		return
	}
	var buf bytes.Buffer
	buf.WriteString(`{"block":[`)
	for i, e := range entries {
		b, err := s.blockJSON(e, v, p.Visible)
		if err != nil {
			s.internalError(w, err)
			return
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString("]}")
	writeJSON(w, http.StatusOK, buf.Bytes())
}

func (s *Sim) getTxInfoByBlockNum(w http.ResponseWriter, p params, v view) {
	e, err := s.entryAt(p.Num, v.maxNum)
	if err != nil {
		s.internalError(w, err)
		return
	}
	if e == nil {
		writeJSON(w, http.StatusOK, []byte("[]"))
		return
	}
	if p.Visible {
		writeJSONValue(w, http.StatusOK, visibleInfos(servedInfos(e, v)))
		return
	}
	if v.corruptReceipts {
		writeJSONValue(w, http.StatusOK, servedInfos(e, v))
		return
	}
	_, b, err := e.json()
	if err != nil {
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Sim) getTxInfoByID(w http.ResponseWriter, p params, v view) {
	_, info, err := s.findTx(strings.ToLower(p.Value), v.maxNum)
	if err != nil {
		if !errors.Is(err, ErrNoBlock) {
			s.log.Error("finding transaction", "err", err)
		}
		writeJSON(w, http.StatusOK, emptyObject)
		return
	}
	if p.Visible {
		writeJSONValue(w, http.StatusOK, visibleInfo(*info))
		return
	}
	writeJSONValue(w, http.StatusOK, info)
}

func (s *Sim) getTxByID(w http.ResponseWriter, p params, v view) {
	tx, _, err := s.findTx(strings.ToLower(p.Value), v.maxNum)
	if err != nil {
		if !errors.Is(err, ErrNoBlock) {
			s.log.Error("finding transaction", "err", err)
		}
		writeJSON(w, http.StatusOK, emptyObject)
		return
	}
	if p.Visible {
		v := visibleTx(tx)
		writeJSONValue(w, http.StatusOK, &v)
		return
	}
	writeJSONValue(w, http.StatusOK, tx)
}

func (s *Sim) getNodeInfo(w http.ResponseWriter, _ params, v view) {
	writeJSONValue(w, http.StatusOK, s.nodeInfo(v))
}

// nodeInfo is what getnodeinfo answers through view v: its head and
// solidified block, and made-up figures for the rest.
func (s *Sim) nodeInfo(v view) map[string]any {
	head, solid := v.head, v.solid
	headID, solidID := s.blockID(head), s.blockID(solid)
	return map[string]any{
		"beginSyncNum":        s.src.first(),
		"block":               fmt.Sprintf("Num:%d,ID:%s", head, headID),
		"solidityBlock":       fmt.Sprintf("Num:%d,ID:%s", solid, solidID),
		"currentConnectCount": 30,
		"activeConnectCount":  12,
		"passiveConnectCount": 18,
		"totalFlow":           0,
		"peerList":            []any{},
		"configNodeInfo": map[string]any{
			"codeVersion":              "4.7.7",
			"p2pVersion":               "11111",
			"listenPort":               18888,
			"discoverEnable":           true,
			"activeNodeSize":           0,
			"passiveNodeSize":          0,
			"sendNodeSize":             0,
			"maxConnectCount":          30,
			"sameIpMaxConnectCount":    2,
			"backupListenPort":         10001,
			"backupMemberSize":         0,
			"backupPriority":           8,
			"dbVersion":                2,
			"minParticipationRate":     15,
			"supportConstant":          true,
			"minTimeRatio":             0.0,
			"maxTimeRatio":             5.0,
			"allowCreationOfContracts": 1,
			"allowAdaptiveEnergy":      1,
		},
		"machineInfo": map[string]any{
			"threadCount":    120,
			"cpuCount":       2,
			"totalMemory":    17179869184,
			"freeMemory":     8589934592,
			"cpuRate":        0.1,
			"javaVersion":    "1.8.0_161",
			"osName":         "Linux amd64",
			"processCpuRate": 0.05,
		},
		"cheatWitnessInfoMap": map[string]any{},
	}
}

// blockID returns the id of block n, or "" when there is none.
func (s *Sim) blockID(n int64) string {
	e, err := s.src.entry(n)
	if err != nil {
		return ""
	}
	return e.block.BlockID
}
