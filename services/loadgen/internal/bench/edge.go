package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mongotron/mongotron/pkg/tron"
)

// edgeProc is an edge running as a child process.
type edgeProc struct {
	cmd  *exec.Cmd
	addr string
	url  string
	http *http.Client
	// startedAt is when the process was started, readyAt when /readyz
	// first answered 200.
	startedAt, readyAt time.Time
	done               chan struct{} // closed when the process has exited
	err                error         // its exit status, once done
	// logTail keeps the edge's last log lines for error reports.
	mu      sync.Mutex
	logTail []string
	// centrifugo is set when the process is Centrifugo, which has no REST
	// calls and names its metrics otherwise (centrifugo.go).
	centrifugo *centrifugoProc
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// startEdge starts bin listening on addr (empty: a free port), waits
// until /readyz answers 200 and returns it.
func startEdge(ctx context.Context, bin, addr, mongoURI, natsURL, adminKey string, env []string, log io.Writer) (*edgeProc, error) {
	if addr == "" {
		var err error
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin,
		"--mongo.uri", mongoURI,
		"--nats.url", natsURL,
		"--http.addr", addr,
		"--admin-key", adminKey,
		// One tenant key opens every stream: the per-key limit would
		// throttle the connect phase, which is not what is measured.
		"--api.rate-limit", "-1",
		"--log.level", "warn",
		"--log.format", "text",
	)
	cmd.Env = env
	startedAt := time.Now()
	e, err := startServer(ctx, cmd, "http://"+addr, "/readyz", "edge", log)
	if err != nil {
		return nil, err
	}
	e.addr, e.startedAt, e.readyAt = addr, startedAt, time.Now()
	return e, nil
}

func (e *edgeProc) tail() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.logTail, " | ")
}

func (e *edgeProc) pid() int { return e.cmd.Process.Pid }

// stop asks the edge to shut down (SIGTERM) and kills it after 20 s.
func (e *edgeProc) stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// do sends a JSON request with key and decodes a 2xx reply into out.
func (e *edgeProc) do(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("bench: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench: %s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("bench: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// createKey makes a tenant API key with the admin key.
func (e *edgeProc) createKey(ctx context.Context, adminKey, tenant string) (string, error) {
	if e.centrifugo != nil {
		return e.centrifugo.token, nil
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := e.do(ctx, http.MethodPost, "/v1/keys", adminKey, map[string]string{"tenant": tenant}, &k); err != nil {
		return "", err
	}
	return k.Key, nil
}

// createSubscriptions makes n subscriptions at head confirmation, each
// watching addrs addresses of its own (none: the subscription watches
// every address).
func (e *edgeProc) createSubscriptions(ctx context.Context, key string, n, addrs int) ([]string, error) {
	if e.centrifugo != nil {
		return centrifugoChannels(n), nil
	}
	// A few at a time: each create is several MongoDB writes, and the
	// storm makes a thousand.
	const workers = 8
	ids := make([]string, n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n && errs[w] == nil; i += workers {
				var s struct {
					ID string `json:"id"`
				}
				body := map[string]any{
					"label":         "edgebench " + strconv.Itoa(i),
					"kinds":         []string{"trc20_transfer"},
					"confirmations": 0,
				}
				if addrs > 0 {
					body["addresses"] = watchedAddresses(i, addrs)
				}
				errs[w] = e.do(ctx, http.MethodPost, "/v1/subscriptions", key, body, &s)
				ids[i] = s.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ids, nil
}

// watchedAddresses returns n addresses of subscription i, none shared with
// another subscription.
func watchedAddresses(i, n int) []string {
	out := make([]string, n)
	for j := range n {
		a := tron.Address{0x41, 0xbe, 0x9c}
		binary.BigEndian.PutUint32(a[13:], uint32(i))
		binary.BigEndian.PutUint32(a[17:], uint32(j))
		out[j] = a.String()
	}
	return out
}

// metrics reads the named samples from /metrics: a name with labels is
// that one series, a name without is the sum of its series.
func (e *edgeProc) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: metrics: HTTP %d", resp.StatusCode)
	}
	// want maps each series to read to the name asked for: a peer may
	// export a figure under another name (metricName), with labels to
	// sum over.
	want := make(map[string]string, len(names))
	for _, n := range names {
		want[e.metricName(n)] = n
	}
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		series, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		name, found := want[series]
		if !found {
			base, _, labelled := strings.Cut(series, "{")
			if name, found = want[base]; !found || !labelled {
				continue
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			out[name] += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return out, fmt.Errorf("%w %s", errNoMetric, n)
		}
	}
	return out, nil
}

// messagesSent reads the edge's count of frames written to streams.
// errNoMetric says the edge does not export a series (yet).
var errNoMetric = errors.New("bench: metrics: no")

// replaySource returns the sources the edge's replays came from, by
// mongotron_edge_stream_replays_total, joined with "+".
func (e *edgeProc) replaySource(ctx context.Context) (string, error) {
	sources := []string{"jetstream", "mongodb", "jetstream_then_mongodb"}
	series := func(src string) string { return `mongotron_edge_stream_replays_total{source="` + src + `"}` }
	names := make([]string, len(sources))
	for i, src := range sources {
		names[i] = series(src)
	}
	m, err := e.metrics(ctx, names...)
	if err != nil && !errors.Is(err, errNoMetric) {
		return "", err
	}
	var served []string
	for _, src := range sources {
		if m[series(src)] > 0 {
			served = append(served, src)
		}
	}
	return strings.Join(served, "+"), nil
}

func (e *edgeProc) messagesSent(ctx context.Context) (float64, error) {
	const name = "mongotron_edge_stream_messages_sent_total"
	m, err := e.metrics(ctx, name)
	return m[name], err
}
