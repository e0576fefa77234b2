package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/client"
)

// linked returns the JSON of the i-th test event naming event prev as its
// predecessor (none when prev is negative).
func linked(i, prev int) string {
	p := ""
	if prev >= 0 {
		p = cur(prev)
	}
	return strings.Replace(eventJSON(i), `"cursor":`, fmt.Sprintf(`"prev_cursor":%q,"cursor":`, p), 1)
}

// chainOf returns events from..to, each linked to the one before.
func chainOf(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, linked(i, i-1))
	}
	return out
}

func TestStream_chain(t *testing.T) {
	t.Parallel()
	brk := &client.MissingEventsError{SubscriptionID: "sub_1", After: cur(2), Before: cur(4), Prev: cur(3)}
	tests := []struct {
		name     string
		after    string
		sessions []session
		want     []int
		// afters are the cursors each connection resumed after.
		afters []string
		stats  client.ChainStats
		// broken and recovered are the breaks the state handler is told.
		broken    []client.MissingEventsError
		gap       bool
		recovered int
	}{
		{
			name:  "a dropped event is fetched again by resuming from the last good cursor",
			after: cur(0),
			sessions: []session{
				{messages: []string{hello(true), linked(1, 0), linked(2, 1), linked(4, 3), linked(5, 4)}},
				{messages: append([]string{hello(true)}, chainOf(3, 6)...), close: client.CloseSubscriptionDeleted},
			},
			want:   []int{1, 2, 3, 4, 5, 6},
			afters: []string{cur(0), cur(2)},
			stats:  client.ChainStats{Breaks: 1, Recovered: 1},
			broken: []client.MissingEventsError{*brk}, recovered: 1,
		},
		{
			name:  "a break after a reconnection",
			after: cur(0),
			sessions: []session{
				{messages: []string{hello(true), linked(1, 0), linked(2, 1)}, close: client.CloseServiceRestart},
				{messages: []string{hello(true), linked(4, 3)}},
				{messages: append([]string{hello(true)}, chainOf(3, 4)...), close: client.CloseSubscriptionDeleted},
			},
			want:   []int{1, 2, 3, 4},
			afters: []string{cur(0), cur(2), cur(2)},
			stats:  client.ChainStats{Breaks: 1, Recovered: 1},
			broken: []client.MissingEventsError{*brk}, recovered: 1,
		},
		{
			name:  "a break the server cannot mend is handed out, reported as a gap",
			after: cur(0),
			sessions: []session{
				{messages: []string{hello(true), linked(1, 0), linked(2, 1), linked(4, 3)}},
				{messages: []string{hello(true), linked(4, 3), linked(5, 4)}, close: client.CloseSubscriptionDeleted},
			},
			want:   []int{1, 2, 4, 5},
			afters: []string{cur(0), cur(2)},
			stats:  client.ChainStats{Breaks: 1, Unrecovered: 1},
			broken: []client.MissingEventsError{*brk, *brk}, gap: true,
		},
		{
			name:  "the first event of a live-only stream starts the chain",
			after: "",
			sessions: []session{
				{messages: append([]string{hello(false)}, chainOf(7, 9)...), close: client.CloseSubscriptionDeleted},
			},
			want:   []int{7, 8, 9},
			afters: []string{""},
		},
		{
			name:  "a resume older than retention starts the chain again",
			after: cur(2),
			sessions: []session{
				{messages: append([]string{hello(false)}, chainOf(50, 51)...), close: client.CloseSubscriptionDeleted},
			},
			want:   []int{50, 51},
			afters: []string{cur(2)},
		},
		{
			name:  "events stored before links existed are not checked",
			after: cur(0),
			sessions: []session{
				{messages: []string{hello(true), eventJSON(1), eventJSON(3), linked(4, 3)}, close: client.CloseSubscriptionDeleted},
			},
			want:   []int{1, 3, 4},
			afters: []string{cur(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeEdge(t, tt.sessions...)
			var mu sync.Mutex
			var broken []client.MissingEventsError
			gap, recovered := false, 0
			opts := fastOpts(tt.after, nil)
			opts.StateHandler = func(st client.State) {
				mu.Lock()
				defer mu.Unlock()
				switch st.Status {
				case client.StatusChainBroken:
					broken = append(broken, *st.Break)
					gap = gap || st.Gap
					if !errors.Is(st.Err, client.ErrChainBroken) {
						t.Errorf("a break's Err is %v", st.Err) // off the test goroutine: no require
					}
				case client.StatusChainRecovered:
					recovered++
				}
			}
			s := newClient(t, f.srv.URL).Stream(t.Context(), "sub_1", opts)
			defer s.Close()
			got, err := collect(t, s)
			require.ErrorIs(t, err, client.ErrSubscriptionDeleted)
			var want []string
			for _, i := range tt.want {
				want = append(want, cur(i))
			}
			require.Equal(t, want, got, "never an event before the ones it shows missing")
			require.Equal(t, tt.stats, s.ChainStats())
			f.mu.Lock()
			require.Equal(t, tt.afters, f.afters)
			f.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tt.broken, broken)
			require.Equal(t, tt.gap, gap)
			require.Equal(t, tt.recovered, recovered)
		})
	}
}

// memChain is a ChainStore in memory.
type memChain struct {
	mu   sync.Mutex
	last map[string]string
	err  error
}

func (m *memChain) LastCursor(_ context.Context, sub string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[sub], m.err
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	parse := func(s string) client.Event {
		ev, err := client.ParseEvent([]byte(s))
		require.NoError(t, err)
		return ev
	}
	errStore := errors.New("store down")
	tests := []struct {
		name     string
		last     string
		storeErr error
		ev       client.Event
		want     error
		gap      *client.MissingEventsError
	}{
		{name: "the next event", last: cur(4), ev: parse(linked(5, 4))},
		{name: "the subscription's first event", ev: parse(linked(1, -1))},
		{name: "the receiver's first event starts its chain", ev: parse(linked(9, 8))},
		{name: "a redelivery", last: cur(5), ev: parse(linked(5, 4)), want: client.ErrAlreadyProcessed},
		{name: "an older event", last: cur(5), ev: parse(linked(3, 2)), want: client.ErrAlreadyProcessed},
		{name: "an event stored before links existed", last: cur(4), ev: parse(eventJSON(7))},
		{
			name: "a lost delivery", last: cur(4), ev: parse(linked(7, 6)), want: client.ErrChainBroken,
			gap: &client.MissingEventsError{SubscriptionID: "sub_1", After: cur(4), Before: cur(7), Prev: cur(6)},
		},
		{
			name: "a first event after others", last: cur(4), ev: parse(linked(7, -1)), want: client.ErrChainBroken,
			gap: &client.MissingEventsError{SubscriptionID: "sub_1", After: cur(4), Before: cur(7)},
		},
		{name: "a failing store", storeErr: errStore, ev: parse(linked(1, 0)), want: errStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &memChain{last: map[string]string{"sub_1": tt.last}, err: tt.storeErr}
			err := client.VerifyChain(t.Context(), st, tt.ev)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			if tt.gap != nil {
				var me *client.MissingEventsError
				require.ErrorAs(t, err, &me)
				require.Equal(t, tt.gap, me)
				require.Contains(t, me.Error(), "after cursor "+tt.gap.After)
			}
		})
	}
}

func TestClient_FetchMissing(t *testing.T) {
	t.Parallel()
	// History: 1…9, but 6 is gone (a hole the server cannot fill).
	page := func(after string) (int, string) {
		var evs []string
		for i := 1; i <= 9; i++ {
			if i != 6 && cur(i) > after && len(evs) < 2 {
				evs = append(evs, linked(i, i-1))
			}
		}
		next := "null"
		if len(evs) == 2 {
			next = fmt.Sprintf("%q", strings.Split(strings.Split(evs[1], `"cursor":"`)[1], `"`)[0])
		}
		return 200, `{"events":[` + strings.Join(evs, ",") + `],"next":` + next + `}`
	}
	f, c := newFakeAPI(t, func(r recorded) (int, string) {
		q, err := url.ParseQuery(r.query)
		require.NoError(t, err)
		return page(q.Get("after"))
	})

	// Lost: 3 and 4; the receiver has 2 and got 5.
	evs, err := c.FetchMissing(t.Context(), &client.MissingEventsError{SubscriptionID: "sub_1", After: cur(2), Before: cur(5), Prev: cur(4)})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, cur(3), evs[0].Cursor)
	require.Equal(t, cur(4), evs[1].Cursor)
	f.mu.Lock()
	require.Equal(t, "/v1/subscriptions/sub_1/events", f.reqs[0].path)
	f.mu.Unlock()

	// Lost: 6, which history lacks too: what is left missing is named.
	evs, err = c.FetchMissing(t.Context(), &client.MissingEventsError{SubscriptionID: "sub_1", After: cur(5), Before: cur(7), Prev: cur(6)})
	require.ErrorIs(t, err, client.ErrChainBroken)
	require.Empty(t, evs)
	var me *client.MissingEventsError
	require.ErrorAs(t, err, &me)
	require.Equal(t, client.MissingEventsError{SubscriptionID: "sub_1", After: cur(5), Before: cur(7), Prev: cur(6)}, *me)
}
