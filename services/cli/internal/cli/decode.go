package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/decode"
	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/service"
	"github.com/mongotron/mongotron/pkg/tron"
)

// decodeConfig is the configuration of `mongotron decode`.
type decodeConfig struct {
	// Node is the base URL of a Tron full node: its HTTP API (http,
	// https) or its gRPC API (grpc, grpcs); see tron.ClientConfig.BaseURL.
	// Empty means offline: Block and TxInfo are read instead.
	Node string
	// APIKey is sent to Node as TRON-PRO-API-KEY. Empty sends none.
	APIKey string
	// Timeout bounds one request to Node. Zero means the client's 10s.
	Timeout time.Duration
	// From and To are the inclusive range of blocks to decode; see
	// fromSet and toSet.
	From, To int64
	// Follow decodes new blocks as they come, until interrupted.
	Follow bool
	// PollInterval is how often Follow asks for the head. Zero means 1s.
	PollInterval time.Duration

	// Block is a saved block file: a getblockbynum answer (JSON) or a
	// GetBlockByNum2 answer (protobuf BlockExtention, binary or hex).
	// Empty means none.
	Block string
	// TxInfo is a transaction info file in one of the three shapes
	// readTxInfos accepts. Empty means none.
	TxInfo string

	// Network is written into events and picks the token table. Empty
	// means mainnet.
	Network string
	// Pretty indents the JSON for people.
	Pretty bool

	// fromSet and toSet say whether --from and --to were given, since 0
	// is a valid block number.
	fromSet, toSet bool
}

// registerFlags registers the flags of decode on fs.
func (c *decodeConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Node, "node", "", "Tron full node `URL`: HTTP API, e.g. http://127.0.0.1:8090 or https://api.trongrid.io,\nor gRPC, e.g. grpc://127.0.0.1:50051 or grpcs://grpc.trongrid.io:50051")
	fs.StringVar(&c.APIKey, "api-key", "", "TronGrid API `key`, sent as TRON-PRO-API-KEY (over gRPC, as metadata)")
	fs.DurationVar(&c.Timeout, "timeout", 0, "timeout of one request to the node (0: 10s); failed requests are retried")
	fs.Int64Var(&c.From, "from", 0, "decode from block `N`; alone, only block N; with --follow, start there rather than at the head")
	fs.Int64Var(&c.To, "to", 0, "decode up to block `M`, inclusive; needs --from")
	fs.BoolVar(&c.Follow, "follow", false, "decode each new block as the node gets it, in order, until interrupted")
	fs.DurationVar(&c.PollInterval, "poll-interval", time.Second, "how often --follow asks the node for its head")
	fs.StringVar(&c.Block, "block", "", "offline: a `file` holding a getblockbynum answer (JSON) or a GetBlockByNum2 answer\n(protobuf BlockExtention, binary or hex text with or without 0x)")
	fs.StringVar(&c.TxInfo, "txinfo", "", "offline: a `file` holding a gettransactioninfobyid answer, a gettransactioninfobyblocknum array,\nor an object mapping transaction ids to gettransactioninfobyid answers")
	fs.StringVar(&c.Network, "network", tron.NetworkMainnet, "network name written into events; picks the token table: mainnet, nile or shasta")
	fs.BoolVar(&c.Pretty, "pretty", false, "indent the JSON for people (the output is then no longer one event per line)")
}

// decodeOptions map decode's flags to the environment: the node and its
// key share the daemons' keys, per-run flags have none, and the daemons'
// other keys are ignored so one environment serves all.
func decodeOptions() []config.Option {
	return []config.Option{
		config.EnvAlias("node", "MONGOTRON_TRON_NODE_URL"),
		config.EnvAlias("api-key", "MONGOTRON_TRON_API_KEY"),
		config.NoEnv("from", "to", "follow", "poll-interval", "timeout", "block", "txinfo", "pretty"),
		config.IgnoreKeys(config.EnvPrefix + "*"),
	}
}

func (c *decodeConfig) validate() error {
	var errs []error
	if !slices.Contains([]string{tron.NetworkMainnet, tron.NetworkNile, tron.NetworkShasta}, c.Network) {
		errs = append(errs, fmt.Errorf("--network %q: want mainnet, nile or shasta", c.Network))
	}
	offline := c.Block != "" || c.TxInfo != ""
	online := c.fromSet || c.toSet || c.Follow
	switch {
	case offline && online:
		errs = append(errs, errors.New("--block and --txinfo decode files; they do not go with --from, --to or --follow"))
	case !offline && !online:
		errs = append(errs, errors.New("nothing to decode: give --from/--to or --follow with --node, or --block and/or --txinfo"))
	case online && c.Node == "":
		errs = append(errs, errors.New("--from, --to and --follow need --node (or MONGOTRON_TRON_NODE_URL)"))
	}
	if c.Node != "" {
		if err := config.CheckURL("--node", c.Node, false, "http", "https", "grpc", "grpcs"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.toSet && !c.fromSet {
		errs = append(errs, errors.New("--to needs --from"))
	}
	if c.fromSet && c.From < 0 {
		errs = append(errs, fmt.Errorf("--from %d is negative", c.From))
	}
	if c.fromSet && c.toSet && c.From > c.To {
		errs = append(errs, fmt.Errorf("--from %d is after --to %d", c.From, c.To))
	}
	if c.Follow && c.toSet {
		errs = append(errs, errors.New("--follow has no end: drop --to"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("--poll-interval %s: want a positive duration", c.PollInterval))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %s is negative", c.Timeout))
	}
	return config.Join(errs...)
}

const decodeUsage = `Usage:
  mongotron decode --node URL --from N [--to M]     blocks N to M (inclusive)
  mongotron decode --node URL --follow [--from N]   new blocks as they come
  mongotron decode --block FILE [--txinfo FILE]     a saved block
  mongotron decode --txinfo FILE                    saved transaction infos

Prints the events of Tron blocks, one JSON object per line in chain order
(block, transaction, index), in the shape of the public event (docs/api.md)
without the subscription fields.

--block takes a getblockbynum answer (JSON) or a node's raw gRPC answer to
GetBlockByNum2 (a protobuf BlockExtention, binary or hex text, with or
without 0x). A block alone gives what it tells without its transaction
infos: transfers and calls, no logs. With --txinfo, the infos must be those of the block.
--txinfo alone gives what the infos alone tell (TRC20 transfers, approvals,
other logs). In a gettransactioninfobyblocknum array an info's position is
its transaction's tx_index; a single answer, or an object mapping ids to
answers, gives tx_index -1, and the latter is decoded in order of block
number, then transaction id.

--follow starts at the node's head (or at --from), decodes every block once,
in order, fetching any it missed between two polls, and stops cleanly on
Ctrl-C. Node failures are reported and retried. It does not retract events
when the chain reorganises; it says so on stderr.

Exit status: 0 done; 1 the node failed (after retries) or output failed;
2 bad input: flags, unreadable or malformed files, a block that fails its
id checks, --from after --to.

Flags (the environment variable shown is read when the flag is not given):

`

func runDecode(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var cfg decodeConfig
	fs := flag.NewFlagSet("mongotron decode", flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfg.registerFlags(fs)
	opts := decodeOptions()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), decodeUsage)
		config.PrintFlags(fs.Output(), fs, opts...)
	}
	if err := config.Load(fs, args, environ, opts...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return service.ExitOK
		}
		return exit(stderr, "decode", usageError{err})
	}
	fs.Visit(func(f *flag.Flag) {
		cfg.fromSet = cfg.fromSet || f.Name == "from"
		cfg.toSet = cfg.toSet || f.Name == "to"
	})
	if err := cfg.validate(); err != nil {
		return exit(stderr, "decode", usageError{err})
	}
	return exit(stderr, "decode", decodeMain(ctx, cfg, stdout, stderr))
}

func decodeMain(ctx context.Context, cfg decodeConfig, stdout, stderr io.Writer) error {
	out := newEventWriter(stdout, cfg.Pretty)
	// Recorded and historical blocks may lack some infos (a recording
	// made without them, a pruned node): decode what there is, from the
	// block alone where needed. Only following the head waits for them.
	dec := decode.NewDecoder(decode.DecoderConfig{Network: cfg.Network, PartialInfos: !cfg.Follow})
	if cfg.Node == "" || cfg.Block != "" || cfg.TxInfo != "" {
		return decodeFiles(dec, cfg.Block, cfg.TxInfo, out)
	}
	client, err := tron.NewClient(tron.ClientConfig{BaseURL: cfg.Node, APIKey: cfg.APIKey, Timeout: cfg.Timeout})
	if err != nil {
		return usageError{err}
	}
	// Close drops idle HTTP connections or closes the gRPC one; its error
	// changes nothing at exit.
	defer func() { _ = client.Close() }()
	f := &fetcher{client: client, dec: dec, out: out, stderr: stderr, partialInfos: !cfg.Follow}
	if cfg.Follow {
		start := int64(-1)
		if cfg.fromSet {
			start = cfg.From
		}
		return f.follow(ctx, start, cfg.PollInterval)
	}
	to := cfg.From
	if cfg.toSet {
		to = cfg.To
	}
	return f.rangeBlocks(ctx, cfg.From, to)
}

// eventWriter writes events as JSON, buffered; flush after each block so
// that a follower sees events as they come.
type eventWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func newEventWriter(w io.Writer, pretty bool) *eventWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	return &eventWriter{w: bw, enc: enc}
}

func (e *eventWriter) write(evs []event.Event) error {
	for i := range evs {
		if err := e.enc.Encode(&evs[i]); err != nil {
			return writeError{err}
		}
	}
	return nil
}

func (e *eventWriter) flush() error {
	if err := e.w.Flush(); err != nil {
		return writeError{err}
	}
	return nil
}

// writeError is a failure to write the output, which asking the node again
// does not mend.
type writeError struct{ err error }

func (e writeError) Error() string { return "writing events: " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }
