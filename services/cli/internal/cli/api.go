package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mongotron/mongotron/pkg/client"
	"github.com/mongotron/mongotron/pkg/config"
	"github.com/mongotron/mongotron/pkg/logging"
	"github.com/mongotron/mongotron/pkg/service"
)

// apiConfig is what every command talking to an edge shares.
type apiConfig struct {
	// URL is the edge's base URL. Required.
	URL string
	// APIKey is sent as the bearer token. Required by every call but
	// /healthz.
	APIKey string
	// Timeout bounds one REST call. Zero means the client's 30s.
	Timeout time.Duration
}

func (c *apiConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "", "edge base `URL`, e.g. https://mongotron.example.com or http://127.0.0.1:8080")
	fs.StringVar(&c.APIKey, "api-key", "", "API `key` (the admin key for keys create/revoke)")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "timeout of one REST call")
}

func (c *apiConfig) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("no edge URL: give --url or set MONGOTRON_URL"))
	} else if err := config.CheckURL("--url", c.URL, false, "http", "https"); err != nil {
		errs = append(errs, err)
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("no API key: give --api-key or set MONGOTRON_API_KEY"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout %s is negative", c.Timeout))
	}
	return config.Join(errs...)
}

func (c *apiConfig) client() (*client.Client, error) {
	hc := &http.Client{Timeout: c.Timeout}
	if c.Timeout == 0 {
		hc.Timeout = client.DefaultTimeout
	}
	cl, err := client.New(c.URL, client.APIKey(c.APIKey), client.HTTPClient(hc), client.UserAgent("mongotron-cli/1"))
	if err != nil {
		return nil, usageError{err}
	}
	return cl, nil
}

// apiOptions map the API flags to MONGOTRON_URL and MONGOTRON_API_KEY; a
// command's other flags are command-line only, and the daemons' keys are
// ignored so one environment serves all.
func apiOptions(cmdFlags *flag.FlagSet) []config.Option {
	noEnv := []string{"timeout"}
	cmdFlags.VisitAll(func(f *flag.Flag) {
		if f.Name != "url" && f.Name != "api-key" {
			noEnv = append(noEnv, f.Name)
		}
	})
	return []config.Option{
		config.EnvAlias("url", "MONGOTRON_URL"),
		config.EnvAlias("api-key", "MONGOTRON_API_KEY"),
		config.NoEnv(noEnv...),
		config.IgnoreKeys(config.EnvPrefix + "*"),
	}
}

// apiCommand is one command that calls the API: its name ("subs
// create"), usage text, positional arguments and flags.
type apiCommand struct {
	name  string
	usage string
	// args names the positional arguments for the usage line and bounds
	// how many there may be (max < 0: any number).
	minArgs, maxArgs int
	flags            func(fs *flag.FlagSet)
	run              func(ctx context.Context, c *client.Client, inv *invocation) error
}

// invocation is one run of an apiCommand.
type invocation struct {
	args   []string
	fs     *flag.FlagSet
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// set holds the flags given on the command line or the environment.
	set map[string]bool
}

// runAPI parses args for cmd and runs it, returning the exit status.
func runAPI(ctx context.Context, cmd apiCommand, args, environ []string, stdout, stderr io.Writer) int {
	var api apiConfig
	fs := flag.NewFlagSet("mongotron "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	opts := apiOptions(fs)
	api.registerFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), cmd.usage)
		fmt.Fprintln(fs.Output(), "\nFlags (the environment variable shown is read when the flag is not given):")
		config.PrintFlags(fs.Output(), fs, opts...)
	}
	flags, pos := splitArgs(fs, args)
	if err := config.Load(fs, flags, environ, opts...); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return service.ExitOK
		}
		return exit(stderr, cmd.name, usageError{err})
	}
	var errs []error
	if len(pos) < cmd.minArgs {
		errs = append(errs, fmt.Errorf("missing arguments; run mongotron %s --help", cmd.name))
	}
	if cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs {
		errs = append(errs, fmt.Errorf("unexpected argument %q; run mongotron %s --help", pos[cmd.maxArgs], cmd.name))
	}
	if err := api.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := config.Join(errs...); err != nil {
		return exit(stderr, cmd.name, usageError{err})
	}
	c, err := api.client()
	if err != nil {
		return exit(stderr, cmd.name, err)
	}
	inv := &invocation{args: pos, fs: fs, stdin: os.Stdin, stdout: stdout, stderr: stderr, set: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { inv.set[f.Name] = true })
	return exit(stderr, cmd.name, explain(cmd.run(ctx, c, inv)))
}

// splitArgs separates flags from positional arguments, so that flags may
// come after them (`tail sub_1 --after X`). "--" ends the flags.
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // config.Load reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// explain rewrites API errors into one clear line.
func explain(err error) error {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg := ae.Message
	if msg == "" {
		msg = http.StatusText(ae.Status)
	}
	hint := ""
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		hint = " (check --api-key or MONGOTRON_API_KEY)"
	case errors.Is(err, client.ErrRateLimited) && ae.RetryAfter > 0:
		hint = fmt.Sprintf(" (retry in %s)", ae.RetryAfter)
	}
	code := ae.Code
	if code == "" {
		code = "error"
	}
	e := fmt.Errorf("%s: %s%s [HTTP %d]", code, msg, hint, ae.Status)
	var be *client.BatchError
	if errors.As(err, &be) {
		e = fmt.Errorf("batch %d of %d failed after %d addresses changed: %w", be.Batch+1, be.Batches, be.Result.Changed, e)
	}
	return e
}

// writeJSON writes v as JSON: indented for a person at a terminal, one
// line for a program.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if logging.IsTerminal(w) {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return writeError{err}
	}
	return nil
}

// stringList is a flag that may be repeated and takes comma-separated
// values.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// readList reads whitespace- or comma-separated entries from path ("-":
// stdin), skipping blank lines and # comments.
func readList(path string, stdin io.Reader) ([]string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageError{err}
		}
		// Only read: a failed close loses nothing.
		defer func() { _ = f.Close() }()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		out = append(out, strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
	}
	if err := sc.Err(); err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return out, nil
}

// format is how list-like commands print: a table for a person, JSON
// lines for a program.
type format string

func (f *format) register(fs *flag.FlagSet) {
	*f = "auto"
	fs.Var(f, "format", "output `format`: auto (a table on a terminal, JSON lines otherwise), table or json")
}

func (f *format) String() string { return string(*f) }

func (f *format) Set(v string) error {
	switch v {
	case "auto", "table", "json":
		*f = format(v)
		return nil
	}
	return errors.New("want auto, table or json")
}

func (f format) table(w io.Writer) bool {
	return f == "table" || f == "auto" && logging.IsTerminal(w)
}

// subcommands dispatches a command group ("subs") to its commands.
func subcommands(group, summary string, cmds []apiCommand) func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
		help := func(w io.Writer) {
			fmt.Fprintf(w, "Usage: mongotron %s <command> [arguments] [flags]\n\n%s\n\nCommands:\n", group, summary)
			for _, c := range cmds {
				line, _, _ := strings.Cut(strings.TrimPrefix(c.usage, "Usage:\n"), "\n")
				fmt.Fprintf(w, "  %s\n", strings.TrimSpace(line))
			}
			fmt.Fprintf(w, "\nRun mongotron %s <command> --help for its flags.\n", group)
		}
		if len(args) == 0 {
			help(stderr)
			return service.ExitUsage
		}
		switch args[0] {
		case "-h", "-help", "--help", "help":
			help(stdout)
			return service.ExitOK
		}
		for _, c := range cmds {
			if c.name == group+" "+args[0] {
				return runAPI(ctx, c, args[1:], environ, stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "mongotron %s: unknown command %q; run mongotron %s --help for the list\n", group, args[0], group)
		return service.ExitUsage
	}
}
