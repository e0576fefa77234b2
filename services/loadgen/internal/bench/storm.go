package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mongotron/mongotron/pkg/cursor"
	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

// The storm scenario: every client of an edge reconnects at once, each
// with the cursor of its subscription's head, as after an edge restart.
// Subscriptions are sparse (a few addresses each) and hold a few events
// each, stored and published as the ingest does, so every resume checks a
// real cursor. Once every stream is up, the edge is restarted (SIGTERM,
// then started again on the same address: the clients get 1012 and redial
// until it answers), and then, after the edge's stream-connect bucket has
// refilled, every client connection is cut at once and redialled. A
// client streams again when its hello arrives (load.ModeStorm).

// ScenarioStorm is the reconnect storm.
const ScenarioStorm = "storm"

// Values of Config.StormModes.
const (
	StormRestart = "restart"
	StormDrop    = "drop"
)

// Defaults of the storm's zero values: issue 13's reconnect storm.
const (
	DefaultStormClients       = 10_000
	DefaultStormSubscriptions = 1_000
	DefaultStormTimeout       = 3 * time.Minute
	// DefaultStormDropWait lets the edge's stream-connect bucket (200/s,
	// burst 10,000 by default) refill after the restart round, so the
	// drop round meets the bucket a fresh edge has.
	DefaultStormDropWait = 50 * time.Second
	// stormEvents are the events stored per subscription; the clients
	// resume after the last.
	stormEvents = 3
	// stormAddresses are the addresses each subscription watches.
	stormAddresses = 3
)

// TargetStormSeconds is issue 13's target: every client streams again
// within 10 s.
const TargetStormSeconds = 10

func (c Config) withStormDefaults() Config {
	if c.StormClients == 0 {
		c.StormClients = DefaultStormClients
	}
	if c.StormSubscriptions == 0 {
		c.StormSubscriptions = DefaultStormSubscriptions
	}
	if len(c.StormModes) == 0 {
		c.StormModes = []string{StormRestart, StormDrop}
	}
	if c.StormTimeout == 0 {
		c.StormTimeout = DefaultStormTimeout
	}
	if c.StormDropWait == 0 {
		c.StormDropWait = DefaultStormDropWait
	}
	return c
}

func (c Config) validateStorm() []error {
	var errs []error
	for _, m := range c.StormModes {
		if m != StormRestart && m != StormDrop {
			errs = append(errs, fmt.Errorf("bench: storm mode %q is not restart or drop", m))
		}
	}
	if c.StormClients < 0 || c.StormSubscriptions < 0 || c.StormTimeout < 0 || c.StormDropWait < 0 {
		errs = append(errs, errors.New("bench: storm sizes and durations must not be negative"))
	}
	return errs
}

// StormResult is the storm scenario's figures.
type StormResult struct {
	Clients       int `json:"clients"`
	Subscriptions int `json:"subscriptions"`
	// Connected is how many streams were up before the first storm.
	Connected int `json:"connected"`
	// Limited says Clients was lowered to fit the open-files limit.
	Limited bool                `json:"limited,omitempty"`
	Rounds  []*StormRoundResult `json:"rounds"`
}

// StormRoundResult is one storm's figures.
type StormRoundResult struct {
	// Mode is restart or drop.
	Mode string `json:"mode"`
	// Streams is how many streams were waited for; Streaming how many
	// the edge held at the end.
	Streams   int  `json:"streams"`
	Streaming int  `json:"streaming"`
	Complete  bool `json:"complete"`
	// Seconds is from the start (restart: the new edge answering
	// /readyz; drop: the cut) until every stream had its hello again.
	Seconds float64 `json:"all_streaming_seconds"`
	// FromExecSeconds is, for a restart, from the new edge process's
	// start; DownSeconds from the SIGTERM of the old one to the new one
	// answering /readyz.
	FromExecSeconds float64 `json:"from_exec_seconds,omitempty"`
	DownSeconds     float64 `json:"down_seconds,omitempty"`
	// AcceptRate is Redials over the time from the first accepted redial
	// to the last hello.
	AcceptRate float64 `json:"accepted_per_s"`
	Redials    int     `json:"redials"`
	// Failures are failed redial attempts by class (refused: the edge
	// was not listening).
	Failures map[string]int `json:"failures,omitempty"`
	// Closes are why the streams ended (1012: the edge's restart,
	// client_drop: the cut).
	Closes map[string]int `json:"closes,omitempty"`
	// EdgeCPU is the edge's CPU over Seconds, in cores; EdgeRSS its RSS
	// at the end.
	EdgeCPU float64 `json:"edge_cpu_cores"`
	EdgeRSS int64   `json:"edge_rss_bytes"`
	// MachineCPU is the whole machine's busy cores over the round:
	// beside EdgeCPU, what else (loadgen, FerretDB, other work) ran.
	MachineCPU float64 `json:"machine_cpu_cores"`
	// Lookups is how the edge answered the subscription checks of stream
	// connects in the round, by source (cache, store).
	Lookups map[string]float64 `json:"subscription_lookups,omitempty"`
}

// mergeRounds folds the loadgen processes' lines of one round into r:
// the round starts at start (zero: the earliest process's start) and ends
// at the latest hello.
func mergeRounds(r *StormRoundResult, rounds []load.StormRound, start time.Time) {
	r.Failures, r.Closes = map[string]int{}, map[string]int{}
	var first, last int64
	complete := len(rounds) > 0
	for _, x := range rounds {
		r.Streams += x.Streams
		r.Redials += x.Redials
		for k, v := range x.Failures {
			r.Failures[k] += v
		}
		for k, v := range x.Closes {
			r.Closes[k] += v
		}
		if x.AllNs == 0 {
			complete = false
		}
		last = max(last, x.AllNs)
		if x.FirstNs > 0 && (first == 0 || x.FirstNs < first) {
			first = x.FirstNs
		}
	}
	if start.IsZero() {
		for _, x := range rounds {
			if x.StartNs > 0 && (start.IsZero() || x.StartNs < start.UnixNano()) {
				start = time.Unix(0, x.StartNs)
			}
		}
	}
	r.Complete = complete
	if !complete {
		return
	}
	r.Seconds = time.Duration(last - start.UnixNano()).Seconds()
	if first > 0 && last > first {
		r.AcceptRate = float64(r.Redials) / time.Duration(last-first).Seconds()
	}
}

func (r *Runner) storm(ctx context.Context) (*StormResult, error) {
	clients := r.cfg.StormClients
	res := &StormResult{}
	if maxEdge := int(r.nofile) - edgeOwnFiles; clients > maxEdge {
		r.logf("storm: %d clients lowered to %d: the open-files hard limit is %d", clients, maxEdge, r.nofile)
		clients, res.Limited = maxEdge, true
	}
	res.Clients = clients
	e, key, err := r.startEdge(ctx, r.cfg.EdgeBin)
	if err != nil {
		return nil, err
	}
	defer func() { // e is the running edge, restarted or not
		if e != nil {
			e.stop()
		}
	}()
	subs, err := e.createSubscriptions(ctx, key, min(r.cfg.StormSubscriptions, clients), stormAddresses)
	if err != nil {
		return nil, err
	}
	res.Subscriptions = len(subs)
	r.logf("storm: %d subscriptions created; storing %d events each", len(subs), stormEvents)
	start := time.Now()
	if _, err := r.storeEvents(ctx, subs, stormEvents, true); err != nil {
		return nil, err
	}
	head := cursor.Cursor{Step: 1, Pos: stormEvents - 1}.String()
	// An edge that has served these clients a while knows their
	// subscriptions (and one that starts loads them all at once); this
	// one has just made them and knows none, so the first connects
	// would each read MongoDB (FerretDB here serves those at a few a
	// second on a busy machine). A restart puts it where a long-running
	// edge is before the streams open; the first connect is not what is
	// measured.
	r.logf("storm: restarting the edge before the streams open")
	e.stop()
	next, err := r.restartEdge(ctx, e.addr)
	if err != nil {
		e = nil
		return nil, err
	}
	e = next
	r.logf("storm: %d subscriptions with %d events each stored in %.1fs; opening %d streams after %s", len(subs), stormEvents, time.Since(start).Seconds(), clients, head)
	procs, _, err := r.startLoadgens(ctx, e, key, subs, load.ModeStorm, clients, "-after", head)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()
	first, err := r.waitStormRound(ctx, procs, r.cfg.StormTimeout)
	if err != nil {
		return nil, err
	}
	for _, x := range first {
		if x.AllNs == 0 {
			return nil, errors.New("bench: storm: the streams did not all have their hello")
		}
		res.Connected += x.Streams
	}
	r.logf("storm: %d streams streaming", res.Connected)
	for i, mode := range r.cfg.StormModes {
		rr := &StormRoundResult{Mode: mode}
		if mode == StormDrop && i > 0 {
			r.logf("storm: waiting %s for the edge's stream-connect bucket to refill", r.cfg.StormDropWait)
			select {
			case <-time.After(r.cfg.StormDropWait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		// A stream the edge dropped meanwhile (a missed pong) made a
		// round of its own: not this one.
		for _, p := range procs {
			drainStorm(p.storm)
		}
		lookupsBefore, err := e.lookups(ctx)
		if err != nil {
			return nil, err
		}
		var begin time.Time
		var before ProcSample
		switch mode {
		case StormRestart:
			r.logf("storm: restarting the edge")
			down := time.Now()
			e.stop()
			next, err := r.restartEdge(ctx, e.addr)
			if err != nil {
				e = nil
				return nil, err
			}
			e = next
			begin = e.readyAt
			rr.DownSeconds = e.readyAt.Sub(down).Seconds()
			lookupsBefore = nil // a new process counts from zero
		case StormDrop:
			r.logf("storm: cutting every client connection")
			begin = time.Now()
		}
		if before, err = SampleProc(e.pid()); err != nil {
			return nil, err
		}
		sysBefore, err := SampleSystem()
		if err != nil {
			return nil, err
		}
		beginCPU := time.Now()
		if mode == StormDrop {
			for _, p := range procs {
				_ = p.cmd.Process.Signal(syscall.SIGUSR1)
			}
		}
		rounds, err := r.waitStormRound(ctx, procs, r.cfg.StormTimeout)
		if err != nil {
			return nil, err
		}
		after, err := SampleProc(e.pid())
		if err != nil {
			return nil, err
		}
		sysAfter, err := SampleSystem()
		if err != nil {
			return nil, err
		}
		if mode == StormDrop {
			begin = time.Time{} // the processes' own cut times
		}
		mergeRounds(rr, rounds, begin)
		if mode == StormRestart && rr.Complete {
			rr.FromExecSeconds = rr.Seconds + e.readyAt.Sub(e.startedAt).Seconds()
		}
		wall := time.Since(beginCPU).Seconds()
		rr.EdgeCPU = (after.CPU - before.CPU).Seconds() / wall
		rr.MachineCPU = (sysAfter.Busy - sysBefore.Busy).Seconds() / wall
		rr.EdgeRSS = after.RSS
		m, err := e.metrics(ctx, "mongotron_edge_stream_connections")
		if err != nil {
			return nil, err
		}
		rr.Streaming = int(m["mongotron_edge_stream_connections"])
		lookupsAfter, err := e.lookups(ctx)
		if err != nil {
			return nil, err
		}
		rr.Lookups = map[string]float64{}
		for k, v := range lookupsAfter {
			rr.Lookups[k] = v - lookupsBefore[k]
		}
		r.logf("storm: %s: %d/%d streaming, complete %v, %.2fs, %.0f accepted/s", mode, rr.Streaming, rr.Streams, rr.Complete, rr.Seconds, rr.AcceptRate)
		res.Rounds = append(res.Rounds, rr)
		if !rr.Complete {
			break // the clients are still redialling: a next round would mix with this one
		}
	}
	if _, err := finishAll(ctx, procs, true); err != nil {
		return res, err
	}
	return res, nil
}

// drainStorm discards the round lines already received.
func drainStorm(ch <-chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// restartEdge starts the edge again on addr.
func (r *Runner) restartEdge(ctx context.Context, addr string) (*edgeProc, error) {
	env := append(os.Environ(), r.cfg.EdgeEnv...)
	return startEdge(ctx, r.cfg.EdgeBin, addr, r.dbURI, r.natsSrv.URL(), adminKey, env, r.cfg.Log)
}

// waitStormRound returns each process's next completed round, or, after
// timeout, the round in progress as its summary line… which loadgen only
// prints at the end: a round that times out is returned incomplete
// (AllNs zero) with no other figure.
func (r *Runner) waitStormRound(ctx context.Context, procs []*loadgenProc, timeout time.Duration) ([]load.StormRound, error) {
	out := make([]load.StormRound, len(procs))
	deadline := time.After(timeout)
	for i, p := range procs {
		select {
		case line := <-p.storm:
			if err := json.Unmarshal([]byte(line), &out[i]); err != nil {
				return nil, fmt.Errorf("bench: storm line %q: %w", line, err)
			}
		case <-p.done:
			return nil, fmt.Errorf("bench: loadgen exited during the storm: %w", exitError(p.err))
		case <-deadline:
			r.logf("storm: not every stream streams again after %s", timeout)
			return out, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// lookups reads the edge's stream subscription lookups by source.
func (e *edgeProc) lookups(ctx context.Context) (map[string]float64, error) {
	sources := []string{"cache", "store"}
	series := func(src string) string {
		return `mongotron_edge_stream_subscription_lookups_total{source="` + src + `"}`
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = series(s)
	}
	m, err := e.metrics(ctx, names...)
	if err != nil && !errors.Is(err, errNoMetric) {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range sources {
		out[s] = m[series(s)]
	}
	return out, nil
}

// stormRows are the storm's lines of [WriteTable].
func stormRows(s *StormResult) []string {
	note := ""
	if s.Limited {
		note = " (open-files limit)"
	}
	rows := []string{fmt.Sprintf("storm\tclients up / subscriptions\t%d / %d%s\t%d / %d\t", s.Connected, s.Subscriptions, note, s.Clients, s.Subscriptions)}
	for _, r := range s.Rounds {
		p := "storm " + r.Mode
		all := "not reached"
		if r.Complete {
			all = strconv.FormatFloat(r.Seconds, 'f', 2, 64) + " s"
			if r.Mode == StormRestart {
				all += fmt.Sprintf(" (%.2f s from exec; edge down %.2f s)", r.FromExecSeconds, r.DownSeconds)
			}
		}
		rows = append(rows,
			fmt.Sprintf("%s\tall streaming again\t%s\t≤ %d s %s\t", p, all, TargetStormSeconds, verdict(r.Complete && r.Seconds <= TargetStormSeconds)),
			fmt.Sprintf("%s\tstreams streaming / waited for\t%d / %d\t\t", p, r.Streaming, r.Streams),
			fmt.Sprintf("%s\taccepted conns/s (redials)\t%.0f (%d)\t\t", p, r.AcceptRate, r.Redials),
			fmt.Sprintf("%s\tfailed redial attempts\t%s\t\t", p, closes(r.Failures)),
			fmt.Sprintf("%s\tstreams ended by\t%s\t\t", p, closes(r.Closes)),
			fmt.Sprintf("%s\tsubscription lookups\t%s\t\t", p, lookupsText(r.Lookups)),
			fmt.Sprintf("%s\tedge CPU / machine CPU / edge RSS at the end\t%.2f / %.2f cores / %.1f MiB\t\t", p, r.EdgeCPU, r.MachineCPU, float64(r.EdgeRSS)/(1<<20)),
		)
	}
	return rows
}

func lookupsText(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%.0f", k, m[k]))
	}
	return strings.Join(parts, " ")
}
