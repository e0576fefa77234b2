package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/store"
)

// scanAhead returns the cursors Pages.ScanAhead hands on after after.
func scanAhead(t testing.TB, r *store.Pages, sub, after string, ahead int) []string {
	t.Helper()
	var out []string
	require.NoError(t, r.ScanAhead(t.Context(), sub, after, ahead, func(es []store.PageEntry) (bool, error) {
		for _, e := range es {
			out = append(out, e.Cursor)
		}
		return true, nil
	}))
	return out
}

// TestPages_ScanAhead_HandsOnWhatScanDoes: reading pages ahead changes
// what is read at once, never what is handed on, with _id lookups only:
// from any point, across chunks, past expired pages, and when fn stops.
func TestPages_ScanAhead_HandsOnWhatScanDoes(t *testing.T) {
	t.Parallel()
	db, rec := pagesDB(t)
	ctx := t.Context()
	p := store.NewPages(db)
	// More than a chunk of pages, the last one not full.
	all := docs("sub_h", 1, 0, (store.ChunkPages+3)*store.PageSize+17)
	require.NoError(t, store.AppendEvents(ctx, db, all...))
	rec.reset()
	for _, after := range []string{"", all[0].Cursor, all[store.PageSize-1].Cursor, all[len(all)-18].Cursor, all[len(all)-1].Cursor, cur(1<<40, 0)} {
		want := scan(t, p, "sub_h", after)
		for _, ahead := range []int{0, 1, 2, 3, 8} {
			require.Equal(t, want, scanAhead(t, p, "sub_h", after, ahead), "after %q, %d ahead", after, ahead)
		}
	}
	require.Empty(t, scanAhead(t, p, "sub_none", "", 3))
	_, offences := rec.reset()
	require.Empty(t, offences)

	// fn stops it, or fails it: ScanAhead returns at once, its lookups
	// ended (the package's leak check would see one that did not).
	n := 0
	require.NoError(t, p.ScanAhead(ctx, "sub_h", "", 4, func(es []store.PageEntry) (bool, error) {
		n += len(es)
		return n < 3*store.PageSize, nil
	}))
	require.Equal(t, 3*store.PageSize, n)
	boom := errors.New("boom")
	require.ErrorIs(t, p.ScanAhead(ctx, "sub_h", "", 4, func([]store.PageEntry) (bool, error) { return false, boom }), boom)

	// The first pages expire: the walk goes on from what is left.
	old := docs("sub_x", 1, 0, 4*store.PageSize+5)
	for i := range old[:2*store.PageSize+3] {
		old[i].CreatedAt = time.Now().Add(-2 * time.Hour)
	}
	require.NoError(t, store.AppendEvents(ctx, db, old...))
	_, err := store.SweepEvents(ctx, db, time.Hour, time.Now())
	require.NoError(t, err)
	require.Equal(t, scan(t, p, "sub_x", old[5].Cursor), scanAhead(t, p, "sub_x", old[5].Cursor, 3))
	require.Equal(t, cursorsOf(old[2*store.PageSize:]), scanAhead(t, p, "sub_x", "", 3))
}
