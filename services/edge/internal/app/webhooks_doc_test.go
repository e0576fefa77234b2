package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/store"
	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/pkg/tron"
	"github.com/mongotron/mongotron/services/edge/internal/app"
)

// repoRoot is the repository, seen from this package's directory.
var repoRoot = filepath.Join("..", "..", "..", "..")

// TestWebhooksDoc_ReceiverAcceptsWhatTheEdgeSends builds the receiver
// program of docs/webhooks.md and runs it behind a real edge (embedded
// NATS and FerretDB), with events stored and published as the ingest does:
// what the edge signs must verify, events must be applied in order, a
// retraction must undo its event, a delivery the receiver never got must
// be read from history before the next one, a repeat must change nothing,
// and a changed body must be refused. So the page's code cannot stop
// compiling, or stop accepting what the server sends, unnoticed.
func TestWebhooksDoc_ReceiverAcceptsWhatTheEdgeSends(t *testing.T) {
	t.Parallel()
	const secret = "whsec_docs-test-0123456789abcdef"
	bin := buildDocReceiver(t)

	n := testenv.RunNATS(t)
	js := eventsStream(t, n.URL())
	mongoURI := testenv.RunMongo(t).URI()

	cfg, err := load(t, []string{
		"--nats.url=" + n.URL(), "--mongo.uri=" + mongoURI, "--shutdown-timeout=5s",
		"--http.addr=127.0.0.1:0", "--admin-key=" + testAdminKey,
		"--webhook.allow-http-hosts=127.0.0.1", "--webhook.allow-private=127.0.0.1/32",
	}, nil)
	require.NoError(t, err)
	a, err := app.New(t.Context(), cfg, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	c := client{t: t, base: "http://" + a.Addr().String(), hc: hc}

	status, k := c.call("POST", "/v1/keys", testAdminKey, `{"tenant":"acme"}`)
	require.Equal(t, http.StatusCreated, status)
	key := k["key"].(string)
	recv := startDocReceiver(t, bin, "WEBHOOK_SECRET="+secret, "MONGOTRON_URL="+c.base, "MONGOTRON_API_KEY="+key)
	rec := newRecorder(t, recv.url)
	status, sub := c.call("POST", "/v1/subscriptions", key,
		fmt.Sprintf(`{"kinds":["trc20_transfer"],"webhook":{"url":%q,"secret":%q}}`, rec.url+"/hook", secret))
	require.Equal(t, http.StatusCreated, status, "%v", sub)
	ing := newDocIngest(t, js, mongoURI, sub["id"].(string))

	// Two events, then a retraction of the first: both applied, in order,
	// then the first undone.
	e1 := ing.publish(1, false)
	e2 := ing.publish(2, false)
	recv.waitFor(t, "applied: event "+e1.ID+" ")
	recv.waitFor(t, "applied: event "+e2.ID+" ")
	ing.publishEvent(e1, true)
	recv.waitFor(t, "undone: event "+e1.ID+" ")
	require.Less(t, recv.index("applied: event "+e1.ID+" "), recv.index("applied: event "+e2.ID+" "))

	var got []recorded
	require.Eventually(t, func() bool { got = rec.requests(); return len(got) == 3 }, 5*time.Second, 10*time.Millisecond,
		"one POST per event")
	for _, r := range got {
		require.Equal(t, http.StatusNoContent, r.status, "the receiver accepts what the edge signs: %s", r.body)
	}
	require.Empty(t, got[0].header.Get(bus.PrevCursorHeader), "the subscription's first event has no predecessor")
	require.Equal(t, e1.Cursor, got[1].header.Get(bus.PrevCursorHeader))

	// A delivery the receiver never gets (its endpoint answered 2xx, then
	// lost it): the next one shows the gap, and the receiver reads the
	// lost event from history and applies it first.
	rec.loseNext()
	e4 := ing.publish(4, false)
	require.Eventually(t, func() bool { return len(rec.requests()) == 4 }, 15*time.Second, 10*time.Millisecond)
	e5 := ing.publish(5, false)
	recv.waitFor(t, "applied: event "+e5.ID+" ")
	recv.waitFor(t, "gap: ")
	require.Equal(t, 1, recv.count("applied: event "+e4.ID+" "))
	require.Less(t, recv.index("applied: event "+e4.ID+" "), recv.index("applied: event "+e5.ID+" "))
	require.Contains(t, recv.line("applied: event "+e4.ID+" "), "from history")

	// The same delivery again, as after a lost answer: accepted, and
	// nothing applied twice.
	require.Equal(t, http.StatusNoContent, recv.post(t, got[1].header, got[1].body))
	recv.waitFor(t, "repeat: event "+e2.ID+" ")
	require.Equal(t, 1, recv.count("applied: event "+e2.ID+" "))

	// A body changed in transit: refused, nothing applied.
	tampered := bytes.Replace(got[1].body, []byte(`"amount":"2000000"`), []byte(`"amount":"9000000"`), 1)
	require.NotEqual(t, got[1].body, tampered)
	require.Equal(t, http.StatusUnauthorized, recv.post(t, got[1].header, tampered))
	recv.waitFor(t, "refused: ")
	require.Equal(t, 1, recv.count("applied: event "+e2.ID+" "))
}

// docIngest stores and publishes one subscription's events as the ingest
// does: the document built by store.NewEventDoc, stored before its JSON is
// published, each event linked to the one before.
type docIngest struct {
	t    *testing.T
	js   jetstream.JetStream
	db   *mongo.Database
	sub  string
	step uint64
	prev string
}

func newDocIngest(t *testing.T, js jetstream.JetStream, mongoURI, subID string) *docIngest {
	t.Helper()
	name, err := store.DatabaseName(mongoURI)
	require.NoError(t, err)
	mc, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return &docIngest{t: t, js: js, db: mc.Database(name), sub: subID}
}

// publish publishes the transfer of i million base units in transaction
// i.
func (ing *docIngest) publish(i int, removed bool) event.Event {
	ing.t.Helper()
	from, err := tron.ParseAddress("TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW")
	require.NoError(ing.t, err)
	usdt, err := tron.ParseAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
	require.NoError(ing.t, err)
	amount, err := tron.ParseAmount(fmt.Sprintf("%d000000", i))
	require.NoError(ing.t, err)
	txID := fmt.Sprintf("%064x", i)
	ev := event.Event{
		ID: txID + ":0", Kind: event.KindTRC20Transfer, Network: "mainnet",
		Block: event.BlockRef{Number: int64(60_000_000 + i), ID: fmt.Sprintf("%064x", 60_000_000+i), Timestamp: time.Now().UTC().Truncate(time.Second)},
		TxID:  txID, Success: true, Confirmations: 19, From: from, To: usdt, Contract: usdt, Amount: amount,
		Flags: []event.Flag{},
	}
	return ing.publishEvent(ev, removed)
}

// publishEvent delivers ev (again, as a retraction when removed) at the
// subscription's next cursor.
func (ing *docIngest) publishEvent(ev event.Event, removed bool) event.Event {
	ing.t.Helper()
	ing.step++
	ev.SubscriptionID, ev.Removed = ing.sub, removed
	ev.Cursor, ev.PrevCursor = cursor.Cursor{Step: ing.step}.String(), ing.prev
	doc, err := store.NewEventDoc(&ev, time.Now().UTC())
	require.NoError(ing.t, err)
	require.NoError(ing.t, store.AppendEvents(ing.t.Context(), ing.db, doc))
	m := &nats.Msg{Subject: bus.EventsSubject(ing.sub), Data: doc.JSON, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, doc.ID)
	if ing.prev != "" {
		m.Header.Set(bus.PrevCursorHeader, ing.prev)
	}
	_, err = ing.js.PublishMsg(ing.t.Context(), m)
	require.NoError(ing.t, err)
	ing.prev = ev.Cursor
	return ev
}

// goBlock matches a fenced Go code block of a Markdown page.
var goBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```$")

// buildDocReceiver copies the one `package main` Go block of
// docs/webhooks.md into a module of its own, which requires this
// repository's pkg module as a reader's would, builds it and returns the
// binary.
func buildDocReceiver(t *testing.T) string {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(repoRoot, "docs", "webhooks.md"))
	require.NoError(t, err)
	var src []string
	for _, m := range goBlock.FindAllStringSubmatch(string(page), -1) {
		if regexp.MustCompile(`(?m)^package main$`).MatchString(m[1]) {
			src = append(src, m[1])
		}
	}
	require.Len(t, src, 1, "docs/webhooks.md must hold exactly one ```go block of package main: the receiver")

	pkgDir, err := filepath.Abs(filepath.Join(repoRoot, "pkg"))
	require.NoError(t, err)
	pkgMod, err := os.ReadFile(filepath.Join(pkgDir, "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(pkgMod)
	require.NotNil(t, goLine, "pkg/go.mod has a go line")
	sum, err := os.ReadFile(filepath.Join(pkgDir, "go.sum"))
	require.NoError(t, err)

	dir := t.TempDir()
	mod := fmt.Sprintf("module example.com/receiver\n\n%s\n\nrequire github.com/mongotron/mongotron/pkg v0.0.0\n\nreplace github.com/mongotron/mongotron/pkg => %s\n", goLine, pkgDir)
	for name, data := range map[string][]byte{"main.go": []byte(src[0]), "go.mod": []byte(mod), "go.sum": sum} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	bin := filepath.Join(dir, "receiver")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	build.Dir = dir
	// Outside the workspace, offline: everything comes from pkg's go.sum
	// and the module cache the workspace's own build filled.
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "the receiver of docs/webhooks.md does not build:\n%s", out)
	return bin
}

// docReceiver is the running receiver program and what it logged.
type docReceiver struct {
	url string
	hc  *http.Client

	mu    sync.Mutex
	lines []string
}

// startDocReceiver runs bin with the environment env on a free loopback
// port until the test ends.
func startDocReceiver(t *testing.T, bin string, env ...string) *docReceiver {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(env, "LISTEN_ADDR=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := &docReceiver{hc: &http.Client{Timeout: 5 * time.Second}}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		r.hc.CloseIdleConnections()
		_ = cmd.Process.Signal(os.Interrupt)
		<-read
		_ = cmd.Wait()
	})
	listening := regexp.MustCompile(`listening on (http://\S+)/hook`)
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, l := range r.lines {
			if m := listening.FindStringSubmatch(l); m != nil {
				r.url = m[1]
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the receiver never said where it listens")
	return r
}

// count returns how many lines the receiver logged containing s.
func (r *docReceiver) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// index returns the position of the first line the receiver logged
// containing s, or -1.
func (r *docReceiver) index(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, l := range r.lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// line returns the first line the receiver logged containing s.
func (r *docReceiver) line(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// waitFor waits until the receiver logs a line containing s.
func (r *docReceiver) waitFor(t *testing.T, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return r.count(s) > 0 }, 15*time.Second, 10*time.Millisecond,
		"the receiver never logged %q; it logged:\n%s", s, r.log())
}

func (r *docReceiver) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// post sends a webhook request with header and body to the receiver and
// returns its status.
func (r *docReceiver) post(t *testing.T, header http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url+"/hook", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header.Clone()
	resp, err := r.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// recorder stands between the edge and the receiver and keeps each
// request the edge sent, with the receiver's answer.
type recorder struct {
	url string

	mu   sync.Mutex
	got  []recorded
	lose bool // answer the next request 204 without passing it on
}

type recorded struct {
	header http.Header
	body   []byte
	status int
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	rec := &recorder{}
	fwd := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(fwd.CloseIdleConnections)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		lose := rec.lose
		rec.lose = false
		if lose {
			rec.got = append(rec.got, recorded{header: r.Header.Clone(), body: body, status: http.StatusNoContent})
		}
		rec.mu.Unlock()
		if lose {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := fwd.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, recorded{header: r.Header.Clone(), body: body, status: resp.StatusCode})
		rec.mu.Unlock()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL
	return rec
}

// loseNext makes the recorder answer the next request 204 without passing
// it on: a receiver that acknowledged a delivery, then lost it.
func (rec *recorder) loseNext() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.lose = true
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.got...)
}
