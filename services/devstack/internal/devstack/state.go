package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// StateFile is the file in the data directory that carries a run's keys
// and chain origin to the next run.
const StateFile = "devstack.json"

// simSeed is the synthetic chain's seed; fixed, so every developer sees
// the same chain.
const simSeed = 1

// simBlockSpacing is the simulator's timestamp spacing, whatever its
// block interval.
const simBlockSpacing = 3 * time.Second

// state is what [StateFile] holds.
type state struct {
	AdminKey string    `json:"admin_key"`
	Demo     *Demo     `json:"demo,omitempty"`
	Sim      *simState `json:"sim,omitempty"`
}

// simState is the synthetic chain's origin. The same seed, first block and
// start time give the same blocks and ids, so the ingest's checkpoint in
// MongoDB stays on the chain across runs.
type simState struct {
	Seed      uint64    `json:"seed"`
	StartTime time.Time `json:"start_time"`
	// Head is the last block of the previous run; the next one starts
	// with every block up to it.
	Head int64 `json:"head"`
}

// simStartBlock is the simulator's default first block.
const simStartBlock = 60_000_000

// simArgs returns the simulator flags that continue the chain of the
// previous run, or start a new one whose head is about now; it records a
// new chain's origin in st.
func (st *state) simArgs(now time.Time) []string {
	if st.Sim == nil || st.Sim.Head < simStartBlock {
		const initial = 100
		start := now.Truncate(simBlockSpacing).Add(-simBlockSpacing * (initial - 1)).UTC()
		st.Sim = &simState{Seed: simSeed, StartTime: start, Head: simStartBlock + initial - 1}
	}
	initial := st.Sim.Head - simStartBlock + 1
	return []string{
		"--seed", strconv.FormatUint(st.Sim.Seed, 10),
		"--start-block", strconv.Itoa(simStartBlock),
		"--start-time", st.Sim.StartTime.Format(time.RFC3339Nano),
		"--initial-blocks", strconv.FormatInt(initial, 10),
	}
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &state{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devstack: state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("devstack: state %s: %w (delete it to start afresh)", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// saveState writes the state through a temporary file, so a crash never
// leaves half a file.
func saveState(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("devstack: state: %w", err)
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	// It holds keys: readable by the developer only.
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("devstack: state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("devstack: state: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
