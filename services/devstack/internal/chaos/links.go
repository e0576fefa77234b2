package chaos

import "sort"

// CheckHistoryLinks checks that hist, a subscription's whole stored
// history in cursor order, is one chain: its first event's prev_cursor is
// "" and every other one names the event just before it.
func CheckHistoryLinks(sub Sub, hist []Event) Verdict {
	v := Verdict{Name: "history", Sub: sub.ID, Received: len(hist), Expected: len(hist)}
	prev := ""
	broken := 0
	for _, e := range hist {
		switch {
		case e.PrevCursor == nil:
			v.problem("UNLINKED %s: no prev_cursor", eventString(e))
		case *e.PrevCursor != prev:
			if broken++; broken <= maxEvidence {
				v.problem("BROKEN LINK %s names %q as its predecessor; the history has %q before it", eventString(e), *e.PrevCursor, prev)
			}
		}
		prev = e.Cursor
	}
	return v
}

// CheckLinks checks the links of what client c received against hist,
// the history of its subscription in cursor order: each event must carry
// prev_cursor, naming the event just before it in the history, so the
// stream and the history agree on the chain and the client could check
// by itself that it missed nothing.
func CheckLinks(c *Client, hist []Event) Verdict {
	got := c.Events()
	v := Verdict{Name: c.Name(), Sub: c.Sub().ID, Received: len(got), Expected: len(got)}
	broken := 0
	for _, r := range got {
		i := sort.Search(len(hist), func(i int) bool { return hist[i].Cursor >= r.Cursor })
		if i == len(hist) || hist[i].Cursor != r.Cursor {
			continue // CheckStream reports it
		}
		want := ""
		if i > 0 {
			want = hist[i-1].Cursor
		}
		switch {
		case r.Prev == nil:
			v.problem("UNLINKED %s: no prev_cursor", r.Cursor)
		case *r.Prev != want:
			if broken++; broken <= maxEvidence {
				v.problem("BROKEN LINK %s (session %d) names %q as its predecessor; the history has %q before it", r.Cursor, r.Session, *r.Prev, want)
			}
		}
	}
	return v
}
