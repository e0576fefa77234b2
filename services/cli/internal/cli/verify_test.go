package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/service/servicetest"
)

// linkedEvent is test event i naming event prev as its predecessor ("" for
// none: the subscription's first event).
func linkedEvent(i int, prev string) string {
	return strings.Replace(testEvent(i, false), `"cursor":`, fmt.Sprintf(`"prev_cursor":%q,"cursor":`, prev), 1)
}

// historyDouble is an edge's history route over events, paged as the edge
// pages it: a stand-in for a store where events can be planted or
// deleted.
func historyDouble(t *testing.T, events []string) []string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			apiError(w, 401, "invalid_api_key", "the API key is unknown or revoked")
			return
		}
		if r.Method != "GET" || r.URL.Path != "/v1/subscriptions/sub_1/events" {
			apiError(w, 404, "not_found", "no route")
			return
		}
		after := r.URL.Query().Get("after")
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil {
			t.Errorf("limit: %v", err) // off the test goroutine: no require
			apiError(w, 400, "invalid_limit", err.Error())
			return
		}
		var page []string
		next := "null"
		for _, ev := range events {
			c := strings.SplitN(strings.SplitN(ev, `"cursor":"`, 2)[1], `"`, 2)[0]
			if c <= after {
				continue
			}
			if len(page) == limit {
				next = fmt.Sprintf("%q", after)
				break
			}
			page = append(page, ev)
			after = c
		}
		reply(w, 200, `{"events":[`+strings.Join(page, ",")+`],"next":`+next+`}`)
	}))
	t.Cleanup(srv.Close)
	return []string{"MONGOTRON_URL=" + srv.URL, "MONGOTRON_API_KEY=" + testKey}
}

// chainOfEvents returns events 1…n, each linked to the one before.
func chainOfEvents(n int) []string {
	out := make([]string, n)
	prev := ""
	for i := range n {
		out[i] = linkedEvent(i+1, prev)
		prev = testCursor(i + 1)
	}
	return out
}

func without(evs []string, drop ...int) []string {
	var out []string
	for i, ev := range evs {
		keep := true
		for _, d := range drop {
			keep = keep && i+1 != d
		}
		if keep {
			out = append(out, ev)
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	t.Parallel()
	all := chainOfEvents(25)
	legacy := append([]string{testEvent(1, false), testEvent(2, false)}, chainOfEvents(5)[2:]...)
	tests := []struct {
		name       string
		events     []string
		args       []string
		wantCode   int
		wantOut    []string
		wantNotOut string
	}{
		{
			name: "an intact chain", events: all, args: []string{"--page-size", "7"},
			wantCode: service.ExitOK,
			wantOut:  []string{"sub_1: 25 events from " + testCursor(1) + " to " + testCursor(25) + ": chain intact"},
		},
		{
			name: "a deleted event", events: without(all, 9), args: []string{"--page-size", "7"},
			wantCode: exitChainBroken,
			wantOut: []string{
				"break: events missing after cursor " + testCursor(8) + ", before cursor " + testCursor(10) + " (which follows " + testCursor(9) + ")",
				"sub_1: 24 events from " + testCursor(1) + " to " + testCursor(25) + ": CHAIN BROKEN (1 break)",
			},
		},
		{
			name: "two holes, one across a page's end", events: without(all, 7, 8, 20), args: []string{"--page-size", "6"},
			wantCode: exitChainBroken,
			wantOut: []string{
				"break: events missing after cursor " + testCursor(6) + ", before cursor " + testCursor(9) + " (which follows " + testCursor(8) + ")",
				"break: events missing after cursor " + testCursor(19) + ", before cursor " + testCursor(21) + " (which follows " + testCursor(20) + ")",
				"CHAIN BROKEN (2 breaks)",
			},
		},
		{
			name: "history past retention starts later", events: all[10:],
			wantCode: service.ExitOK,
			wantOut:  []string{"sub_1: 15 events from " + testCursor(11) + " to " + testCursor(25) + ", the oldest held follows " + testCursor(10) + " (no longer kept): chain intact"},
		},
		{
			name: "after a cursor, the first event must name it", events: without(all, 4), args: []string{"--after", testCursor(3)},
			wantCode: exitChainBroken,
			wantOut:  []string{"break: events missing after cursor " + testCursor(3) + ", before cursor " + testCursor(5)},
		},
		{
			name: "after a cursor, intact", events: all, args: []string{"--after", testCursor(20)},
			wantCode: service.ExitOK,
			wantOut:  []string{"sub_1: 5 events from " + testCursor(21) + " to " + testCursor(25) + ": chain intact"},
		},
		{
			name: "events stored before links existed are counted, not checked", events: legacy,
			wantCode: service.ExitOK,
			wantOut:  []string{"sub_1: 5 events from " + testCursor(1) + " to " + testCursor(5) + ", 2 stored before events were linked (not checked): chain intact"},
		},
		{
			name: "no event", events: nil,
			wantCode: service.ExitOK,
			wantOut:  []string{"sub_1: 0 events: chain intact"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := historyDouble(t, tt.events)
			r := run(t.Context(), t, env, append([]string{"verify", "sub_1"}, tt.args...)...)
			require.Equal(t, tt.wantCode, r.code, "stdout %q, stderr %q", r.stdout, r.stderr)
			for _, w := range tt.wantOut {
				require.Contains(t, r.stdout, w)
			}
			require.Contains(t, r.stderr, fmt.Sprintf("mongotron verify: %d events checked", len(tt.events)-countBefore(tt.args)))
			if tt.wantCode == exitChainBroken {
				require.Contains(t, r.stderr, "mongotron verify: the chain is broken")
			}
		})
	}
}

// countBefore is how many of the test chain's events --after skips.
func countBefore(args []string) int {
	for i, a := range args {
		if a == "--after" {
			for n := 1; n <= 25; n++ {
				if testCursor(n) == args[i+1] {
					return n
				}
			}
		}
	}
	return 0
}

func TestVerify_badInput(t *testing.T) {
	t.Parallel()
	env := historyDouble(t, nil)
	for _, args := range [][]string{{"verify"}, {"verify", "sub_1", "--after", "nope"}, {"verify", "sub_1", "--page-size", "0"}} {
		r := run(t.Context(), t, env, args...)
		require.Equal(t, service.ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
}

func TestTail_chain(t *testing.T) {
	t.Parallel()
	f := newFakeEdge(t)
	f.sessions = [][]string{
		// Event 3 is lost on the way: 4 names it.
		{linkedEvent(1, testCursor(0)), linkedEvent(2, testCursor(1)), linkedEvent(4, testCursor(3))},
		{linkedEvent(3, testCursor(2)), linkedEvent(4, testCursor(3)), linkedEvent(5, testCursor(4))},
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr servicetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"tail", "sub_1", "--after", testCursor(0), "--quiet"}, f.env(), &stdout, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(stdout.String(), "\n") < 5 {
		require.True(t, time.Now().Before(deadline), "tail printed %q; stderr %q", stdout.String(), stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		require.Equal(t, service.ExitOK, code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not stop on cancel")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for i, l := range lines {
		require.Contains(t, l, `"cursor":"`+testCursor(i+1)+`"`, "in order, none missing")
	}
	require.Contains(t, stderr.String(), "chain broken: event "+testCursor(4)+" names "+testCursor(3)+" as its predecessor, not "+testCursor(2))
	require.Contains(t, stderr.String(), "chain recovered: the events missing after "+testCursor(2)+" arrived")
	require.Contains(t, stderr.String(), "chain breaks: 1, recovered: 1, not recovered: 0")
	require.NotContains(t, stderr.String(), "reconnecting in", "--quiet keeps connection notices quiet")
	f.mu.Lock()
	require.Equal(t, []string{testCursor(0), testCursor(2)}, f.afters)
	f.mu.Unlock()
}

// TestVerify_retriesAFailingPage: one slow or failing answer does not end
// a long walk: the page is asked again.
func TestVerify_retriesAFailingPage(t *testing.T) {
	t.Parallel()
	all := chainOfEvents(6)
	env := historyDouble(t, all)
	inner := env[0][len("MONGOTRON_URL="):]
	failed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == testCursor(3) && failed < 1 {
			failed++
			w.Header().Set("Retry-After", "0")
			apiError(w, 503, "store_unavailable", "try again")
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), "GET", inner+r.URL.RequestURI(), nil)
		if err == nil {
			req.Header.Set("Authorization", r.Header.Get("Authorization"))
		}
		var resp *http.Response
		if err == nil {
			resp, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Errorf("the double: %v", err) // off the test goroutine: no require
			apiError(w, 500, "internal", err.Error())
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	r := run(t.Context(), t, []string{"MONGOTRON_URL=" + srv.URL, "MONGOTRON_API_KEY=" + testKey}, "verify", "sub_1", "--page-size", "3")
	require.Equal(t, service.ExitOK, r.code, r.stderr)
	require.Equal(t, 1, failed)
	require.Contains(t, r.stdout, "sub_1: 6 events from "+testCursor(1)+" to "+testCursor(6)+": chain intact")
	require.Contains(t, r.stderr, "reading the page after "+testCursor(3)+" failed")
}
