package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// decodeFiles decodes a saved block, its saved infos, or infos alone, and
// writes the events. Every failure is bad input: the files are the user's.
func decodeFiles(dec *decode.Decoder, blockPath, infoPath string, out *eventWriter) error {
	var (
		infos   []tron.TxInfo
		indexed bool
	)
	if infoPath != "" {
		var err error
		if infos, indexed, err = readTxInfos(infoPath); err != nil {
			return usageError{err}
		}
	}
	var evs []event.Event
	if blockPath != "" {
		b, err := readBlock(blockPath)
		if err != nil {
			return usageError{err}
		}
		if evs, err = dec.DecodeBlock(b, infos); err != nil {
			return badInput("%s: %w", blockPath, err)
		}
	} else {
		for i := range infos {
			txIndex := -1
			if indexed {
				txIndex = i
			}
			e, err := dec.DecodeTxInfo(&infos[i], txIndex)
			if err != nil {
				return badInput("%s: transaction info %d: %w", infoPath, i, err)
			}
			evs = append(evs, e...)
		}
	}
	if err := out.write(evs); err != nil {
		return err
	}
	return out.flush()
}

// readBlock reads a saved block: a getblockbynum answer (JSON, which
// starts with '{'), or a node's raw gRPC GetBlockByNum2 answer, a protobuf
// BlockExtention as binary or hex text.
func readBlock(path string) (*tron.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		b, err := tron.DecodeBlockExtention(data)
		if err != nil {
			return nil, fmt.Errorf("%s: neither a getblockbynum answer (JSON) nor a protobuf BlockExtention: %w", path, err)
		}
		return b, nil
	}
	var b tron.Block
	if err := strictUnmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: not a getblockbynum answer: %w", path, err)
	}
	if b.BlockID == "" {
		return nil, fmt.Errorf("%s: not a getblockbynum answer: no blockID", path)
	}
	return &b, nil
}

// readTxInfos reads transaction infos in any of three shapes:
//
//   - a gettransactioninfobyblocknum array, in transaction order, so
//     indexed is true: an info's position is its transaction's index;
//   - one gettransactioninfobyid answer (an object with a string "id");
//   - an object mapping transaction ids to gettransactioninfobyid answers,
//     as tests and explorers save them. A map has no order, so the infos
//     come sorted by block number, then id, which is chain order between
//     blocks and an arbitrary but stable one within a block.
func readTxInfos(path string) (infos []tron.TxInfo, indexed bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, false, fmt.Errorf("%s: empty file", path)
	}
	switch data[0] {
	case '[':
		if err := strictUnmarshal(data, &infos); err != nil {
			return nil, false, fmt.Errorf("%s: not a gettransactioninfobyblocknum array: %w", path, err)
		}
		for i := range infos {
			if infos[i].ID == "" {
				return nil, false, fmt.Errorf("%s: transaction info %d has no id", path, i)
			}
		}
		return infos, true, nil
	case '{':
	default:
		return nil, false, fmt.Errorf("%s: not JSON: want an array or an object of transaction infos", path)
	}

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, false, fmt.Errorf("%s: malformed JSON: %w", path, err)
	}
	if id, ok := fields["id"]; ok && len(id) > 0 && id[0] == '"' {
		var info tron.TxInfo
		if err := strictUnmarshal(data, &info); err != nil {
			return nil, false, fmt.Errorf("%s: not a gettransactioninfobyid answer: %w", path, err)
		}
		return []tron.TxInfo{info}, false, nil
	}
	if len(fields) == 0 {
		// java-tron answers {} for an unknown transaction.
		return nil, false, fmt.Errorf("%s: empty object: no transaction info", path)
	}
	infos = make([]tron.TxInfo, 0, len(fields))
	for key, raw := range fields {
		var info tron.TxInfo
		if err := strictUnmarshal(raw, &info); err != nil {
			return nil, false, fmt.Errorf("%s: key %.80q: not a gettransactioninfobyid answer: %w", path, key, err)
		}
		if info.ID != key {
			return nil, false, fmt.Errorf("%s: key %.80q holds the info of transaction %.80q", path, key, info.ID)
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b tron.TxInfo) int {
		return cmp.Or(cmp.Compare(a.BlockNumber, b.BlockNumber), cmp.Compare(a.ID, b.ID))
	})
	return infos, false, nil
}

// strictUnmarshal is json.Unmarshal that also refuses trailing data, so
// two answers pasted into one file are not half read.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
