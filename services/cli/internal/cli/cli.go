// Package cli is the mongotron command: subcommand dispatch, exit
// statuses, and the commands themselves.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mongotron/mongotron/pkg/service"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{name: "decode", summary: "print the events of Tron blocks, from a node or from saved node answers", run: runDecode},
		{name: "keys", summary: "create and revoke API keys (admin key)", run: subcommands("keys", "Manage API keys with the admin key.", keysCommands())},
		{name: "subs", summary: "create, list, show, update and delete subscriptions", run: subcommands("subs", "Manage your subscriptions.", subsCommands())},
		{name: "addrs", summary: "add, remove and list a subscription's watched addresses", run: subcommands("addrs", "Manage a subscription's address set (up to 100,000 addresses).", addrsCommands())},
		{name: "tail", summary: "follow a subscription's events live, resuming across edge restarts", run: single(tailCommand())},
		{name: "history", summary: "print a subscription's stored events", run: single(historyCommand())},
		{name: "verify", summary: "check that a subscription's history is whole: every event names its predecessor", run: single(verifyCommand())},
	}
}

// Run runs the mongotron command line args (without the program name) with
// the environment environ, and returns the exit status: 0 on success, 1
// when a Tron node or an edge failed or the output could not be written, 2
// for bad input (flags, files, data), 3 when verify found a break in a
// subscription's events.
func Run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return service.ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return Run(ctx, []string{args[1], "--help"}, environ, stdout, stderr)
		}
		usage(stdout)
		return service.ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], environ, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mongotron: unknown command %q; run mongotron --help for the list\n", args[0])
	return service.ExitUsage
}

// single adapts one API command to the dispatch table.
func single(c apiCommand) func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
		return runAPI(ctx, c, args, environ, stdout, stderr)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: mongotron <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run mongotron <command> --help for a command's flags.")
	fmt.Fprintln(w, "Commands that call an edge read its URL and your API key from --url and --api-key,")
	fmt.Fprintln(w, "or from MONGOTRON_URL and MONGOTRON_API_KEY.")
}

// usageError marks bad input, which exits with [service.ExitUsage]; every
// other error exits with [service.ExitFailure].
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func badInput(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exit reports err on stderr, on one line, and returns its exit status.
func exit(stderr io.Writer, cmd string, err error) int {
	if err == nil {
		return service.ExitOK
	}
	fmt.Fprintf(stderr, "mongotron %s: %v\n", cmd, err)
	if errors.As(err, new(usageError)) {
		return service.ExitUsage
	}
	if isChainBroken(err) {
		return exitChainBroken
	}
	return service.ExitFailure
}
