package config_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testConfig struct {
	URI     string
	NodeURL string
	Timeout time.Duration
	Debug   bool
	Workers int
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URI, "mongo.uri", "mongodb://localhost", "MongoDB URI")
	fs.StringVar(&c.NodeURL, "tron.node-url", "", "Tron node URL")
	fs.DurationVar(&c.Timeout, "shutdown-timeout", 10*time.Second, "how long to drain")
	fs.BoolVar(&c.Debug, "debug", false, "debug mode")
	fs.IntVar(&c.Workers, "workers", 4, "workers")
}

func TestEnvKey(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"mongo.uri":             "MONGOTRON_MONGO_URI",
		"tron.node-url":         "MONGOTRON_TRON_NODE_URL",
		"edge.ws.write-timeout": "MONGOTRON_EDGE_WS_WRITE_TIMEOUT",
		"http.addr":             "MONGOTRON_HTTP_ADDR",
	} {
		require.Equal(t, want, config.EnvKey(name), name)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     []string
		opts    []config.Option
		want    testConfig
		wantErr string // substring; every error must be one line
	}{
		{
			name: "defaults",
			want: testConfig{URI: "mongodb://localhost", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name: "env applies",
			env:  []string{"MONGOTRON_MONGO_URI=mongodb://db:27017", "MONGOTRON_TRON_NODE_URL=http://node", "MONGOTRON_SHUTDOWN_TIMEOUT=3s", "MONGOTRON_DEBUG=true", "PATH=/bin"},
			want: testConfig{URI: "mongodb://db:27017", NodeURL: "http://node", Timeout: 3 * time.Second, Debug: true, Workers: 4},
		},
		{
			name: "flag wins over env",
			args: []string{"--mongo.uri", "mongodb://flag", "-workers=8"},
			env:  []string{"MONGOTRON_MONGO_URI=mongodb://env", "MONGOTRON_WORKERS=2"},
			want: testConfig{URI: "mongodb://flag", Timeout: 10 * time.Second, Workers: 8},
		},
		{
			name: "flag wins even when its value equals the default",
			args: []string{"--workers=4"},
			env:  []string{"MONGOTRON_WORKERS=2"},
			want: testConfig{URI: "mongodb://localhost", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name: "empty env value is a value",
			env:  []string{"MONGOTRON_MONGO_URI="},
			want: testConfig{Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name: "value containing equals sign",
			env:  []string{"MONGOTRON_MONGO_URI=mongodb://h/?a=b"},
			want: testConfig{URI: "mongodb://h/?a=b", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name:    "unknown key",
			env:     []string{"MONGOTRON_MONGO_URL=x", "MONGOTRON_NATS_URL=nats://x"},
			wantErr: "config: unknown key MONGOTRON_MONGO_URL, MONGOTRON_NATS_URL",
		},
		{
			name: "ignored keys",
			env:  []string{"MONGOTRON_NATS_URL=nats://x", "MONGOTRON_EDGE_WS_WRITE_TIMEOUT=1s", "MONGOTRON_TRONSIM_ADDR=:1"},
			opts: []config.Option{config.IgnoreKeys(config.SharedKeys()...), config.IgnoreKeys("MONGOTRON_EDGE_*")},
			want: testConfig{URI: "mongodb://localhost", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name:    "ignore does not hide a malformed value of a flag we read",
			env:     []string{"MONGOTRON_SHUTDOWN_TIMEOUT=soon"},
			opts:    []config.Option{config.IgnoreKeys(config.SharedKeys()...)},
			wantErr: `config: MONGOTRON_SHUTDOWN_TIMEOUT="soon": invalid duration value for flag --shutdown-timeout`,
		},
		{
			name:    "malformed int",
			env:     []string{"MONGOTRON_WORKERS=many"},
			wantErr: `MONGOTRON_WORKERS="many": invalid int value for flag --workers`,
		},
		{
			name:    "malformed bool",
			env:     []string{"MONGOTRON_DEBUG=yes please"},
			wantErr: `MONGOTRON_DEBUG="yes please": invalid boolean value for flag --debug`,
		},
		{
			name:    "all env errors at once",
			env:     []string{"MONGOTRON_WORKERS=many", "MONGOTRON_TYPO=1"},
			wantErr: `MONGOTRON_WORKERS="many": invalid int value for flag --workers: parse error; unknown key MONGOTRON_TYPO`,
		},
		{
			name:    "malformed flag",
			args:    []string{"--shutdown-timeout=soon"},
			wantErr: `config: invalid value "soon" for flag -shutdown-timeout`,
		},
		{
			name:    "unknown flag",
			args:    []string{"--nope"},
			wantErr: "config: flag provided but not defined: -nope",
		},
		{
			name:    "stray argument",
			args:    []string{"extra"},
			wantErr: `config: unexpected argument "extra"`,
		},
		{
			name: "alias",
			env:  []string{"MONGOTRON_TRON_NODE=http://aliased"},
			opts: []config.Option{config.EnvAlias("tron.node-url", "MONGOTRON_TRON_NODE")},
			want: testConfig{URI: "mongodb://localhost", NodeURL: "http://aliased", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name:    "alias replaces the derived key",
			env:     []string{"MONGOTRON_TRON_NODE_URL=http://derived"},
			opts:    []config.Option{config.EnvAlias("tron.node-url", "MONGOTRON_TRON_NODE")},
			wantErr: "unknown key MONGOTRON_TRON_NODE_URL",
		},
		{
			name:    "alias colliding with another flag",
			opts:    []config.Option{config.EnvAlias("tron.node-url", "MONGOTRON_MONGO_URI")},
			wantErr: "config: flags mongo.uri and tron.node-url both read MONGOTRON_MONGO_URI",
		},
		{
			name:    "no env for a command-line-only flag",
			args:    []string{"--workers=3"},
			env:     []string{"MONGOTRON_WORKERS=2"},
			opts:    []config.Option{config.NoEnv("workers")},
			wantErr: "config: unknown key MONGOTRON_WORKERS",
		},
		{
			name: "no env, ignored",
			env:  []string{"MONGOTRON_WORKERS=2"},
			opts: []config.Option{config.NoEnv("workers"), config.IgnoreKeys("MONGOTRON_*")},
			want: testConfig{URI: "mongodb://localhost", Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name:    "bad ignore option",
			opts:    []config.Option{config.IgnoreKeys("NATS_URL")},
			wantErr: `config: ignored key "NATS_URL" does not start with MONGOTRON_`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got testConfig
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got.RegisterFlags(fs)
			err := config.Load(fs, tc.args, tc.env, tc.opts...)
			if tc.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.wantErr)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLoad_help(t *testing.T) {
	t.Parallel()
	var c testConfig
	var out strings.Builder
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	c.RegisterFlags(fs)
	fs.Usage = func() { config.PrintFlags(fs.Output(), fs) }
	err := config.Load(fs, []string{"--help"}, nil)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, out.String(), "--tron.node-url string   (MONGOTRON_TRON_NODE_URL)")
	require.Contains(t, out.String(), `(default "mongodb://localhost")`)
	require.Contains(t, out.String(), "(default 10s)")
}

func TestPrintFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.String("node", "", "node `URL`")
	fs.Int("from", 0, "first block")
	fs.Bool("pretty", false, "indent")
	var out strings.Builder
	config.PrintFlags(&out, fs, config.EnvAlias("node", "MONGOTRON_TRON_NODE_URL"), config.NoEnv("from"))
	require.Equal(t, "  --from int\n    \tfirst block\n"+
		"  --node URL   (MONGOTRON_TRON_NODE_URL)\n    \tnode URL\n"+
		"  --pretty   (MONGOTRON_PRETTY)\n    \tindent\n", out.String())
}

func TestLoad_errorPrintsNoUsage(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.Int("n", 0, "n")
	fs.Usage = func() { out.WriteString("usage") }
	require.Error(t, config.Load(fs, []string{"-n=x"}, nil))
	require.Empty(t, out.String())
}

type validator struct{ err error }

func (v validator) Validate() error { return v.err }

func TestValidateAll(t *testing.T) {
	t.Parallel()
	errA := errors.New("a: bad")
	errB := errors.New("b: worse\nsecond line")
	tests := []struct {
		name string
		vs   []config.Validator
		want string
	}{
		{name: "none"},
		{name: "all pass", vs: []config.Validator{validator{}, validator{}}},
		{name: "one fails", vs: []config.Validator{validator{}, validator{errA}}, want: "a: bad"},
		{name: "all reported on one line", vs: []config.Validator{validator{errA}, validator{}, validator{errB}}, want: "a: bad; b: worse; second line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := config.ValidateAll(tc.vs...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
			for _, v := range tc.vs {
				if v.(validator).err != nil {
					require.ErrorIs(t, err, v.(validator).err)
				}
			}
		})
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	require.NoError(t, config.Join())
	require.NoError(t, config.Join(nil, nil))
	require.EqualError(t, config.Join(nil, errors.New("x")), "x")
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		value    string
		optional bool
		schemes  []string
		wantErr  string
	}{
		{name: "mongo", value: "mongodb://user:pw@db:27017/mongotron", schemes: []string{"mongodb", "mongodb+srv"}},
		{name: "mongo replica set", value: "mongodb://a:27017,b:27017/?replicaSet=rs0", schemes: []string{"mongodb"}},
		{name: "optional empty", optional: true, schemes: []string{"http"}},
		{name: "required empty", schemes: []string{"http"}, wantErr: "config: x is required"},
		{name: "wrong scheme", value: "http://nats:4222", schemes: []string{"nats", "tls"}, wantErr: `config: x: scheme "http": want nats or tls`},
		{name: "no host", value: "http:///path", schemes: []string{"http"}, wantErr: "config: x: no host"},
		{name: "not a URL hides the value", value: "mongodb://u:se cret@%zz", schemes: []string{"mongodb"}, wantErr: "config: x: not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := config.CheckURL("x", tc.value, tc.optional, tc.schemes...)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

// renamed is a configuration whose flags were renamed: the old names are
// deprecated aliases.
type renamed struct {
	Timeout time.Duration
	Verbose bool
	Addr    string
}

func (c *renamed) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Timeout, "connect-timeout", 10*time.Second, "how long to try reaching the dependencies")
	config.Renamed(fs, "start-timeout", "connect-timeout")
	fs.BoolVar(&c.Verbose, "log.verbose", false, "log more")
	config.Renamed(fs, "verbose", "log.verbose")
	fs.StringVar(&c.Addr, "http.addr", ":80", "listen `address`")
	config.Renamed(fs, "addr", "http.addr")
	config.Renamed(fs, "listen", "http.addr")
}

func TestRenamed(t *testing.T) {
	t.Parallel()
	defaults := renamed{Timeout: 10 * time.Second, Addr: ":80"}
	tests := []struct {
		name    string
		args    []string
		env     []string
		opts    []config.Option
		want    renamed
		wantDep []config.Deprecation
		wantErr string
	}{
		{name: "no alias used", want: defaults},
		{
			name:    "old flag sets the new one",
			args:    []string{"--start-timeout", "3s", "--verbose"},
			want:    renamed{Timeout: 3 * time.Second, Verbose: true, Addr: ":80"},
			wantDep: []config.Deprecation{{Old: "--start-timeout", New: "--connect-timeout"}, {Old: "--verbose", New: "--log.verbose"}},
		},
		{
			name:    "old variable sets the new flag",
			env:     []string{"MONGOTRON_START_TIMEOUT=4s", "MONGOTRON_VERBOSE=true"},
			want:    renamed{Timeout: 4 * time.Second, Verbose: true, Addr: ":80"},
			wantDep: []config.Deprecation{{Old: "MONGOTRON_START_TIMEOUT", New: "MONGOTRON_CONNECT_TIMEOUT"}, {Old: "MONGOTRON_VERBOSE", New: "MONGOTRON_LOG_VERBOSE"}},
		},
		{
			name: "new variable wins over the old, in either order",
			env:  []string{"MONGOTRON_START_TIMEOUT=4s", "MONGOTRON_CONNECT_TIMEOUT=5s", "MONGOTRON_LISTEN=:2", "MONGOTRON_HTTP_ADDR=:1", "MONGOTRON_ADDR=:3"},
			want: renamed{Timeout: 5 * time.Second, Addr: ":1"},
			wantDep: []config.Deprecation{
				{Old: "MONGOTRON_ADDR", New: "MONGOTRON_HTTP_ADDR", Ignored: true},
				{Old: "MONGOTRON_LISTEN", New: "MONGOTRON_HTTP_ADDR", Ignored: true},
				{Old: "MONGOTRON_START_TIMEOUT", New: "MONGOTRON_CONNECT_TIMEOUT", Ignored: true},
			},
		},
		{
			name:    "two old variables: the first by name applies",
			env:     []string{"MONGOTRON_LISTEN=:2", "MONGOTRON_ADDR=:3"},
			want:    renamed{Timeout: 10 * time.Second, Addr: ":3"},
			wantDep: []config.Deprecation{{Old: "MONGOTRON_ADDR", New: "MONGOTRON_HTTP_ADDR"}, {Old: "MONGOTRON_LISTEN", New: "MONGOTRON_HTTP_ADDR", Ignored: true}},
		},
		{
			name:    "old flag wins over the new variable",
			args:    []string{"--start-timeout=6s"},
			env:     []string{"MONGOTRON_CONNECT_TIMEOUT=5s"},
			want:    renamed{Timeout: 6 * time.Second, Addr: ":80"},
			wantDep: []config.Deprecation{{Old: "--start-timeout", New: "--connect-timeout"}},
		},
		{
			name:    "new flag wins over the old variable",
			args:    []string{"--connect-timeout=6s"},
			env:     []string{"MONGOTRON_START_TIMEOUT=5s"},
			want:    renamed{Timeout: 6 * time.Second, Addr: ":80"},
			wantDep: []config.Deprecation{{Old: "MONGOTRON_START_TIMEOUT", New: "MONGOTRON_CONNECT_TIMEOUT", Ignored: true}},
		},
		{
			name:    "both names on the command line",
			args:    []string{"--connect-timeout=6s", "--start-timeout=7s"},
			wantErr: "config: --connect-timeout and --start-timeout name the same setting: give only --connect-timeout",
		},
		{
			name:    "malformed old variable names the old flag",
			env:     []string{"MONGOTRON_START_TIMEOUT=soon"},
			wantErr: `config: MONGOTRON_START_TIMEOUT="soon": invalid duration value for flag --start-timeout`,
		},
		{
			name:    "malformed old flag",
			args:    []string{"--start-timeout=soon"},
			wantErr: `config: invalid value "soon" for flag -start-timeout`,
		},
		{
			name:    "in a namespace",
			env:     []string{"MONGOTRON_SIM_ADDR=:4", "MONGOTRON_ADDR=:5"},
			opts:    []config.Option{config.Namespace("MONGOTRON_SIM_")},
			want:    renamed{Timeout: 10 * time.Second, Addr: ":4"},
			wantDep: []config.Deprecation{{Old: "MONGOTRON_SIM_ADDR", New: "MONGOTRON_SIM_HTTP_ADDR"}},
		},
		{
			name:    "new name read from the command line only",
			env:     []string{"MONGOTRON_START_TIMEOUT=2s"},
			opts:    []config.Option{config.NoEnv("connect-timeout")},
			want:    renamed{Timeout: 2 * time.Second, Addr: ":80"},
			wantDep: []config.Deprecation{{Old: "MONGOTRON_START_TIMEOUT", New: "--connect-timeout"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got renamed
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got.RegisterFlags(fs)
			err := config.Load(fs, tc.args, tc.env, tc.opts...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantDep, config.Deprecated(fs))
		})
	}
}

func TestRenamed_withoutLoad(t *testing.T) {
	t.Parallel()
	var c renamed
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--addr", ":9", "--verbose"}))
	require.Equal(t, renamed{Timeout: 10 * time.Second, Verbose: true, Addr: ":9"}, c)
	require.Equal(t, []config.Deprecation{{Old: "--addr", New: "--http.addr"}, {Old: "--verbose", New: "--log.verbose"}}, config.Deprecated(fs))
}

func TestRenamed_mistakesPanic(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.Int("n", 0, "n")
	require.Panics(t, func() { config.Renamed(fs, "old", "missing") })
	config.Renamed(fs, "m", "n")
	require.Panics(t, func() { config.Renamed(fs, "l", "m") }, "an alias of an alias")
	require.Panics(t, func() { config.Renamed(fs, "m", "n") }, "a name taken")
}

func TestPrintFlags_renamed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []config.Option
		want string
	}{
		{
			name: "default keys",
			want: "  --addr address   (MONGOTRON_ADDR)\n" +
				"    \tDeprecated: use --http.addr (MONGOTRON_HTTP_ADDR) instead. This name is removed in the next release.\n" +
				"  --http.addr address   (MONGOTRON_HTTP_ADDR)\n    \tlisten address (default \":80\")\n" +
				"  --log-level string\n" +
				"    \tDeprecated: use --log.level instead. This name is removed in the next release.\n" +
				"  --log.level string   (MONGOTRON_LOG_LEVEL)\n    \tlevel (default \"info\")\n" +
				"  --verbose   (MONGOTRON_VERBOSE)\n" +
				"    \tDeprecated: use --log.verbose (MONGOTRON_LOG_VERBOSE) instead. This name is removed in the next release.\n" +
				"  --log.verbose   (MONGOTRON_LOG_VERBOSE)\n    \tlog more\n",
		},
		{
			name: "namespace",
			opts: []config.Option{config.Namespace("MONGOTRON_SIM_"), config.NoEnv("log.verbose", "verbose")},
			want: "  --addr address   (MONGOTRON_SIM_ADDR)\n" +
				"    \tDeprecated: use --http.addr (MONGOTRON_SIM_HTTP_ADDR) instead. This name is removed in the next release.\n" +
				"  --http.addr address   (MONGOTRON_SIM_HTTP_ADDR)\n    \tlisten address (default \":80\")\n" +
				"  --log-level string\n" +
				"    \tDeprecated: use --log.level instead. This name is removed in the next release.\n" +
				"  --log.level string   (MONGOTRON_SIM_LOG_LEVEL)\n    \tlevel (default \"info\")\n" +
				"  --verbose\n" +
				"    \tDeprecated: use --log.verbose instead. This name is removed in the next release.\n" +
				"  --log.verbose\n    \tlog more\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.String("http.addr", ":80", "listen `address`")
			config.Renamed(fs, "addr", "http.addr")
			fs.String("log.level", "info", "level")
			// log-level derives the variable log.level reads: that
			// variable was not renamed, so the old name has none.
			config.Renamed(fs, "log-level", "log.level")
			fs.Bool("log.verbose", false, "log more")
			config.Renamed(fs, "verbose", "log.verbose")
			var out strings.Builder
			config.PrintFlags(&out, fs, tc.opts...)
			// VisitAll sorts by name; compare the blocks as a set.
			require.ElementsMatch(t, blocks(tc.want), blocks(out.String()))
		})
	}
}

// blocks splits PrintFlags output into one string per flag.
func blocks(s string) []string {
	var out []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "  --") || len(out) == 0 {
			out = append(out, line)
			continue
		}
		out[len(out)-1] += line
	}
	return out
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     []string
		opts    []config.Option
		want    testConfig
		wantErr string
	}{
		{
			name: "reads the namespace's keys, ignores the others",
			env:  []string{"MONGOTRON_SIM_WORKERS=7", "MONGOTRON_WORKERS=9", "MONGOTRON_EDGE_ADDR=:1"},
			want: testConfig{URI: "mongodb://localhost", Timeout: 10 * time.Second, Workers: 7},
		},
		{
			name:    "an unknown key in the namespace is an error",
			env:     []string{"MONGOTRON_SIM_WORKRES=7"},
			wantErr: "config: unknown key MONGOTRON_SIM_WORKRES: no flag of this program reads it",
		},
		{
			name:    "even when ignored by a wider pattern",
			env:     []string{"MONGOTRON_SIM_WORKRES=7"},
			opts:    []config.Option{config.IgnoreKeys("MONGOTRON_SIM_*", "MONGOTRON_*")},
			wantErr: "config: unknown key MONGOTRON_SIM_WORKRES: no flag of this program reads it",
		},
		{
			name: "an empty value is a value",
			env:  []string{"MONGOTRON_SIM_MONGO_URI="},
			want: testConfig{Timeout: 10 * time.Second, Workers: 4},
		},
		{
			name:    "a namespace must end in an underscore",
			opts:    []config.Option{config.Namespace("MONGOTRON_SIM")},
			wantErr: `config: namespace "MONGOTRON_SIM": want MONGOTRON_SOMETHING_`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got testConfig
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got.RegisterFlags(fs)
			opts := append([]config.Option{config.Namespace("MONGOTRON_SIM_")}, tc.opts...)
			err := config.Load(fs, nil, tc.env, opts...)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
