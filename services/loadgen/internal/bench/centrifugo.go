package bench

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mongotron/mongotron/pkg/bus"
	"github.com/mongotron/mongotron/services/loadgen/internal/load"
)

// Kinds of peer ([Peer.Kind]).
const (
	// PeerEdgeLike is a server that takes the edge's flags and answers
	// its REST calls, stream route and metric names (cmd/relay).
	PeerEdgeLike = "edge"
	// PeerCentrifugo is a Centrifugo (v6) binary: the harness writes its
	// configuration, mints the clients' connection JWT, and loadgen
	// speaks Centrifugo's JSON protocol to it. Its NATS broker runs in
	// raw mode on the harness's NATS, so the events published for the
	// edge reach channel X from subject mongotron.events.X unchanged.
	PeerCentrifugo = "centrifugo"
)

// kind returns the peer's kind: Kind, or for an empty Kind
// [PeerCentrifugo] when the name starts with "centrifugo" and
// [PeerEdgeLike] otherwise.
func (p Peer) kind() string {
	switch {
	case p.Kind != "":
		return p.Kind
	case strings.HasPrefix(strings.ToLower(p.Name), PeerCentrifugo):
		return PeerCentrifugo
	}
	return PeerEdgeLike
}

// validatePeers reports peers of an unknown kind.
func validatePeers(peers []Peer) error {
	var errs []error
	for _, p := range peers {
		if k := p.kind(); k != PeerEdgeLike && k != PeerCentrifugo {
			errs = append(errs, fmt.Errorf("bench: peer %s: kind %q is not edge or centrifugo", p.Name, k))
		}
	}
	return errors.Join(errs...)
}

// peerOf returns the server whose binary is bin: the scenarios start a
// server by its binary.
func (r *Runner) peerOf(bin string) Peer {
	for _, p := range r.cfg.Peers {
		if p.Bin == bin {
			return p
		}
	}
	return Peer{Name: "edge", Bin: bin}
}

// centrifugoProc is what differs when an edgeProc is Centrifugo.
type centrifugoProc struct {
	// token is the clients' connection JWT.
	token string
}

// centrifugoUser is the user every client connects as: one user with
// many connections is what a tenant's many streams are.
const centrifugoUser = "edgebench"

// centrifugoMetrics maps the edge's metric names the scenarios read to
// Centrifugo's, each summed over its labels; the Go runtime's names are
// the same in both.
var centrifugoMetrics = map[string]string{
	// One subscription per connection: connections are streams. The
	// live gauge, not centrifugo_node_num_clients, which is refreshed
	// every 10 s.
	"mongotron_edge_stream_connections": "centrifugo_client_connections_inflight",
	// Every frame type (push, reply, ping), as the edge's counter
	// includes its heartbeats.
	"mongotron_edge_stream_messages_sent_total": "centrifugo_transport_messages_sent",
}

// metricName returns the series name a server exports for the edge's
// metric name.
func (e *edgeProc) metricName(name string) string {
	if e.centrifugo != nil {
		if n, ok := centrifugoMetrics[name]; ok {
			return n
		}
	}
	return name
}

// centrifugoSettings are the values of a generated Centrifugo config.
type centrifugoSettings struct {
	// Addr is the loopback host:port it serves on.
	Addr string
	// NATSURL is the harness's NATS.
	NATSURL string
	// Secret is the HMAC key of the connection JWTs.
	Secret string
}

// centrifugoConfig returns a Centrifugo v6 JSON config: HTTP on Addr with
// /health and /metrics, connection JWTs signed with Secret, clients
// allowed to subscribe to any channel without a namespace, and a NATS
// broker in raw mode under [bus.EventsPrefix], so that the payload
// published on mongotron.events.X reaches channel X's subscribers as the
// publication's data. Everything else stays at Centrifugo's defaults.
func centrifugoConfig(s centrifugoSettings) ([]byte, error) {
	host, portStr, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, fmt.Errorf("bench: centrifugo address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bench: centrifugo port: %w", err)
	}
	type obj = map[string]any
	cfg := obj{
		"http_server": obj{"address": host, "port": port},
		"log":         obj{"level": "warn"},
		"client": obj{
			"token": obj{"hmac_secret_key": s.Secret},
		},
		"channel": obj{
			"without_namespace": obj{"allow_subscribe_for_client": true},
		},
		"broker": obj{
			"enabled": true,
			"type":    "nats",
			"nats": obj{
				"url":      s.NATSURL,
				"raw_mode": obj{"enabled": true, "prefix": bus.EventsPrefix},
			},
		},
		"prometheus":  obj{"enabled": true},
		"health":      obj{"enabled": true},
		"usage_stats": obj{"disabled": true},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: centrifugo config: %w", err)
	}
	return b, nil
}

// connectionToken returns an HS256 JWT for user signed with secret,
// expiring at exp: Centrifugo's connection token.
func connectionToken(secret, user string, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}{user, exp.Unix()})
	signing := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// centrifugoChannels returns n channel names, unique to this call so that
// two runs on one NATS never share a subject.
func centrifugoChannels(n int) []string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	run := hex.EncodeToString(b)
	out := make([]string, n)
	for i := range out {
		out[i] = "edgebench_" + run + "_" + strconv.Itoa(i)
	}
	return out
}

// startCentrifugo writes a config into a temporary directory, starts bin
// with it and waits until /health answers. The config is removed once the
// server is up: Centrifugo reads it only at start.
func startCentrifugo(ctx context.Context, bin, natsURL string, env []string, log io.Writer) (*edgeProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := centrifugoSettings{Addr: addr, NATSURL: natsURL, Secret: hex.EncodeToString(secret)}
	conf, err := centrifugoConfig(s)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "edgebench-centrifugo-*")
	if err != nil {
		return nil, fmt.Errorf("bench: centrifugo config: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		return nil, fmt.Errorf("bench: centrifugo config: %w", err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Env = env
	e, err := startServer(ctx, cmd, "http://"+addr, "/health", "centrifugo", log)
	if err != nil {
		return nil, err
	}
	e.centrifugo = &centrifugoProc{token: connectionToken(s.Secret, centrifugoUser, time.Now().Add(24*time.Hour))}
	return e, nil
}

// loadgenArgs are the loadgen flags the server's protocol needs.
func (e *edgeProc) loadgenArgs() []string {
	if e.centrifugo != nil {
		return []string{"-protocol", string(load.ProtocolCentrifugo)}
	}
	return nil
}

// startCentrifugo is [Runner.startEdge] for a Centrifugo peer: the key it
// returns is the clients' connection JWT.
func (r *Runner) startCentrifugo(ctx context.Context, bin string, env []string) (*edgeProc, string, error) {
	e, err := startCentrifugo(ctx, bin, r.natsSrv.URL(), env, r.cfg.Log)
	if err != nil {
		return nil, "", err
	}
	return e, e.centrifugo.token, nil
}
