package gendocs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/gendocs"
)

// root is the repository, seen from this package's directory.
var root = filepath.Join("..", "..", "..", "..")

// TestConfigurationDoc_MatchesTheBinaries builds every binary, renders
// docs/configuration.md from their --help and fails when the file in the
// repository differs: a flag added, renamed or given a new default without
// `make docs` cannot go unnoticed.
func TestConfigurationDoc_MatchesTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	t.Parallel()
	h, err := gendocs.Collect(t.Context(), root)
	require.NoError(t, err)
	want, err := gendocs.Render(h)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, gendocs.ConfigurationPath))
	require.NoError(t, err)
	if string(got) == string(want) {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Fatalf("%s is out of date: run make docs. First difference, line %d:\n  binaries say: %s\n  file says:    %s",
				gendocs.ConfigurationPath, i+1, w, g)
		}
	}
}

// TestConfigurationDoc_DocumentsEveryDaemonFlag checks the rendered page
// on the daemons' real help: each flag a daemon prints has a row naming
// its variable, so a help format the parser misreads cannot pass as an
// empty table.
func TestConfigurationDoc_DocumentsEveryDaemonFlag(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile(filepath.Join(root, gendocs.ConfigurationPath))
	require.NoError(t, err)
	for _, f := range []string{"--mongo.uri", "--nats.url", "--webhook.timeout", "--lease.ttl", "--block-interval", "--edges"} {
		require.Contains(t, string(page), "| `"+f+" ", "the page has no row for %s", f)
	}
	for _, k := range []string{"MONGOTRON_MONGO_URI", "MONGOTRON_WEBHOOK_SCHEDULE", "MONGOTRON_URL", "MONGOTRON_API_KEY"} {
		require.Contains(t, string(page), "`"+k+"`")
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		help string
		want []gendocs.Flag
	}{
		{
			name: "pkg/config format with variables, quoted and plain defaults",
			help: "Usage: edge [flags]\n\nFlags; each is also read from the environment variable shown, and a flag wins:\n\n" +
				"  --mongo.uri URI   (MONGOTRON_MONGO_URI)\n    \tMongoDB connection URI (default \"mongodb://127.0.0.1:27017/mongotron\")\n" +
				"  --lease.ttl duration   (MONGOTRON_LEASE_TTL)\n    \tlease lifetime (renewed every third of it) (default 6s)\n" +
				"  --tokens.skip-name   (MONGOTRON_TOKENS_SKIP_NAME)\n    \tdo not ask for name()\n",
			want: []gendocs.Flag{
				{Name: "mongo.uri", Type: "URI", Env: "MONGOTRON_MONGO_URI", Default: "mongodb://127.0.0.1:27017/mongotron", Usage: "MongoDB connection URI"},
				{Name: "lease.ttl", Type: "duration", Env: "MONGOTRON_LEASE_TTL", Default: "6s", Usage: "lease lifetime (renewed every third of it)"},
				{Name: "tokens.skip-name", Env: "MONGOTRON_TOKENS_SKIP_NAME", Usage: "do not ask for name()"},
			},
		},
		{
			name: "a type of several words and a usage of several lines",
			help: "  --webhook.allow-private addresses or CIDR prefixes   (MONGOTRON_WEBHOOK_ALLOW_PRIVATE)\n    \tprefixes webhooks may reach (default none)\n" +
				"  --txinfo file\n    \toffline: an answer,\n    \tor an object mapping ids to answers\n",
			want: []gendocs.Flag{
				{Name: "webhook.allow-private", Type: "addresses or CIDR prefixes", Env: "MONGOTRON_WEBHOOK_ALLOW_PRIVATE", Default: "none", Usage: "prefixes webhooks may reach"},
				{Name: "txinfo", Type: "file", Usage: "offline: an answer, or an object mapping ids to answers"},
			},
		},
		{
			name: "flag package format with a variable pattern in a note",
			help: "usage: tronsim [flags]\n  -addr string\n    \tlisten address (default \"127.0.0.1:8090\")\n  -instant\n    \trelease blocks at once\n" +
				"  -x\tone-letter boolean\n\nEvery flag can also be set as MONGOTRON_TRONSIM_<FLAG> (MONGOTRON_TRONSIM_TRAP_RATE).\n\nControl API:\n  POST /sim/mine {\"n\":N}   produce N blocks\n",
			want: []gendocs.Flag{
				{Name: "addr", Type: "string", Env: "MONGOTRON_TRONSIM_ADDR", Default: "127.0.0.1:8090", Usage: "listen address"},
				{Name: "instant", Env: "MONGOTRON_TRONSIM_INSTANT", Usage: "release blocks at once"},
				{Name: "x", Env: "MONGOTRON_TRONSIM_X", Usage: "one-letter boolean"},
			},
		},
		{
			name: "flag package format without variables",
			help: "Flags:\n  -edges int\n    \thow many edges to run (default 2)\n",
			want: []gendocs.Flag{{Name: "edges", Type: "int", Default: "2", Usage: "how many edges to run"}},
		},
		{
			name: "synopsis lines are not flags",
			help: "Usage:\n  mongotron tail SUB_ID [--after CURSOR]   follow\n\n  mongotron subs create --kind trc20_transfer \\\n      --direction in\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, gendocs.ParseFlags(tt.help))
		})
	}
}

func TestFlag_Deprecated(t *testing.T) {
	t.Parallel()
	require.True(t, gendocs.Flag{Usage: "Deprecated: use --start-timeout"}.Deprecated())
	require.True(t, gendocs.Flag{Usage: "how long to wait (deprecated alias of --connect-timeout)"}.Deprecated())
	require.False(t, gendocs.Flag{Usage: "how long to wait for each dependency at start"}.Deprecated())
}

func TestParseCommands(t *testing.T) {
	t.Parallel()
	top := "Usage: mongotron <command> [flags]\n\nCommands:\n  decode   print the events of Tron blocks\n  tail     follow a subscription's events live\n\nRun mongotron <command> --help.\n"
	require.Equal(t, []gendocs.Command{
		{Args: "decode", Summary: "print the events of Tron blocks"},
		{Args: "tail", Summary: "follow a subscription's events live"},
	}, gendocs.ParseCommands(top))

	group := "Usage: mongotron keys <command>\n\nCommands:\n  mongotron keys create TENANT      make an API key (admin key only)\n  mongotron keys revoke KEY_ID      revoke an API key at once\n\nRun mongotron keys <command> --help.\n"
	require.Equal(t, []gendocs.Command{
		{Args: "keys create", Summary: "make an API key (admin key only)"},
		{Args: "keys revoke", Summary: "revoke an API key at once"},
	}, gendocs.ParseCommands(group))

	require.Empty(t, gendocs.ParseCommands("Usage:\n  mongotron tail SUB_ID\n\nFlags:\n  --after cursor\n"))
}

func TestUsageLines(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"mongotron decode --node URL --from N", "mongotron decode --block FILE"},
		gendocs.UsageLines("Usage:\n  mongotron decode --node URL --from N\n  mongotron decode --block FILE\n\nPrints events.\n"))
	require.Equal(t, []string{"edge [flags]"}, gendocs.UsageLines("Usage: edge [flags]\n\nMongotron edge.\n"))
}

func TestRender_DeprecatedFlagsAreListed(t *testing.T) {
	t.Parallel()
	h := &gendocs.Helps{
		Of: map[string]string{
			"ingest":  "  --connect-timeout duration   (MONGOTRON_CONNECT_TIMEOUT)\n    \tdeprecated: use --start-timeout\n  --start-timeout duration   (MONGOTRON_START_TIMEOUT)\n    \thow long (default 10s)\n",
			"edge":    "  --http.addr address   (MONGOTRON_HTTP_ADDR)\n    \taddress | port\n",
			"tronsim": "  -addr string\n    \tlisten address\n", "devstack": "  -edges int\n    \tedges\n",
			"mongotron": "Commands:\n  tail   follow\n",
		},
		Commands: map[string][]gendocs.CommandHelp{
			"mongotron": {{Command: gendocs.Command{Args: "tail", Summary: "follow"}, Help: "Usage:\n  mongotron tail SUB_ID   follow\n\nFlags:\n  --after cursor\n    \tstart after this cursor\n"}},
		},
	}
	page, err := gendocs.Render(h)
	require.NoError(t, err)
	require.Contains(t, string(page), "- `ingest`: `--connect-timeout` (`MONGOTRON_CONNECT_TIMEOUT`): deprecated: use --start-timeout\n")
	require.NotContains(t, string(page), "No flag is deprecated")
	require.Contains(t, string(page), "| `--connect-timeout duration` | `MONGOTRON_CONNECT_TIMEOUT` | — | deprecated: use --start-timeout |",
		"an alias has no default of its own")
	require.Contains(t, string(page), "| `--start-timeout duration` | `MONGOTRON_START_TIMEOUT` | `10s` | how long |")
	require.Contains(t, string(page), "address \\| port", "a pipe in a usage is escaped")
	require.Contains(t, string(page), "### mongotron tail\n\nFollow.\n\n```\nmongotron tail SUB_ID\n```")
}
