// Command gendocs writes docs/configuration.md from the --help of every
// Mongotron binary, which it builds with the go command. Run it from the
// repository (`make docs` does):
//
//	go run ./services/devstack/cmd/gendocs
//
// With --check it writes nothing and exits 1 when the file is out of date,
// as the gendocs package's test does.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/mongotron/mongotron/services/devstack/internal/gendocs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gendocs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "the repository's `directory` (where go.work is)")
	check := fs.Bool("check", false, "write nothing; exit 1 if docs/configuration.md is out of date")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if _, err := os.Stat(filepath.Join(*root, "go.work")); err != nil {
		fmt.Fprintf(stderr, "gendocs: %s is not the repository root (no go.work); run it there or pass --root\n", *root)
		return 2
	}
	h, err := gendocs.Collect(ctx, *root)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	page, err := gendocs.Render(h)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	path := filepath.Join(*root, gendocs.ConfigurationPath)
	if *check {
		old, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(old, page) {
			fmt.Fprintf(stderr, "gendocs: %s is out of date; run make docs\n", gendocs.ConfigurationPath)
			return 1
		}
		fmt.Fprintf(stdout, "%s is up to date\n", gendocs.ConfigurationPath)
		return 0
	}
	if err := os.WriteFile(path, page, 0o644); err != nil { //nolint:gosec // a docs page of the repository, world-readable like every file in git //nolint:gosec // G306: a file of the repository, read by everyone
		fmt.Fprintf(stderr, "gendocs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", gendocs.ConfigurationPath)
	return 0
}
