package deploycheck_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
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
			want:     []string{"edge-1", "edge-2", "ingest-1", "ingest-2", "lb", "mongo", "nats", "tronsim"},
			tronURL:  "http://tronsim:8090",
		},
		{
			name:    "real node",
			env:     map[string]string{"MONGOTRON_ADMIN_KEY": testAdminKey, "MONGOTRON_TRON_NODE_URL": "https://api.trongrid.io", "MONGOTRON_TRON_API_KEY": "k"},
			want:    []string{"edge-1", "edge-2", "ingest-1", "ingest-2", "lb", "mongo", "nats"},
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
	for _, k := range []string{"MONGOTRON_HTTP_ADDR", "MONGOTRON_TRONSIM_ADDR"} {
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
		require.Contains(t, s.DependsOn, "nats")
	}
}

// checkValue checks a value the way the binary will: URLs must point at a
// service of the project on the port it serves, durations must parse.
func checkValue(t *testing.T, p *types.Project, svc, key, v string) {
	t.Helper()
	switch {
	case strings.HasSuffix(key, "_URI") || strings.HasSuffix(key, "_URL"):
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
	case strings.HasSuffix(key, "_TIMEOUT") || strings.HasSuffix(key, "_INTERVAL"):
		_, err := time.ParseDuration(v)
		require.NoError(t, err, "%s: %s=%q", svc, key, v)
	case strings.HasSuffix(key, "_ADDR"):
		_, _, err := net.SplitHostPort(v)
		require.NoError(t, err, "%s: %s=%q", svc, key, v)
	}
}

// servesPort tells whether a service listens on port: by its image's
// well-known port, or by the address it is configured with.
func servesPort(s types.ServiceConfig, port string) bool {
	known := map[string][]string{"mongo": {"27017"}, "nats": {"4222"}}
	if slices.Contains(known[s.Name], port) {
		return true
	}
	if bin := binaryOf(s); bin != "" {
		for _, k := range []string{"MONGOTRON_HTTP_ADDR", "MONGOTRON_TRONSIM_ADDR"} {
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

// checkInfra: MongoDB is a replica set of one with a volume, NATS runs
// JetStream on a volume.
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

	nats := p.Services["nats"]
	require.True(t, strings.HasPrefix(nats.Image, "nats:"))
	cmd := strings.Join(nats.Command, " ")
	require.Contains(t, cmd, "--jetstream")
	require.Len(t, nats.Volumes, 1)
	require.Contains(t, cmd, "--store_dir "+nats.Volumes[0].Target)
	require.Contains(t, p.Volumes, nats.Volumes[0].Source)
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
	require.True(t, p.Services["tronsim"].Profiles[0] == "sim")
}
