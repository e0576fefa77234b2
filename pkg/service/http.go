package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults of [HTTPConfig]'s zero fields.
const (
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	// DefaultMaxHeaderBytes is far below net/http's 1 MiB: our requests
	// carry a bearer token and little else.
	DefaultMaxHeaderBytes = 64 << 10
)

// HTTPConfig configures [Listen]. Only Addr and ShutdownTimeout have flags;
// the other fields are for code that needs to tune them.
type HTTPConfig struct {
	// Addr is the listen address, host:port. Empty means ":http" (port 80);
	// a port of 0 picks a free one, see [HTTPServer.Addr].
	Addr string

	// ShutdownTimeout bounds how long [HTTPServer.Serve] waits for
	// requests in flight once its context is done. Zero means
	// [DefaultShutdownTimeout].
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers. Zero means
	// [DefaultReadHeaderTimeout].
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Zero
	// means [DefaultReadTimeout].
	ReadTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. Zero means [DefaultIdleTimeout].
	IdleTimeout time.Duration
}

// RegisterFlags registers http.addr and shutdown-timeout on fs. The values
// c holds are the flags' defaults, so a service sets its own default
// address before calling it; a zero ShutdownTimeout registers
// [DefaultShutdownTimeout].
func (c *HTTPConfig) RegisterFlags(fs *flag.FlagSet) {
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	fs.StringVar(&c.Addr, "http.addr", c.Addr, "`address` (host:port) the HTTP server listens on")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to wait for requests in flight on SIGTERM before closing them")
}

// Validate checks the address and that no timeout is negative.
func (c HTTPConfig) Validate() error {
	var errs []error
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("service: http.addr %q: %w", c.Addr, err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"shutdown-timeout", c.ShutdownTimeout},
		{"read header timeout", c.ReadHeaderTimeout},
		{"read timeout", c.ReadTimeout},
		{"idle timeout", c.IdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("service: %s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// NewServer returns an http.Server for h with every read timeout of cfg
// set, since a zero http.Server has none. WriteTimeout stays unset: it
// would cut long-lived responses such as WebSocket streams, which set
// their own write deadlines.
func NewServer(cfg HTTPConfig, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// HTTPServer is an http.Server bound to its listener, so that its address
// is known before it serves.
type HTTPServer struct {
	srv             *http.Server
	ln              net.Listener
	shutdownTimeout time.Duration
}

// Listen binds cfg.Addr and returns a server for h, built by [NewServer],
// ready to [HTTPServer.Serve]. The caller must call Serve, or Close if it
// gives up before.
func Listen(cfg HTTPConfig, h http.Handler, logger *slog.Logger) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("service: listen: %w", err)
	}
	return &HTTPServer{
		srv:             NewServer(cfg, h, logger),
		ln:              ln,
		shutdownTimeout: orDefault(cfg.ShutdownTimeout, DefaultShutdownTimeout),
	}, nil
}

// Addr returns the address the server listens on, with the port chosen
// when the configured one was 0.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Server returns the underlying server, for RegisterOnShutdown hooks. Its
// fields must not change once Serve has started.
func (s *HTTPServer) Server() *http.Server { return s.srv }

// Serve serves until ctx is done, then shuts down gracefully, waiting at
// most the configured shutdown timeout for requests in flight before
// closing them. It returns nil after a graceful stop, and an error when
// serving failed or the shutdown timed out.
func (s *HTTPServer) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("service: serve: %w", err)
	case <-ctx.Done():
	}
	// The parent is done, so the shutdown needs a context of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("service: shutdown after %s: %w", s.shutdownTimeout, err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("service: serve: %w", serr)
	}
	return err
}

// Close closes the listener of a server whose Serve was never called.
func (s *HTTPServer) Close() error { return s.ln.Close() }

// Healthz returns the liveness handler: 200 with {"status":"ok"} while the
// process serves HTTP at all.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}
