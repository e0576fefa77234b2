// Command seed writes a large synthetic history into a Mongotron store,
// as the ingest would have: N events (default 1,000,000) over M
// subscriptions (default 1,000), the first of which holds a long history
// (--heavy-events), owned by one API key that it prints. Events are
// valid event JSON with their cursors and prev_cursor links, stored with
// their history pages and heads, so an edge serves them at once: REST
// history, `mongotron history`, stream and webhook replay.
//
//	go run ./services/devstack/cmd/seed --mongo.uri mongodb://127.0.0.1:27017/mongotron
//
// The same --seed writes the same data; run again, it continues where a
// run stopped and writes nothing once all is there. Flags may be set from
// MONGOTRON_SEED_<FLAG>; --mongo.uri from MONGOTRON_MONGO_URI and
// --api-key from MONGOTRON_API_KEY too. `make bench-scale` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/services/devstack/internal/seed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var cfg seed.Config
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("mongo.uri", "mongodb://127.0.0.1:27017/mongotron", "MongoDB connection `URI`; its path names the database")
	cfg.RegisterFlags(fs)
	err := config.Load(fs, args, environ,
		config.Namespace("MONGOTRON_SEED_"),
		config.EnvAlias("mongo.uri", "MONGOTRON_MONGO_URI"),
		config.EnvAlias("api-key", "MONGOTRON_API_KEY"))
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "seed: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 2
	}
	cs, err := connstring.ParseAndValidate(*uri)
	if err != nil {
		fmt.Fprintf(stderr, "seed: --mongo.uri: %v\n", err)
		return 2
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = seed.DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(*uri))
	if err != nil {
		fmt.Fprintf(stderr, "seed: %v\n", err)
		return 1
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()
	cfg.Progress = stderr
	s, err := seed.New(cfg, client.Database(dbName))
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 2
	}
	p := s.Plan()
	fmt.Fprintf(stderr, "seed: %d events over %d subscriptions (the first holds %d) into %s\n", p.Events, p.Subscriptions, p.Count(0), redact(*uri))
	res, err := s.Run(ctx)
	fmt.Fprintf(stdout, "tenant        %s\n", res.Tenant)
	fmt.Fprintf(stdout, "api key       %s  (%s)\n", res.APIKey, res.KeyID)
	fmt.Fprintf(stdout, "heavy sub     %s  (%d events)\n", p.SubscriptionID(0), p.Count(0))
	if p.Subscriptions > 1 {
		fmt.Fprintf(stdout, "another sub   %s  (%d events)\n", p.SubscriptionID(1), p.Count(1))
	}
	fmt.Fprintf(stdout, "written       %d events in %s: %.0f events/s (%d were there already)\n",
		res.Written, res.Elapsed.Round(time.Millisecond), res.Rate(), res.Skipped)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	return 0
}

// redact hides a password in a URI.
func redact(uri string) string {
	at := strings.LastIndex(uri, "@")
	scheme := strings.Index(uri, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return uri
	}
	return uri[:scheme+3] + "…" + uri[at:]
}
