package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

const (
	// clusterName names every test cluster; clusters on one machine stay
	// apart because each node routes only to its configured peers.
	clusterName = "mongotron-test"
	// clusterReadyWait bounds the wait for routes and a JetStream meta
	// leader after a start or restart. Elections take a few seconds, more
	// under the race detector on two cores.
	clusterReadyWait = 30 * time.Second
	// clusterStartTries bounds the starts of a whole cluster on fresh
	// ports when one of the picked ports was taken in the meantime.
	clusterStartTries = 3
)

// NATSCluster is a cluster of embedded NATS servers with JetStream,
// routed over loopback. Each node keeps its client port, cluster port and
// store across [NATSCluster.Kill] and [NATSCluster.Restart], so clients
// given [NATSCluster.URL] find it again and it rejoins with its data.
// Its methods are safe for concurrent use; Kill and Restart run one at a
// time.
type NATSCluster struct {
	tmp string // temporary store root, removed by Shutdown
	// noAdvertise keeps the nodes from telling clients about each other.
	noAdvertise bool

	mu    sync.Mutex
	nodes []*clusterNode
}

// clusterNode is one node's fixed identity and its current server.
type clusterNode struct {
	name        string
	port        int
	clusterPort int
	storeDir    string
	srv         *natsserver.Server // the last server started, shut down while killed
	up          bool
}

// NATSClusterConfig configures [StartNATSCluster]. The zero value is three
// nodes with their stores in a fresh temporary directory.
type NATSClusterConfig struct {
	// Nodes is the number of servers. Zero means 3; a cluster that
	// should survive the loss of one node needs at least 3.
	Nodes int
	// StoreDir holds each node's JetStream store, in subdirectories n0,
	// n1 and so on. Empty means a new temporary directory, removed by
	// Shutdown.
	StoreDir string
	// NoAdvertise keeps each node from advertising the others' client
	// URLs to its clients (the INFO protocol's connect_urls), so that a
	// client knows only the URLs it was given. Link-cut tests need it: a
	// client connected through proxies would otherwise learn the nodes'
	// real addresses and reconnect to them directly, past the proxies.
	// False, the default, advertises them, as production clusters do.
	NoAdvertise bool
}

// StartNATSCluster starts a cluster and waits until it is ready: every
// node accepts clients, every route is up, and JetStream has a meta
// leader that counts every node as a peer, so that a stream with one
// replica per node can be created at once.
func StartNATSCluster(cfg NATSClusterConfig) (*NATSCluster, error) {
	n := cfg.Nodes
	if n == 0 {
		n = 3
	}
	if n < 0 {
		return nil, fmt.Errorf("testenv: nats cluster: %d nodes", n)
	}
	c := &NATSCluster{noAdvertise: cfg.NoAdvertise}
	dir := cfg.StoreDir
	if dir == "" {
		d, err := os.MkdirTemp("", "mongotron-nats-cluster-*")
		if err != nil {
			return nil, fmt.Errorf("testenv: nats cluster store: %w", err)
		}
		dir, c.tmp = d, d
	}
	var err error
	for range clusterStartTries {
		if err = c.start(n, dir); err == nil {
			return c, nil
		}
		c.stopAll()
		if !errors.Is(err, errNATSListen) {
			break
		}
	}
	if c.tmp != "" {
		_ = os.RemoveAll(c.tmp)
	}
	return nil, err
}

// RunNATSCluster starts a cluster of n nodes (zero means 3) for a test and
// shuts it down on cleanup.
func RunNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	c, err := StartNATSCluster(NATSClusterConfig{Nodes: n, StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Shutdown)
	return c
}

// start picks the ports and starts n nodes. A node that finds its port
// taken fails the start with errNATSListen, and the caller starts over on
// other ports: the routes of every node name every port.
func (c *NATSCluster) start(n int, dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[int]bool)
	c.nodes = make([]*clusterNode, n)
	for i := range c.nodes {
		nd := &clusterNode{
			name:     "n" + strconv.Itoa(i),
			storeDir: filepath.Join(dir, "n"+strconv.Itoa(i)),
		}
		for _, p := range []*int{&nd.port, &nd.clusterPort} {
			for *p == 0 || seen[*p] {
				var err error
				if *p, err = pickPort("127.0.0.1"); err != nil {
					return fmt.Errorf("testenv: nats cluster: %w", err)
				}
			}
			seen[*p] = true
		}
		c.nodes[i] = nd
	}
	for i := range c.nodes {
		s, err := startNATSServer(c.options(i))
		if err != nil {
			return err
		}
		c.nodes[i].srv, c.nodes[i].up = s, true
	}
	return c.waitReady(-1)
}

// options returns fresh options for node i: the shared test settings, its
// fixed ports and store, and routes to every other node.
func (c *NATSCluster) options(i int) *natsserver.Options {
	nd := c.nodes[i]
	opts := natsTestOptions()
	opts.ServerName = nd.name
	opts.Port = nd.port
	opts.StoreDir = nd.storeDir
	opts.Cluster = natsserver.ClusterOpts{Name: clusterName, Host: "127.0.0.1", Port: nd.clusterPort, NoAdvertise: c.noAdvertise}
	for j, peer := range c.nodes {
		if j != i {
			opts.Routes = append(opts.Routes, &url.URL{
				Scheme: "nats",
				Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(peer.clusterPort)),
			})
		}
	}
	return opts
}

// URLs are the client URLs of every node, running or not, in node order.
func (c *NATSCluster) URLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.port))
	}
	return urls
}

// URL is every node's client URL, comma-separated, as nats.Connect takes
// them: a client fails over between the nodes and reconnects to a
// restarted one.
func (c *NATSCluster) URL() string { return strings.Join(c.URLs(), ",") }

// Node is node i's server, 0 <= i < n: the running one, or the one that
// was shut down while the node is killed. [NATSCluster.Restart] replaces
// it, so do not keep it across a restart. The server name is "n" followed
// by i, which is what stream and consumer info report as leader and
// replicas; [NATSCluster.Index] maps it back.
func (c *NATSCluster) Node(i int) *natsserver.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Index is the node index of the server named name, or -1 if no node
// has that name.
func (c *NATSCluster) Index(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// Kill shuts node i down and returns once it has stopped and every other
// running node has dropped its routes to it. The shutdown is the
// server's own, which hands the leadership of its Raft groups to another
// node first, so the rest of the cluster fails over within about a
// second; a crashed leader would cost an election timeout of 4 to 9 s.
// Killing a killed node does nothing.
func (c *NATSCluster) Kill(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kill(i)
}

func (c *NATSCluster) kill(i int) error {
	nd := c.nodes[i]
	if !nd.up {
		return nil
	}
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.up = false
	up := c.upLocked()
	if !Poll(clusterReadyWait, func() bool {
		for _, j := range up {
			if c.nodes[j].srv.NumRemotes() != len(up)-1 {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("testenv: nats cluster: routes to %s still up %s after kill", nd.name, clusterReadyWait)
	}
	return nil
}

// Restart starts node i again on its ports and its store, and returns
// once it has rejoined: its routes to every running node are up, a meta
// leader counts it as a peer again, and its copy of the JetStream meta
// state is current. Its streams' replicas may still be catching up. A
// running node is killed first. If a port is still held, by a socket of
// the old server that is still closing for instance, it retries for
// about 2 s.
func (c *NATSCluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.kill(i); err != nil {
		return err
	}
	var (
		s   *natsserver.Server
		err error
	)
	for try := range listenTries {
		if s, err = startNATSServer(c.options(i)); !errors.Is(err, errNATSListen) {
			break
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	c.nodes[i].srv, c.nodes[i].up = s, true
	return c.waitReady(i)
}

// Shutdown stops every node and removes a temporary store. Calling it
// again does nothing.
func (c *NATSCluster) Shutdown() {
	c.stopAll()
	if c.tmp != "" {
		_ = os.RemoveAll(c.tmp)
	}
}

// stopAll stops every running node.
func (c *NATSCluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	// All at once: one at a time, each survivor would elect a new meta
	// leader only to lose it a moment later.
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		if nd.up {
			wg.Go(func() {
				nd.srv.Shutdown()
				nd.srv.WaitForShutdown()
			})
			nd.up = false
		}
	}
	wg.Wait()
}

// upLocked lists the running nodes.
func (c *NATSCluster) upLocked() []int {
	var up []int
	for i, nd := range c.nodes {
		if nd.up {
			up = append(up, i)
		}
	}
	return up
}

// waitReady waits until the running nodes form a full mesh of routes
// and some node is the meta leader and counts them all as JetStream
// peers; with joined >= 0 it also waits until that node's meta state is
// current, so that it serves JetStream requests again.
func (c *NATSCluster) waitReady(joined int) error {
	up := c.upLocked()
	ok := Poll(clusterReadyWait, func() bool {
		leader := false
		for _, j := range up {
			s := c.nodes[j].srv
			if s.NumRemotes() != len(up)-1 {
				return false
			}
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(up) {
				leader = true
			}
		}
		return leader && (joined < 0 || c.nodes[joined].srv.JetStreamIsCurrent())
	})
	if !ok {
		return fmt.Errorf("testenv: nats cluster: not ready within %s", clusterReadyWait)
	}
	return nil
}
