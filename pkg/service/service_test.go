package service_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewServer_timeouts(t *testing.T) {
	t.Parallel()
	srv := service.NewServer(service.HTTPConfig{Addr: ":0"}, http.NotFoundHandler(), logging.Discard())
	require.Equal(t, service.DefaultReadHeaderTimeout, srv.ReadHeaderTimeout)
	require.Equal(t, service.DefaultReadTimeout, srv.ReadTimeout)
	require.Equal(t, service.DefaultIdleTimeout, srv.IdleTimeout)
	require.Positive(t, srv.MaxHeaderBytes)

	srv = service.NewServer(service.HTTPConfig{ReadHeaderTimeout: time.Second}, http.NotFoundHandler(), logging.Discard())
	require.Equal(t, time.Second, srv.ReadHeaderTimeout)
}

func TestHTTPConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     service.HTTPConfig
		wantErr string
	}{
		{name: "zero"},
		{name: "port only", cfg: service.HTTPConfig{Addr: ":8080"}},
		{name: "host and port", cfg: service.HTTPConfig{Addr: "127.0.0.1:0", ShutdownTimeout: time.Second}},
		{name: "no port", cfg: service.HTTPConfig{Addr: "8080"}, wantErr: `service: http.addr "8080"`},
		{name: "negative", cfg: service.HTTPConfig{ShutdownTimeout: -time.Second}, wantErr: "service: shutdown-timeout -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestHTTPServer_Serve(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", service.Healthz())
	s, err := service.Listen(service.HTTPConfig{Addr: "127.0.0.1:0"}, mux, logging.Discard())
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestHTTPServer_Serve_shutdownTimeout(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})
	s, err := service.Listen(service.HTTPConfig{Addr: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond}, h, logging.Discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	var wg sync.WaitGroup
	wg.Go(func() {
		resp, err := http.Get("http://" + s.Addr().String() + "/")
		if err == nil {
			_ = resp.Body.Close()
		}
	})
	<-entered
	cancel()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "service: shutdown after 50ms")
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not give up after the shutdown timeout")
	}
	close(release)
	wg.Wait()
	http.DefaultClient.CloseIdleConnections()
}

type rootConfig struct {
	Log  logging.Config
	HTTP service.HTTPConfig
	Name string
}

func (c *rootConfig) RegisterFlags(fs *flag.FlagSet) {
	c.HTTP.Addr = ":9999"
	c.HTTP.RegisterFlags(fs)
	c.Log.RegisterFlags(fs)
	fs.StringVar(&c.Name, "name", "x", "a name")
	config.Renamed(fs, "title", "name")
}

func (c *rootConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	return errors.Join(append(errs, c.HTTP.Validate(), c.Log.Validate())...)
}

func TestMain_exitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		env        []string
		runErr     error
		want       int
		wantStderr string
		wantRun    bool
	}{
		{name: "runs", want: service.ExitOK, wantRun: true, wantStderr: `"msg":"running"`},
		{name: "shared env keys accepted", env: []string{"MONGOTRON_NATS_URL=nats://x", "MONGOTRON_TRON_API_KEY=k"}, want: service.ExitOK, wantRun: true},
		{name: "help", args: []string{"--help"}, want: service.ExitOK, wantStderr: "--http.addr address   (MONGOTRON_HTTP_ADDR)"},
		{name: "run fails", runErr: errors.New("boom"), want: service.ExitFailure, wantRun: true, wantStderr: `"err":"boom"`},
		{name: "bad flag", args: []string{"--nope"}, want: service.ExitUsage, wantStderr: "svc: config: flag provided but not defined: -nope\n"},
		{name: "unknown env key", env: []string{"MONGOTRON_NAEM=y"}, want: service.ExitUsage, wantStderr: "svc: config: unknown key MONGOTRON_NAEM"},
		{name: "malformed env value", env: []string{"MONGOTRON_SHUTDOWN_TIMEOUT=1"}, want: service.ExitUsage, wantStderr: `MONGOTRON_SHUTDOWN_TIMEOUT="1"`},
		{name: "help shows the deprecated name and ends with Help", args: []string{"--help"}, want: service.ExitOK, wantStderr: "  --title string   (MONGOTRON_TITLE)\n    \tDeprecated: use --name (MONGOTRON_NAME) instead. This name is removed in the next release.\n\nMore help.\n"},
		{name: "deprecated flag warns", args: []string{"--title=y"}, want: service.ExitOK, wantRun: true, wantStderr: `"level":"WARN","msg":"deprecated setting name; it is removed in the next release","name":"--title","use":"--name"}`},
		{name: "deprecated variable warns", env: []string{"MONGOTRON_TITLE=y"}, want: service.ExitOK, wantRun: true, wantStderr: `"name":"MONGOTRON_TITLE","use":"MONGOTRON_NAME"}`},
		{name: "deprecated variable ignored warns", env: []string{"MONGOTRON_TITLE=y", "MONGOTRON_NAME=z"}, want: service.ExitOK, wantRun: true, wantStderr: `"name":"MONGOTRON_TITLE","use":"MONGOTRON_NAME","ignored":true}`},
		{name: "all validation errors on one line", args: []string{"--name=", "--log.level=loud", "--http.addr=80"}, want: service.ExitUsage, wantStderr: `svc: name is empty; service: http.addr "80": address 80: missing port in address; logging: log.level "loud": want debug, info, warn or error` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg rootConfig
			var stderr strings.Builder
			ran := false
			p := service.Program{
				Name:    "svc",
				Help:    "More help.\n",
				Config:  &cfg,
				Logging: &cfg.Log,
				Run: func(_ context.Context, logger *slog.Logger) error {
					ran = true
					logger.Info("running", "addr", cfg.HTTP.Addr)
					return tc.runErr
				},
			}
			env := append([]string{"MONGOTRON_LOG_FORMAT=json"}, tc.env...)
			got := service.Main(t.Context(), p, tc.args, env, &stderr)
			require.Equal(t, tc.want, got, stderr.String())
			require.Equal(t, tc.wantRun, ran)
			require.Contains(t, stderr.String(), tc.wantStderr)
			if tc.want == service.ExitUsage {
				require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line: %q", stderr.String())
			}
		})
	}
}
