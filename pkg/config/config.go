// Package config loads a binary's configuration from its command line and
// its MONGOTRON_* environment, the same way in every Mongotron program.
//
// Each component owns a Config struct that registers its own flags, under a
// dotted prefix, on a shared [flag.FlagSet] and checks itself with
// Validate. A flag named "tron.node-url" is also read from the environment
// variable MONGOTRON_TRON_NODE_URL ([EnvKey]); a flag given on the command
// line wins over the environment. A MONGOTRON_* variable that names no flag
// of the binary is an error, so a typo never turns into a silent default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "MONGOTRON_"

// Component is a Config that registers its flags and checks its values.
type Component interface {
	RegisterFlags(fs *flag.FlagSet)
	Validator
}

// Validator is a Config that checks its values after loading.
type Validator interface {
	Validate() error
}

// Option changes how [Load] and [PrintFlags] map flags to the environment.
type Option func(*options) error

type options struct {
	ignore   map[string]bool
	prefixes []string
	aliases  map[string]string
	noEnv    map[string]bool
}

// IgnoreKeys makes [Load] accept the environment variables named, though
// no flag of this binary reads them, so that one environment file can serve
// every binary. A name ending in "*" ignores every key starting with what
// precedes it, such as "MONGOTRON_EDGE_*". Names must start with
// [EnvPrefix].
func IgnoreKeys(keys ...string) Option {
	return func(o *options) error {
		for _, k := range keys {
			if !strings.HasPrefix(k, EnvPrefix) {
				return fmt.Errorf("config: ignored key %q does not start with %s", k, EnvPrefix)
			}
			if p, ok := strings.CutSuffix(k, "*"); ok {
				o.prefixes = append(o.prefixes, p)
				continue
			}
			o.ignore[k] = true
		}
		return nil
	}
}

// EnvAlias reads the flag named flagName from the environment variable key
// instead of the one [EnvKey] derives, for a flag whose short command-line
// name differs from the project-wide key ("node" read from
// MONGOTRON_TRON_NODE_URL).
func EnvAlias(flagName, key string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(key, EnvPrefix) {
			return fmt.Errorf("config: alias %q of flag %s does not start with %s", key, flagName, EnvPrefix)
		}
		o.aliases[flagName] = key
		return nil
	}
}

// NoEnv makes the flags named readable from the command line only, for a
// command's per-run flags (a block number, an input file) that no
// environment should set behind the user's back.
func NoEnv(flagNames ...string) Option {
	return func(o *options) error {
		for _, n := range flagNames {
			o.noEnv[n] = true
		}
		return nil
	}
}

// SharedKeys returns the keys that Mongotron binaries share, which a binary
// not reading one of them should still accept (pass them to [IgnoreKeys]):
// the keys of API.md's Configuration section, the simulator's own
// MONGOTRON_TRONSIM_* keys, and MONGOTRON_FIXTURES, which only tests read.
func SharedKeys() []string {
	return []string{
		"MONGOTRON_MONGO_URI",
		"MONGOTRON_NATS_URL",
		"MONGOTRON_TRON_NODE_URL",
		"MONGOTRON_TRON_API_KEY",
		"MONGOTRON_HTTP_ADDR",
		"MONGOTRON_LOG_LEVEL",
		"MONGOTRON_LOG_FORMAT",
		"MONGOTRON_SHUTDOWN_TIMEOUT",
		"MONGOTRON_NETWORK",
		"MONGOTRON_FIXTURES",
		"MONGOTRON_TRONSIM_*",
	}
}

// EnvKey returns the environment variable that sets the flag named name:
// [EnvPrefix] followed by the name upper-cased, with "." and "-" replaced by
// "_" ("mongo.uri" gives MONGOTRON_MONGO_URI).
func EnvKey(name string) string {
	return EnvPrefix + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(name))
}

func newOptions(opts []Option) (*options, error) {
	o := &options{ignore: map[string]bool{}, aliases: map[string]string{}, noEnv: map[string]bool{}}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// key returns the environment variable of the flag named name, or "" when
// it has none.
func (o *options) key(name string) string {
	if o.noEnv[name] {
		return ""
	}
	if k, ok := o.aliases[name]; ok {
		return k
	}
	return EnvKey(name)
}

func (o *options) ignored(key string) bool {
	if o.ignore[key] {
		return true
	}
	for _, p := range o.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Load parses args into fs, then sets every flag that args did not set from
// its environment variable in environ ("KEY=value" strings, as
// [os.Environ] returns them), so a flag wins over the environment. A
// variable that is present but empty sets the flag to the empty value; it
// is not the same as an absent one.
//
// Load returns [flag.ErrHelp] after printing fs's usage when args ask for
// help. Every other error is one line, without usage: an unknown flag, a
// malformed value (naming the flag or key and the value), or a MONGOTRON_*
// variable that matches no flag and is not ignored ([IgnoreKeys]).
func Load(fs *flag.FlagSet, args, environ []string, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	byKey, err := keys(fs, o)
	if err != nil {
		return err
	}

	// The flag package prints a parse error followed by the whole usage;
	// we want one line, so it prints nothing and the error is returned.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err = fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(out, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs, unknown []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		f, known := byKey[k]
		if !known {
			if !o.ignored(k) {
				unknown = append(unknown, k)
			}
			continue
		}
		if set[f.Name] {
			continue
		}
		if err := fs.Set(f.Name, v); err != nil {
			typ, _ := flag.UnquoteUsage(f)
			if typ == "" {
				typ = "boolean"
			}
			errs = append(errs, fmt.Sprintf("%s=%q: invalid %s value for flag --%s: %v", k, v, typ, f.Name, err))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		errs = append(errs, fmt.Sprintf("unknown key %s: no flag of this program reads it", strings.Join(unknown, ", ")))
	}
	if len(errs) > 0 {
		return errors.New("config: " + strings.Join(errs, "; "))
	}
	return nil
}

// keys maps each environment variable to the flag it sets, refusing two
// flags that would share one.
func keys(fs *flag.FlagSet, o *options) (map[string]*flag.Flag, error) {
	byKey := map[string]*flag.Flag{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		k := o.key(f.Name)
		if k == "" {
			return
		}
		if prev, dup := byKey[k]; dup && err == nil {
			err = fmt.Errorf("config: flags %s and %s both read %s", prev.Name, f.Name, k)
		}
		byKey[k] = f
	})
	return byKey, err
}

// PrintFlags writes fs's flags to w, one block per flag giving its
// environment variable, its usage and its default, like
// [flag.FlagSet.PrintDefaults] with the keys [Load] reads. opts must be the
// ones given to Load.
func PrintFlags(w io.Writer, fs *flag.FlagSet, opts ...Option) {
	o, err := newOptions(opts)
	if err != nil {
		fmt.Fprintf(w, "  (%v)\n", err)
		return
	}
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if k := o.key(f.Name); k != "" {
			line += "   (" + k + ")"
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0" || f.DefValue == "0s":
		case isString(f.Value):
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func isString(v flag.Value) bool {
	g, ok := v.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(string)
	return ok
}

// ValidateAll runs every Validate and reports all failures at once. The
// result is nil when all pass; otherwise its message is the failures joined
// by "; " on one line, and [errors.Is] and [errors.As] see each of them.
func ValidateAll(vs ...Validator) error {
	var errs []error
	for _, v := range vs {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return Join(errs...)
}

// Join is [errors.Join] with a one-line message: the errors' messages
// joined by "; ". It drops nil errors and returns nil when none is left.
func Join(errs ...error) error {
	errs = slices.DeleteFunc(slices.Clone(errs), func(e error) bool { return e == nil })
	if len(errs) == 0 {
		return nil
	}
	return joinError(errs)
}

type joinError []error

func (j joinError) Error() string {
	parts := make([]string, len(j))
	for i, e := range j {
		parts[i] = strings.ReplaceAll(e.Error(), "\n", "; ")
	}
	return strings.Join(parts, "; ")
}

func (j joinError) Unwrap() []error { return j }

// CheckURL reports whether value, the value of the flag named name, is an
// absolute URL with one of schemes and a host. Empty is accepted only when
// optional is true.
func CheckURL(name, value string, optional bool, schemes ...string) error {
	if value == "" {
		if optional {
			return nil
		}
		return fmt.Errorf("config: %s is required", name)
	}
	u, err := url.Parse(value)
	if err != nil {
		// The url error quotes the value, which may hold a password.
		return fmt.Errorf("config: %s: not a URL", name)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("config: %s: scheme %q: want %s", name, u.Scheme, strings.Join(schemes, " or "))
	}
	if u.Host == "" {
		return fmt.Errorf("config: %s: no host", name)
	}
	return nil
}
