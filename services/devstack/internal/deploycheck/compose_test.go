package deploycheck_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

const testAdminKey = "test-admin-key-0123456789"

func loadCompose(t *testing.T, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	var envs []string
	for k, v := range env {
		envs = append(envs, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(envs),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return opts.LoadProject(ctx)
}

// binaryOf tells which Mongotron binary a service runs, from its build's
// TARGET; "" for third-party images.
func binaryOf(s types.ServiceConfig) string {
	if s.Build == nil {
		return ""
	}
	if t := s.Build.Args["TARGET"]; t != nil {
		return *t
	}
	return ""
}

// defaultPort is where each binary listens unless told otherwise.
var defaultPort = map[string]string{"ingest": "8081", "edge": "8080", "tronsim": "8090"}

// imageName is a service's image without its tag ("nats" for
// nats:2.11-alpine).
func imageName(s types.ServiceConfig) string {
	name, _, _ := strings.Cut(s.Image, ":")
	return name
}

// natsNodes returns the names of the services that run a NATS server,
// sorted.
func natsNodes(p *types.Project) []string {
	var nodes []string
	for _, s := range p.Services {
		if imageName(s) == "nats" {
			nodes = append(nodes, s.Name)
		}
	}
	slices.Sort(nodes)
	return nodes
}

func TestCompose_Services(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		profiles []string
		want     []string
		tronURL  string
	}{
		{
			name:     "sim profile",
			env:      map[string]string{"MONGOTRON_ADMIN_KEY": testAdminKey},
			profiles: []string{"sim"},
			want:     []string{"edge-1", "edge-2", "ingest-1", "ingest-2", "lb", "mongo", "nats-1", "nats-2", "nats-3", "tronsim"},
			tronURL:  "http://tronsim:8090",
		},
		{
			name:    "real node",
			env:     map[string]string{"MONGOTRON_ADMIN_KEY": testAdminKey, "MONGOTRON_TRON_NODE_URL": "https://api.trongrid.io", "MONGOTRON_TRON_API_KEY": "k"},
			want:    []string{"edge-1", "edge-2", "ingest-1", "ingest-2", "lb", "mongo", "nats-1", "nats-2", "nats-3"},
			tronURL: "https://api.trongrid.io",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadCompose(t, tt.env, tt.profiles...)
			require.NoError(t, err)
			names := p.ServiceNames()
			slices.Sort(names)
			require.Equal(t, tt.want, names)

			for _, s := range p.Services {
				bin := binaryOf(s)
				checkDependencies(t, p, s)
				if bin == "" {
					continue
				}
				t.Run(s.Name, func(t *testing.T) {
					checkMongotronService(t, p, s, bin)
				})
			}
			for _, n := range []string{"ingest-1", "ingest-2"} {
				require.Equal(t, tt.tronURL, *p.Services[n].Environment["MONGOTRON_TRON_NODE_URL"], n)
			}
			if v := tt.env["MONGOTRON_TRON_API_KEY"]; v != "" {
				require.Equal(t, v, *p.Services["ingest-1"].Environment["MONGOTRON_TRON_API_KEY"])
			}
			for _, n := range []string{"edge-1", "edge-2"} {
				require.Equal(t, testAdminKey, *p.Services[n].Environment["MONGOTRON_ADMIN_KEY"])
			}
			checkBalancer(t, p)
			checkInfra(t, p)
		})
	}
}

// checkDependencies: every dependency exists (or is optional and off) and
// waits for health where the dependency has a health check.
func checkDependencies(t *testing.T, p *types.Project, s types.ServiceConfig) {
	t.Helper()
	for dep, d := range s.DependsOn {
		ds, ok := p.Services[dep]
		if !ok {
			require.False(t, d.Required, "%s depends on %s, which is absent", s.Name, dep)
			continue
		}
		if ds.HealthCheck != nil && !ds.HealthCheck.Disable {
			require.Equal(t, types.ServiceConditionHealthy, d.Condition, "%s waits for %s to be healthy", s.Name, dep)
		}
	}
}

func checkMongotronService(t *testing.T, p *types.Project, s types.ServiceConfig, bin string) {
	t.Helper()
	keys := envKeys[bin]
	require.NotNil(t, keys, "unknown binary %q", bin)
	require.Equal(t, filepath.Clean(root), filepath.Clean(s.Build.Context))
	_, err := os.Stat(filepath.Join(root, "deploy", "Dockerfile"))
	require.NoError(t, err)
	require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile)
	_, err = os.Stat(filepath.Join(root, "services", bin, "main.go"))
	require.NoError(t, err, "TARGET %s builds ./services/%s", bin, bin)
	require.Equal(t, defaultPort[bin], *s.Build.Args["PORT"], "the image's EXPOSE and HEALTHCHECK port")

	// Every MONGOTRON_* variable is a flag of the binary: anything else
	// would make it refuse to start, or be silently ignored.
	for k, v := range s.Environment {
		require.True(t, strings.HasPrefix(k, "MONGOTRON_"), "%s: %s", s.Name, k)
		require.True(t, keys[k], "%s: %s is no flag of %s", s.Name, k, bin)
		require.NotNil(t, v, "%s: %s has no value", s.Name, k)
		checkValue(t, p, s.Name, k, *v)
	}

	// The health check asks the port the binary listens on.
	listen := defaultPort[bin]
	for _, k := range []string{"MONGOTRON_HTTP_ADDR", "MONGOTRON_TRONSIM_HTTP_ADDR"} {
		if v := s.Environment[k]; v != nil {
			_, port, err := net.SplitHostPort(*v)
			require.NoError(t, err)
			listen = port
			if bin == "tronsim" {
				host, _, _ := net.SplitHostPort(*v)
				require.NotEqual(t, "127.0.0.1", host, "a container must listen beyond its loopback")
			}
		}
	}
	require.NotNil(t, s.HealthCheck, s.Name)
	hc := strings.Join(s.HealthCheck.Test, " ")
	require.Contains(t, hc, "127.0.0.1:"+listen+"/", "%s health check port", s.Name)
	require.NotNil(t, s.StopGracePeriod, "%s: a grace period covering shutdown-timeout", s.Name)
	if bin != "tronsim" {
		require.GreaterOrEqual(t, time.Duration(*s.StopGracePeriod), 10*time.Second+5*time.Second, s.Name)
		require.Contains(t, s.DependsOn, "mongo")
		nodes := natsNodes(p)
		require.NotEmpty(t, nodes)
		for _, n := range nodes {
			require.Contains(t, s.DependsOn, n, "%s waits for every NATS server", s.Name)
		}
	}
}

// checkValue checks a value the way the binary will: URLs must point at a
// service of the project on the port it serves, durations must parse.
func checkValue(t *testing.T, p *types.Project, svc, key, v string) {
	t.Helper()
	switch {
	case key == "MONGOTRON_NATS_URL":
		// A comma-separated list of servers, which nats.go's Connect takes.
		for _, u := range strings.Split(v, ",") {
			checkURL(t, p, svc, key, strings.TrimSpace(u))
		}
	case strings.HasSuffix(key, "_URI") || strings.HasSuffix(key, "_URL"):
		checkURL(t, p, svc, key, v)
	case strings.HasSuffix(key, "_TIMEOUT") || strings.HasSuffix(key, "_INTERVAL"):
		_, err := time.ParseDuration(v)
		require.NoError(t, err, "%s: %s=%q", svc, key, v)
	case strings.HasSuffix(key, "_ADDR"):
		_, _, err := net.SplitHostPort(v)
		require.NoError(t, err, "%s: %s=%q", svc, key, v)
	}
}

func checkURL(t *testing.T, p *types.Project, svc, key, v string) {
	t.Helper()
	u, err := url.Parse(v)
	require.NoError(t, err, "%s: %s", svc, key)
	require.NotEmpty(t, u.Host, "%s: %s=%q", svc, key, v)
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return // a real node's URL without a port
	}
	if target, ok := p.Services[host]; ok {
		require.True(t, servesPort(target, port), "%s: %s points at %s:%s, which %s does not serve", svc, key, host, port, host)
	} else if host == "tronsim" {
		t.Fatalf("%s: %s points at tronsim, which is off: the default must only apply with the sim profile", svc, key)
	}
}

// servesPort tells whether a service listens on port: by its image's
// well-known port, or by the address it is configured with.
func servesPort(s types.ServiceConfig, port string) bool {
	known := map[string][]string{"mongo": {"27017"}, "nats": {"4222"}}
	if slices.Contains(known[imageName(s)], port) {
		return true
	}
	if bin := binaryOf(s); bin != "" {
		for _, k := range []string{"MONGOTRON_HTTP_ADDR", "MONGOTRON_TRONSIM_HTTP_ADDR"} {
			if v := s.Environment[k]; v != nil {
				if _, p, err := net.SplitHostPort(*v); err == nil {
					return p == port
				}
			}
		}
		return defaultPort[bin] == port
	}
	return false
}

var upstreamRe = regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):(\d+)`)

// checkBalancer: the load balancer publishes 8080, forwards WebSocket
// upgrades, and lists every edge, each on its port.
func checkBalancer(t *testing.T, p *types.Project) {
	t.Helper()
	lb := p.Services["lb"]
	require.Len(t, lb.Ports, 1)
	require.Equal(t, uint32(8080), lb.Ports[0].Target)
	require.Equal(t, "8080", lb.Ports[0].Published)
	require.Len(t, lb.Volumes, 1)
	conf, err := os.ReadFile(lb.Volumes[0].Source)
	require.NoError(t, err)
	require.Contains(t, string(conf), "proxy_set_header Upgrade $http_upgrade")
	require.Contains(t, string(conf), "proxy_set_header Connection $connection_upgrade")
	require.Contains(t, string(conf), "listen 8080")
	var upstream []string
	for _, m := range upstreamRe.FindAllStringSubmatch(string(conf), -1) {
		s, ok := p.Services[m[1]]
		require.True(t, ok, "nginx.conf names %s, no service of the project", m[1])
		require.Equal(t, "edge", binaryOf(s))
		require.True(t, servesPort(s, m[2]), "%s does not serve %s", m[1], m[2])
		upstream = append(upstream, m[1])
		require.Contains(t, lb.DependsOn, m[1])
	}
	var edges []string
	for _, s := range p.Services {
		if binaryOf(s) == "edge" {
			edges = append(edges, s.Name)
		}
	}
	slices.Sort(edges)
	slices.Sort(upstream)
	require.Equal(t, edges, upstream, "the balancer spreads over every edge")
	require.GreaterOrEqual(t, len(edges), 2)
}

// checkInfra: MongoDB is a replica set of one with a volume; NATS is a
// cluster (checkNATS).
func checkInfra(t *testing.T, p *types.Project) {
	t.Helper()
	mongo := p.Services["mongo"]
	require.True(t, strings.HasPrefix(mongo.Image, "mongo:"), "the official image")
	require.Contains(t, strings.Join(mongo.Command, " "), "--replSet rs0")
	require.Contains(t, strings.Join(mongo.HealthCheck.Test, " "), "rs.initiate")
	require.Len(t, mongo.Volumes, 1)
	require.Equal(t, types.VolumeTypeVolume, mongo.Volumes[0].Type)
	require.Contains(t, p.Volumes, mongo.Volumes[0].Source)
	for _, s := range p.Services {
		if v := s.Environment["MONGOTRON_MONGO_URI"]; v != nil {
			require.Contains(t, *v, "replicaSet=rs0", s.Name)
		}
	}
	checkNATS(t, p)
}

// checkNATS: three NATS servers (the official image) form one cluster
// with JetStream, read from their commands the way nats-server reads them:
// distinct server names, each store on a volume of its own, each server
// routing to the other two on their cluster port. Every service reaches
// every server, waits for them, and replicates over at most as many.
func checkNATS(t *testing.T, p *types.Project) {
	t.Helper()
	nodes := natsNodes(p)
	require.Len(t, nodes, 3, "a cluster of three NATS servers")
	opts := map[string]*server.Options{}
	serverNames := map[string]string{} // server name -> service
	stores := map[string]string{}      // volume -> service
	var cluster string
	for _, n := range nodes {
		s := p.Services[n]
		require.NotEmpty(t, s.Command, n)
		require.True(t, strings.HasPrefix(s.Command[0], "-"), "%s: the image runs nats-server only for a command that starts with a flag", n)
		o := natsFromArgs(t, s.Command)
		opts[n] = o
		require.True(t, o.JetStream, "%s: JetStream", n)

		require.NotEmpty(t, o.ServerName, "%s: a server name, which clustered JetStream needs", n)
		require.NotContains(t, serverNames, o.ServerName, "%s: server name %s is also %s's", n, o.ServerName, serverNames[o.ServerName])
		serverNames[o.ServerName] = n
		require.NotEmpty(t, o.Cluster.Name, "%s: a cluster name", n)
		if cluster == "" {
			cluster = o.Cluster.Name
		}
		require.Equal(t, cluster, o.Cluster.Name, "%s: one cluster", n)
		require.NotZero(t, o.Cluster.Port, "%s listens for routes", n)

		require.Len(t, s.Volumes, 1, n)
		v := s.Volumes[0]
		require.Equal(t, types.VolumeTypeVolume, v.Type, n)
		require.Contains(t, p.Volumes, v.Source, n)
		require.Equal(t, v.Target, o.StoreDir, "%s: the JetStream store is on the volume", n)
		require.NotContains(t, stores, v.Source, "%s: volume %s is also %s's store", n, v.Source, stores[v.Source])
		stores[v.Source] = n

		require.NotZero(t, o.HTTPPort, "%s: the monitoring port, for the health check", n)
		require.NotNil(t, s.HealthCheck, n)
		require.Contains(t, strings.Join(s.HealthCheck.Test, " "), fmt.Sprintf("127.0.0.1:%d/healthz?js-", o.HTTPPort), "%s: the health check asks about JetStream", n)
	}
	for _, n := range nodes {
		var routed []string
		for _, r := range opts[n].Routes {
			peer, ok := opts[r.Hostname()]
			require.True(t, ok, "%s routes to %s, no NATS server of the project", n, r.Host)
			require.Equal(t, strconv.Itoa(peer.Cluster.Port), r.Port(), "%s routes to %s's cluster port", n, r.Hostname())
			if r.Hostname() != n {
				routed = append(routed, r.Hostname())
			}
		}
		slices.Sort(routed)
		others := slices.DeleteFunc(slices.Clone(nodes), func(o string) bool { return o == n })
		require.Equal(t, others, routed, "%s routes to each other server, once", n)
	}

	for _, s := range p.Services {
		v := s.Environment["MONGOTRON_NATS_URL"]
		if v == nil {
			continue
		}
		var listed []string
		for _, u := range natsURLs(t, *v) {
			o, ok := opts[u.Hostname()]
			require.True(t, ok, "%s: MONGOTRON_NATS_URL names %s, no NATS server", s.Name, u.Hostname())
			require.Equal(t, strconv.Itoa(natsClientPort(o)), u.Port(), "%s: %s's client port", s.Name, u.Hostname())
			listed = append(listed, u.Hostname())
		}
		slices.Sort(listed)
		require.Equal(t, nodes, listed, "%s: MONGOTRON_NATS_URL lists every NATS server, once", s.Name)
	}
	for _, s := range p.Services {
		if bin := binaryOf(s); bin != "ingest" && bin != "edge" {
			continue
		}
		v := s.Environment["MONGOTRON_NATS_REPLICAS"]
		require.NotNil(t, v, "%s: MONGOTRON_NATS_REPLICAS", s.Name)
		r, err := strconv.Atoi(*v)
		require.NoError(t, err, "%s: MONGOTRON_NATS_REPLICAS=%q", s.Name, *v)
		require.Equal(t, 3, r, "%s: a replica on each server", s.Name)
		require.LessOrEqual(t, r, len(nodes), "%s: no more replicas than NATS servers", s.Name)
	}
}

func TestCompose_AdminKeyRequired(t *testing.T) {
	t.Parallel()
	_, err := loadCompose(t, nil, "sim")
	require.ErrorContains(t, err, "MONGOTRON_ADMIN_KEY")
}

func TestCompose_IngestsAreLeaderAndStandby(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, map[string]string{"MONGOTRON_ADMIN_KEY": testAdminKey}, "sim")
	require.NoError(t, err)
	var ingests []types.ServiceConfig
	for _, s := range p.Services {
		if binaryOf(s) == "ingest" {
			ingests = append(ingests, s)
		}
	}
	require.Len(t, ingests, 2)
	// Same configuration: either may lead.
	require.Equal(t, ingests[0].Environment, ingests[1].Environment)
	require.Contains(t, ingests[0].DependsOn, "tronsim")
	require.Equal(t, "sim", p.Services["tronsim"].Profiles[0])
}
