package stream

import (
	"context"
	"sort"
	"sync"
)

// memoryHistory is an in-process [History] for the hub's unit tests.
type memoryHistory struct {
	mu   sync.Mutex
	recs map[string][]Record // by subscription, in cursor order
}

func newMemoryHistory() *memoryHistory { return &memoryHistory{recs: make(map[string][]Record)} }

// add appends an event; cursors must grow, as the ingest's do.
func (m *memoryHistory) add(sub string, r Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[sub] = append(m.recs[sub], r)
}

func (m *memoryHistory) Scan(_ context.Context, sub, after string, batch int, fn func([]Record) error) error {
	m.mu.Lock()
	rs := m.recs[sub]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Cursor > after })
	// A snapshot, as a database cursor gives: events added during the
	// scan are the live path's to deliver.
	rs = append([]Record(nil), rs[i:]...)
	m.mu.Unlock()
	for len(rs) > 0 {
		n := min(batch, len(rs))
		if err := fn(rs[:n]); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}

func (m *memoryHistory) Retained(_ context.Context, sub, after string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.recs[sub]
	return len(rs) > 0 && rs[0].Cursor <= after, nil
}

func (m *memoryHistory) Newest(_ context.Context, sub, _ string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.recs[sub]
	if len(rs) == 0 {
		return "", nil
	}
	return rs[len(rs)-1].Cursor, nil
}
