package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

const adminKey = "admin-key-for-browser-tests"

// chromium finds a Chromium or Chrome to drive: $MONGOTRON_CHROMIUM, or the
// usual names in PATH. Debian's package is `chromium`.
func chromium() string {
	if p := os.Getenv("MONGOTRON_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// edgeConfig parses args as the edge binary does, so every default the
// edge's flags set applies.
func edgeConfig(tb testing.TB, args ...string) app.Config {
	tb.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet(app.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	require.NoError(tb, config.Load(fs, args, nil, config.IgnoreKeys(config.SharedKeys()...)))
	require.NoError(tb, cfg.Validate())
	return cfg
}

// edge is one in-process edge app; restart starts a fresh one on the same
// address, as a deploy would.
type edge struct {
	cfg    app.Config
	base   string
	cancel context.CancelFunc
	done   chan error
}

func startEdge(t *testing.T, cfg app.Config) *edge {
	t.Helper()
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	e := &edge{cfg: cfg, base: "http://" + a.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	e.cfg.HTTP.Addr = a.Addr().String()
	go func() { e.done <- a.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop shuts the edge down (its streams close with 1012) and waits for it.
func (e *edge) stop(t *testing.T) {
	t.Helper()
	if e.done == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("edge did not stop")
	}
	e.done = nil
}

func (e *edge) call(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &m), string(b))
	}
	return resp.StatusCode, m
}

// chain stands in for the ingest: it stores an event for a subscription,
// then publishes the same bytes on the subscription's subject.
type chain struct {
	db  *mongo.Database
	nc  *nats.Conn
	sub string
}

type testEvent struct {
	step    uint64
	tx      string
	removed bool
	flags   []string
	memo    string
	// prev is the step of the subscription's event before this one, 0
	// for its first.
	prev uint64
}

func (ev testEvent) cursor() string { return cursor.Cursor{Step: ev.step}.String() }

func (ev testEvent) json(sub string) []byte {
	prev := ""
	if ev.prev > 0 {
		prev = cursor.Cursor{Step: ev.prev}.String()
	}
	b, _ := json.Marshal(map[string]any{
		"type": "event", "cursor": ev.cursor(), "prev_cursor": prev, "id": ev.tx + ":0", "subscription_id": sub,
		"kind": "trc20_transfer", "network": "mainnet",
		"block": map[string]any{"number": 68000000 + ev.step, "id": fmt.Sprintf("%064x", ev.step), "timestamp": "2025-01-02T03:04:05Z"},
		"tx_id": ev.tx, "tx_index": 1, "index": 0, "success": true, "confirmations": 0, "removed": ev.removed,
		"watched": "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", "direction": "in",
		"from": "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8", "to": "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL",
		"contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "token": map[string]any{"symbol": "USDT", "decimals": 6},
		"amount": fmt.Sprint(1500000 * ev.step), "amount_decimal": fmt.Sprintf("%d.5", ev.step), "data": map[string]any{},
		"flags": append([]string{}, ev.flags...), "memo": ev.memo,
	})
	return b
}

// store writes the event to history only, as when no edge was listening.
func (c chain) store(t *testing.T, ev testEvent) []byte {
	t.Helper()
	msg := ev.json(c.sub)
	require.NoError(t, store.AppendEvents(t.Context(), c.db, store.EventDoc{
		ID: store.EventDocID(c.sub, ev.cursor()), SubscriptionID: c.sub, Cursor: ev.cursor(), EventID: ev.tx + ":0",
		Removed: ev.removed, Kind: "trc20_transfer", TxID: ev.tx, Block: int64(68000000 + ev.step), BlockID: fmt.Sprintf("%064x", ev.step),
		CreatedAt: time.Now(), JSON: msg,
	}))
	return msg
}

func (c chain) publish(t *testing.T, ev testEvent) {
	t.Helper()
	msg := c.store(t, ev)
	require.NoError(t, c.nc.Publish(bus.EventsSubject(c.sub), msg))
	require.NoError(t, c.nc.Flush())
}

func txID(n int) string { return fmt.Sprintf("%064x", 0xabc000+n) }

type row struct {
	Cursor, ID, Kind, Amount, From, FromTitle, Tx, Href, Conf, Class, Decoration string
}

// chainJS reads the viewer's chain state: "state|text".
const chainJS = `document.getElementById('chain').dataset.chain + '|' + document.getElementById('chain').textContent`

const rowsJS = `[...document.querySelectorAll('#events tbody tr')].map(tr => ({
	Cursor: tr.dataset.cursor, ID: tr.dataset.id, Kind: tr.cells[2].textContent,
	Amount: tr.cells[3].textContent, From: tr.cells[4].children[0].textContent,
	FromTitle: tr.cells[4].children[0].title, Tx: tr.cells[5].textContent,
	Href: tr.cells[5].querySelector('a') ? tr.cells[5].querySelector('a').href : '',
	Conf: tr.cells[6].textContent, Class: tr.className,
	Decoration: getComputedStyle(tr.cells[2]).textDecorationLine}))`

func TestViewer_browser(t *testing.T) {
	t.Parallel()
	exe := chromium()
	if exe == "" {
		t.Skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it): skipping the browser test of the web viewer")
	}

	n := testenv.RunNATS(t)
	m := testenv.RunMongo(t)
	ed := startEdge(t, edgeConfig(t, "--http.addr=127.0.0.1:0", "--shutdown-timeout=5s",
		"--mongo.uri="+m.URI(), "--nats.url="+n.URL(), "--admin-key="+adminKey, "--api.rate-limit=-1"))

	status, k := ed.call(t, "POST", "/v1/keys", adminKey, `{"tenant":"acme"}`)
	require.Equal(t, http.StatusCreated, status)
	key := k["key"].(string)
	status, s := ed.call(t, "POST", "/v1/subscriptions", key, `{"label":"usdt deposits","kinds":["trc20_transfer"],"confirmations":0}`)
	require.Equal(t, http.StatusCreated, status)
	subID := s["id"].(string)

	ch := chain{sub: subID}
	ch.nc, ch.db = connect(t, n.URL(), m.URI())

	// The browser, driven through a pipe (no debugging port).
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run starts the browser and lives as long as bctx: no
	// timeout on it, only on what follows.
	require.NoError(t, chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, log.Enable, cdp.Empty{})
		return err
	})))
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	// Page errors and CSP refusals fail the test; failed connections
	// while the edge restarts are expected and not collected.
	var mu sync.Mutex
	var problems []string
	console := chromedp.Console(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	defer func() { cancel(); <-watched }()

	fail := func(what string, err error) {
		t.Helper()
		dctx, dcancel := context.WithTimeout(bctx, 5*time.Second)
		defer dcancel()
		state, _ := chromedp.Run(dctx, chromedp.Text(chromedp.CSS("#state")))
		table, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.querySelector('#events tbody').innerText`))
		t.Fatalf("%s: %v\nstate: %s\nrows:\n%s", what, err, state, table)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail(what, err)
		}
	}
	wait := func(what, expr string) {
		t.Helper()
		run(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	}
	eval := func(what, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			fail(what, err)
		}
		return v
	}
	rows := func() []row {
		t.Helper()
		rs, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](rowsJS))
		if err != nil {
			fail("read rows", err)
		}
		return rs
	}
	cursors := func(rs []row) []string {
		var cs []string
		for _, r := range rs {
			cs = append(cs, r.Cursor)
		}
		return cs
	}
	const stateIs = `document.getElementById('state').dataset.state === `
	const rowCount = `document.querySelectorAll('#events tbody tr').length === `

	// Paste the key; the subscriptions list.
	run("open the page and use the key",
		chromedp.Navigate(ed.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#use-key")),
		chromedp.WaitVisible(chromedp.CSS(`#subs button[data-sub="`+subID+`"]`)),
	)
	href := eval("page URL", `location.href`)
	stored := eval("stored key", `sessionStorage.getItem('mongotron.key')`)
	require.NotContains(t, href, key, "the key must never be in the page URL")
	require.Equal(t, key, stored)

	// Create a subscription with the form: it joins the list and is watched.
	run("create a subscription",
		chromedp.Click(chromedp.CSS("#create-details summary")),
		chromedp.SendKeys(chromedp.CSS("#new-label"), "from the form"),
		chromedp.Click(chromedp.CSS(`#new-kinds input[value="trx_transfer"]`)),
		chromedp.SetValue(chromedp.CSS("#new-confirmations"), "0"),
		chromedp.Click(chromedp.CSS("#create")),
	)
	wait("the created subscription is listed and watched", `document.querySelectorAll('#subs li').length === 2 && `+
		`document.getElementById('watching').textContent !== '' && document.getElementById('watching').textContent !== '`+subID+`' && `+stateIs+`'live'`)
	created := eval("created id", `document.getElementById('watching').textContent`)
	status, got := ed.call(t, "GET", "/v1/subscriptions/"+created, key, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "from the form", got["label"])
	require.Equal(t, []any{"trx_transfer"}, got["kinds"])
	require.EqualValues(t, 0, got["confirmations"])

	// Pick the REST one and watch live events arrive, newest first.
	run("pick the subscription", chromedp.Click(chromedp.CSS(`#subs button[data-sub="`+subID+`"]`)))
	wait("the stream is live", stateIs+`'live' && document.getElementById('watching').textContent === '`+subID+`'`)
	evs := []testEvent{{step: 1, tx: txID(1)}, {step: 2, tx: txID(2), prev: 1}, {step: 3, tx: txID(3), prev: 2}, {step: 4, tx: txID(4), prev: 3}}
	ch.publish(t, evs[0])
	ch.publish(t, evs[1])
	wait("two rows", rowCount+`2`)
	rs := rows()
	require.Equal(t, []string{evs[1].cursor(), evs[0].cursor()}, cursors(rs))
	require.Equal(t, row{
		Cursor: evs[1].cursor(), ID: txID(2) + ":0", Kind: "trc20_transfer", Amount: "2.5 USDT",
		From: "TJRabP…jpRTv8", FromTitle: "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8",
		Tx: txID(2)[:6] + "…" + txID(2)[58:], Href: "https://tronscan.org/#/transaction/" + txID(2),
		Conf: "0", Class: "fresh", Decoration: "none",
	}, rs[0])

	// Restart the edge: the page shows it, resumes from its last cursor
	// (getting what was stored meanwhile), with no duplicate row.
	ed.stop(t)
	wait("reconnecting after the restart", stateIs+`'reconnecting'`)
	ch.store(t, evs[2])
	ed = startEdge(t, ed.cfg)
	wait("resumed with the missed event", stateIs+`'live' && `+rowCount+`3`)
	ch.publish(t, evs[3])
	wait("a live event after the resume", rowCount+`4`)
	require.Equal(t, []string{evs[3].cursor(), evs[2].cursor(), evs[1].cursor(), evs[0].cursor()}, cursors(rows()))
	require.Equal(t, "intact|chain intact", eval("chain state", chainJS), "every event named the one before it")

	// A retraction strikes its own row and the row it takes back.
	ch.publish(t, testEvent{step: 5, tx: txID(2), removed: true, prev: 4})
	wait("the retraction", rowCount+`5`)
	rs = rows()
	require.Equal(t, txID(2)+":0", rs[0].ID)
	require.Contains(t, rs[0].Class, "removed")
	require.Contains(t, rs[0].Kind, "removed")
	require.Equal(t, "line-through", rs[0].Decoration)
	require.Equal(t, evs[1].cursor(), rs[3].Cursor)
	require.Contains(t, rs[3].Class, "retracted")
	require.Equal(t, "line-through", rs[3].Decoration)
	for _, i := range []int{1, 2, 4} {
		require.Equal(t, "none", rs[i].Decoration, "row %d", i)
	}

	if out := os.Getenv("MONGOTRON_VIEWER_SCREENSHOT"); out != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, png, 0o600))
	}

	// A reload keeps the key and resumes the stream from its last cursor:
	// an event stored meanwhile is replayed, and nothing before it.
	ch.store(t, testEvent{step: 6, tx: txID(6), prev: 5})
	run("reload", chromedp.Reload())
	wait("resumed after the reload", stateIs+`'live' && document.getElementById('watching').textContent === '`+subID+`' && `+rowCount+`1`)
	require.Equal(t, []string{testEvent{step: 6}.cursor()}, cursors(rows()))

	// Spoofing flags and memos show at a glance on the row.
	ch.publish(t, testEvent{step: 7, tx: txID(7), flags: []string{"zero_amount", "lookalike"}, memo: "claim at http://x.example", prev: 6})
	wait("the flagged event", rowCount+`2`)
	rs = rows()
	require.Contains(t, rs[0].Kind, "zero amount")
	require.Contains(t, rs[0].Kind, "lookalike")
	require.Contains(t, rs[0].Kind, "memo")
	require.NotContains(t, rows()[1].Kind, "lookalike", "a clean event shows no flag")
	require.Equal(t, "intact|chain intact", eval("chain state", chainJS), "the resume after the reload linked to the last row")

	// An event naming a predecessor that was never stored: the viewer
	// holds it back and resumes to fetch what is missing, the edge's
	// history lacks it too, so the chain shows broken at that event,
	// which is shown all the same.
	lost := testEvent{step: 9, tx: txID(9), prev: 8}
	ch.publish(t, lost)
	wait("the broken chain", `document.getElementById('chain').dataset.chain === 'broken' && `+rowCount+`3`)
	require.Equal(t, "broken|broken at cursor "+lost.cursor(), eval("chain state", chainJS))
	require.Equal(t, lost.cursor(), rows()[0].Cursor)
	title := eval("chain title", `document.getElementById('chain').title`)
	require.Contains(t, title, "after cursor "+testEvent{step: 7}.cursor()+" up to "+testEvent{step: 8}.cursor())

	// Deleting the subscription ends the stream for good (4404).
	status, _ = ed.call(t, "DELETE", "/v1/subscriptions/"+subID, key, "")
	require.Equal(t, http.StatusNoContent, status)
	wait("closed as deleted", stateIs+`'closed' && document.getElementById('state').textContent.includes('subscription deleted')`)

	cancel()
	<-watched
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, problems)
}

func connect(t *testing.T, natsURL, mongoURI string) (*nats.Conn, *mongo.Database) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	name, err := store.DatabaseName(mongoURI)
	require.NoError(t, err)
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return nc, mc.Database(name)
}
