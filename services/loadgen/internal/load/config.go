// Package load is the load generator behind the loadgen command: it opens
// many WebSocket streams to an edge and measures what arrives, so the
// edge's figures are not mixed with the clients' own CPU and memory.
package load

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mongotron/mongotron/pkg/cursor"
)

// Mode is what the streams do once connected.
type Mode string

// Modes.
const (
	// ModeFanout reads live events and measures publish→client latency
	// from the sent_ns field of each event's data.
	ModeFanout Mode = "fanout"
	// ModeIdle holds the streams open (answering pings) and reads
	// whatever arrives without measuring it.
	ModeIdle Mode = "idle"
	// ModeReplay resumes after a cursor and measures how fast the stored
	// events arrive, stopping after Config.Expect of them.
	ModeReplay Mode = "replay"
	// ModeStorm resumes every stream after Config.After and redials each
	// stream as soon as it ends, measuring how long until every stream
	// has its hello again ([StormRound]); [Generator.Drop] cuts them all
	// at once.
	ModeStorm Mode = "storm"
)

// Defaults of [Config]'s zero values.
const (
	DefaultStreams            = 1
	DefaultLocalAddrs         = 50
	DefaultConnectRate        = 1000
	DefaultConnectConcurrency = 64
	DefaultProgressInterval   = time.Second
	DefaultDialAttempts       = 5
	DefaultHandshakeTimeout   = 30 * time.Second
	DefaultRedialMax          = time.Second
)

// Config configures a [Generator].
type Config struct {
	// URL is the edge's base URL (http://host:port); streams go to
	// /v1/subscriptions/{id}/stream under it. It is required.
	URL string
	// Key is the tenant API key sent as Authorization: Bearer. It is
	// required.
	Key string
	// Subscriptions are the subscription ids; stream i goes to
	// Subscriptions[i % len]. At least one is required.
	Subscriptions []string
	// Mode is what the streams do; empty means [ModeFanout].
	Mode Mode
	// Protocol is what the streams speak: empty means [ProtocolEdge];
	// with [ProtocolCentrifugo], Key is the connection JWT and
	// Subscriptions are channels.
	Protocol Protocol

	// Streams is how many streams to open. Zero means [DefaultStreams].
	Streams int
	// LocalAddrs is how many source addresses the streams are spread
	// over, 127.0.0.2 up to 127.0.0.(1+LocalAddrs), round-robin, so tens
	// of thousands of streams do not run out of one address's ephemeral
	// ports. Zero means [DefaultLocalAddrs]; negative lets the kernel
	// choose (127.0.0.1).
	LocalAddrs int
	// ConnectRate is how many streams are opened per second. Zero means
	// [DefaultConnectRate].
	ConnectRate float64
	// ConnectConcurrency bounds the handshakes in flight. Zero means
	// [DefaultConnectConcurrency].
	ConnectConcurrency int
	// DialAttempts is how often a failed dial is tried before the stream
	// counts as failed. Zero means [DefaultDialAttempts].
	DialAttempts int

	// RedialMax caps a storm stream's delay between redial attempts
	// (doubling from 50 ms, jittered). Zero means [DefaultRedialMax]:
	// short, so that the figures are the edge's rather than the
	// clients' backoff.
	RedialMax time.Duration

	// Duration is how long to run once every stream is up (fanout and
	// idle). Zero means until the context ends (SIGINT or SIGTERM for the
	// command).
	Duration time.Duration
	// After is the cursor a replay resumes after; empty means the zero
	// cursor, i.e. everything stored. Other modes stream live events
	// only.
	After string
	// Expect is how many events a replay waits for before it stops. Zero
	// means it stops after Duration or when the context ends.
	Expect int

	// Progress receives a progress line every ProgressInterval, and the
	// line "loadgen: ready …" once every stream is up or has failed (the
	// edgebench harness waits for it). Nil discards them.
	Progress io.Writer
	// ProgressInterval is how often a progress line is written. Zero
	// means [DefaultProgressInterval].
	ProgressInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeFanout
	}
	if c.Streams == 0 {
		c.Streams = DefaultStreams
	}
	if c.LocalAddrs == 0 {
		c.LocalAddrs = DefaultLocalAddrs
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = DefaultConnectRate
	}
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = DefaultConnectConcurrency
	}
	if c.DialAttempts == 0 {
		c.DialAttempts = DefaultDialAttempts
	}
	if c.RedialMax == 0 {
		c.RedialMax = DefaultRedialMax
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Mode == ModeReplay && c.After == "" {
		c.After = cursor.Cursor{}.String()
	}
	return c
}

// RegisterFlags registers the generator's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "edge base `URL`")
	fs.StringVar(&c.Key, "key", "", "tenant API `key`")
	fs.Func("subs", "comma-separated subscription `ids` (streams are spread over them round-robin)", func(s string) error {
		for id := range strings.SplitSeq(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.Subscriptions = append(c.Subscriptions, id)
			}
		}
		return nil
	})
	fs.StringVar((*string)(&c.Mode), "mode", string(ModeFanout), "fanout (measure live latency), idle (hold streams), replay (measure replay rate) or storm (resume after -after, redial at once, SIGUSR1 drops every stream)")
	fs.StringVar((*string)(&c.Protocol), "protocol", string(ProtocolEdge), "edge, or centrifugo (fanout and idle: -key is a connection JWT, -subs are channels)")
	fs.IntVar(&c.Streams, "streams", DefaultStreams, "streams to open")
	fs.IntVar(&c.LocalAddrs, "local-addrs", DefaultLocalAddrs, "source addresses 127.0.0.2… to spread streams over (negative: 127.0.0.1)")
	fs.Float64Var(&c.ConnectRate, "connect-rate", DefaultConnectRate, "streams opened per second")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", DefaultConnectConcurrency, "handshakes in flight")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run once all streams are up (0: until SIGINT/SIGTERM)")
	fs.StringVar(&c.After, "after", "", "replay, storm: `cursor` to resume after (replay default: the zero cursor)")
	fs.DurationVar(&c.RedialMax, "redial-max", DefaultRedialMax, "storm: longest delay between redial attempts")
	fs.IntVar(&c.Expect, "expect", 0, "replay: stop after this many events")
	fs.DurationVar(&c.ProgressInterval, "progress", DefaultProgressInterval, "progress line interval on stderr")
}

// Validate reports every invalid value at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("load: url %q is not an http(s) URL", c.URL))
	}
	if c.Key == "" {
		errs = append(errs, errors.New("load: key is required"))
	}
	if len(c.Subscriptions) == 0 {
		errs = append(errs, errors.New("load: at least one subscription is required"))
	}
	switch c.Mode {
	case "", ModeFanout, ModeIdle, ModeReplay, ModeStorm:
	default:
		errs = append(errs, fmt.Errorf("load: mode %q is not fanout, idle, replay or storm", c.Mode))
	}
	if c.Streams < 0 || c.ConnectRate < 0 || c.ConnectConcurrency < 0 || c.Expect < 0 || c.DialAttempts < 0 || c.RedialMax < 0 {
		errs = append(errs, errors.New("load: streams, connect-rate, connect-concurrency, dial attempts, redial-max and expect must not be negative"))
	}
	errs = append(errs, c.validateProtocol())
	if c.LocalAddrs > 253 {
		errs = append(errs, fmt.Errorf("load: local-addrs %d passes 127.0.0.254", c.LocalAddrs))
	}
	if c.After != "" {
		if _, err := cursor.Parse(c.After); err != nil {
			errs = append(errs, fmt.Errorf("load: after: %w", err))
		}
	}
	return errors.Join(errs...)
}
