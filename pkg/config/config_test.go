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
