package deploycheck_test

import (
	"flag"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// The deployment files configure NATS the two ways nats-server reads a
// configuration: docker-compose.yml with command-line flags, deploy/k8s
// with a configuration file. Both are read here with nats-server's own
// parser, so a misspelt flag or key fails the test as it would fail the
// server.

// natsFlagsMu serializes server.ConfigureOptions, which sets the package
// variable server.FlagSnapshot.
var natsFlagsMu sync.Mutex

// natsFromArgs returns the options nats-server takes from args, its
// command line without the program name.
func natsFromArgs(t testing.TB, args []string) *server.Options {
	t.Helper()
	natsFlagsMu.Lock()
	defer natsFlagsMu.Unlock()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	noop := func() {}
	o, err := server.ConfigureOptions(fs, args, noop, noop, noop)
	require.NoError(t, err, "nats-server %s", strings.Join(args, " "))
	require.NotNil(t, o, "nats-server %s: the command prints and exits", strings.Join(args, " "))
	return o
}

// natsFromConfig returns the options nats-server takes from the
// configuration file conf, with env standing for the server's environment,
// which the file's $VARIABLES read. A warning fails the test as an error
// does.
func natsFromConfig(t testing.TB, conf string, env map[string]string) *server.Options {
	t.Helper()
	// A variable the file defines comes before the environment; one it
	// does not use would be an unknown field.
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if regexp.MustCompile(`\$` + regexp.QuoteMeta(k) + `\b`).MatchString(conf) {
			b.WriteString(k + ": " + strconv.Quote(env[k]) + "\n")
		}
	}
	b.WriteString(conf)
	o := &server.Options{}
	require.NoError(t, o.ProcessConfigString(b.String()))
	return o
}

// natsClientPort is the port o serves clients on.
func natsClientPort(o *server.Options) int {
	if o.Port == 0 {
		return server.DEFAULT_PORT
	}
	return o.Port
}

// natsURLs splits a MONGOTRON_NATS_URL the way nats.go's Connect does (a
// comma-separated list of servers) and parses each.
func natsURLs(t testing.TB, v string) []*url.URL {
	t.Helper()
	var urls []*url.URL
	for _, s := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		require.NoError(t, err, "MONGOTRON_NATS_URL=%q", v)
		require.Contains(t, []string{"nats", "tls"}, u.Scheme, "MONGOTRON_NATS_URL=%q", v)
		require.NotEmpty(t, u.Port(), "MONGOTRON_NATS_URL=%q: %s without a port", v, u.Host)
		urls = append(urls, u)
	}
	return urls
}
