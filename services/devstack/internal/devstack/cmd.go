package devstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/service"
)

// Exit statuses of [Main].
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Main runs the devstack command with args (without the program name)
// until ctx is done, and returns its exit status: 2 when the stack cannot
// start as configured (bad flags, a missing binary, a port in use), 1 when
// a part failed, 0 after a clean stop. The banner goes to stdout, logs to
// stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	cfg.RegisterFlags(fs)
	// The dev stack reads the command line only: the environment is
	// passed on to the children, whose settings it holds.
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	opts := []config.Option{config.NoEnv(names...)}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: devstack [flags]\n\nRuns NATS and FerretDB in process, and the Tron simulator, one ingest and\nN edges as child processes, until Ctrl-C.\n\nFlags:\n\n")
		config.PrintFlags(stderr, fs, opts...)
	}
	if err := config.Load(fs, args, nil, opts...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "devstack")
	service.WarnDeprecated(logger, fs)
	s, err := New(cfg, Options{Logger: logger, Logs: stderr})
	if err != nil {
		// One line, whatever the number of errors, each without the
		// prefix that the line already carries.
		msg := strings.TrimPrefix(err.Error(), "devstack: ")
		msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\ndevstack: ", "\n"), "\n", "; ")
		fmt.Fprintf(stderr, "devstack: %s\n", msg)
		return exitUsage
	}
	defer func() { _ = s.Close() }()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
		PrintBanner(stdout, s.Info())
		err = <-errc
	case err = <-errc:
	}
	if err != nil {
		logger.Error("dev stack failed", "err", err)
		return exitFailure
	}
	logger.Info("dev stack stopped")
	return exitOK
}

// PrintBanner writes what a developer needs to try the stack.
func PrintBanner(w io.Writer, info Info) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMongotron dev stack is ready.\n\n")
	for i, u := range info.EdgeURLs {
		fmt.Fprintf(&b, "  edge %d        %s\n", i+1, u)
	}
	fmt.Fprintf(&b, "  viewer        %s\n", ViewerURL(info))
	fmt.Fprintf(&b, "  ingest        %s/readyz\n", info.IngestURL)
	switch {
	case len(info.SimNodes) > 1:
		for i, n := range info.SimNodes {
			label := ""
			if i == 0 {
				label = "tron (sim)"
			}
			fmt.Fprintf(&b, "  %-12s  node %d  %s  %s  (ingest reads %s)\n", label, i+1, n.HTTP, n.GRPC, info.TronNodeURLs[i])
		}
		fmt.Fprintf(&b, "                POST /sim/mine, /sim/reorg; GET /sim/status; GET or POST /sim/faults on a node's http URL sets its faults\n")
	case info.SimURL != "":
		fmt.Fprintf(&b, "  tron (sim)    %s  (POST /sim/mine, /sim/reorg; GET /sim/status)\n", info.SimURL)
		if len(info.SimNodes) == 1 {
			fmt.Fprintf(&b, "                %s  (gRPC)\n", info.SimNodes[0].GRPC)
		}
	default:
		fmt.Fprintf(&b, "  tron node     %s\n", info.TronNodeURL)
	}
	fmt.Fprintf(&b, "  nats          %s\n", info.NATSURL)
	fmt.Fprintf(&b, "  mongodb       %s\n", info.MongoURI)
	fmt.Fprintf(&b, "\n  admin key     %s\n", info.AdminKey)
	fmt.Fprintf(&b, "  api key       %s  (tenant %s)\n", info.Demo.APIKey, info.Demo.Tenant)
	fmt.Fprintf(&b, "  subscription  %s", info.Demo.SubscriptionID)
	if len(info.Demo.Addresses) > 0 {
		fmt.Fprintf(&b, "  (confirmations 0, watching %s)\n", strings.Join(info.Demo.Addresses, " "))
	} else {
		fmt.Fprintf(&b, "  (confirmations 0, every TRC20 transfer)\n")
	}
	fmt.Fprintf(&b, "\nTry:\n\n  %s\n", TailCommand(info))
	fmt.Fprintf(&b, "  open %s in a browser: the live viewer (paste the api key, pick the subscription)\n", ViewerURL(info))
	fmt.Fprintf(&b, "  curl -H 'Authorization: Bearer %s' '%s/v1/subscriptions/%s/events?limit=5'\n",
		info.Demo.APIKey, info.EdgeURLs[0], info.Demo.SubscriptionID)
	fmt.Fprintf(&b, "\nCtrl-C stops everything; the data stays in the data directory for the next run.\n\n")
	_, _ = io.WriteString(w, b.String())
}

// ViewerURL is the address of the web viewer the first edge serves.
func ViewerURL(info Info) string { return info.EdgeURLs[0] + "/" }

// TailCommand is the mongotron command line that streams the demo
// subscription from the first edge.
func TailCommand(info Info) string {
	return fmt.Sprintf("bin/mongotron tail --url %s --api-key %s %s", info.EdgeURLs[0], info.Demo.APIKey, info.Demo.SubscriptionID)
}
