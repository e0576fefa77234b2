// Package config loads a binary's configuration from its command line and
// its MONGOTRON_* environment, the same way in every Mongotron program.
//
// Each component owns a Config struct that registers its own flags, under a
// dotted prefix, on a shared [flag.FlagSet] and checks itself with
// Validate. A flag named "tron.node-url" is also read from the environment
// variable MONGOTRON_TRON_NODE_URL ([EnvKey]); a flag given on the command
// line wins over the environment. A MONGOTRON_* variable that names no flag
// of the binary is an error, so a typo never turns into a silent default.
//
// A renamed flag keeps its old name for a release as a deprecated alias
// ([Renamed]), which --help marks and [Deprecated] reports so that the binary
// can warn at start.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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
	// namespace starts every derived key in place of [EnvPrefix]; see
	// [Namespace].
	namespace string
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

// Namespace makes the flags read MONGOTRON_<NAMESPACE>_<FLAG> instead of
// MONGOTRON_<FLAG>, for a program whose settings must not meet the
// daemons' in one environment file: the simulator's http.addr is
// MONGOTRON_TRONSIM_HTTP_ADDR, not the ingest's MONGOTRON_HTTP_ADDR. The
// MONGOTRON_* variables outside the namespace belong to other programs and
// are ignored; one inside it that names no flag is an error, whatever
// [IgnoreKeys] says. prefix is the namespace's whole prefix, such as
// "MONGOTRON_TRONSIM_".
func Namespace(prefix string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(prefix, EnvPrefix) || !strings.HasSuffix(prefix, "_") || len(prefix) <= len(EnvPrefix)+1 {
			return fmt.Errorf("config: namespace %q: want %sSOMETHING_", prefix, EnvPrefix)
		}
		o.namespace = prefix
		return nil
	}
}

// SharedKeys returns the keys that Mongotron binaries share, which a binary
// not reading one of them should still accept (pass them to [IgnoreKeys]):
// the keys of docs/api.md's Configuration section with the rest of the node
// settings (several nodes, the API key's header), the simulator's own
// MONGOTRON_TRONSIM_* keys, and MONGOTRON_FIXTURES, which only tests read.
func SharedKeys() []string {
	return []string{
		"MONGOTRON_MONGO_URI",
		"MONGOTRON_NATS_URL",
		"MONGOTRON_TRON_NODE_URL",
		"MONGOTRON_TRON_NODE_URLS",
		"MONGOTRON_TRON_API_KEY",
		"MONGOTRON_TRON_API_KEY_HEADER",
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
func EnvKey(name string) string { return envKey(EnvPrefix, name) }

func envKey(prefix, name string) string {
	return prefix + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(name))
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
	if o.namespace != "" {
		return envKey(o.namespace, name)
	}
	return EnvKey(name)
}

// flagKey returns the environment variable of f, or "" when it has none.
// An alias whose derived variable is its flag's own (log-level and
// log.level both give MONGOTRON_LOG_LEVEL) has none: that variable was
// not renamed.
func (o *options) flagKey(f *flag.Flag) string {
	k := o.key(f.Name)
	if a, ok := f.Value.(*alias); ok && k == o.key(a.target.Name) {
		return ""
	}
	return k
}

func (o *options) ignored(key string) bool {
	if o.namespace != "" {
		return !strings.HasPrefix(key, o.namespace)
	}
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

	// The names given on the command line, per setting: an alias and its
	// flag are one setting, which may be given only once.
	given := map[string][]string{}
	fs.Visit(func(f *flag.Flag) { given[canonical(f)] = append(given[canonical(f)], "--"+f.Name) })
	var errs, unknown []string
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if names := given[name]; len(names) > 1 {
			errs = append(errs, fmt.Sprintf("%s name the same setting: give only --%s", strings.Join(names, " and "), name))
		}
	}

	// The environment's values, per setting; the current name's variable
	// wins over a deprecated one's.
	type entry struct {
		key, value string
		f          *flag.Flag
	}
	pending := map[string][]entry{}
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
		pending[canonical(f)] = append(pending[canonical(f)], entry{k, v, f})
	}
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		entries := pending[name]
		// Sorted so that the current name comes first, then the aliases
		// by variable: which value applies never depends on the order of
		// the environment.
		slices.SortFunc(entries, func(a, b entry) int {
			_, aAlias := a.f.Value.(*alias)
			_, bAlias := b.f.Value.(*alias)
			if aAlias != bAlias {
				if aAlias {
					return 1
				}
				return -1
			}
			return strings.Compare(a.key, b.key)
		})
		for i, e := range entries {
			applied := i == 0 && len(given[name]) == 0
			if a, ok := e.f.Value.(*alias); ok {
				a.env, a.newEnv, a.envIgnored = e.key, o.key(name), !applied
			}
			if !applied {
				continue
			}
			if err := fs.Set(name, e.value); err != nil {
				typ, _ := flag.UnquoteUsage(fs.Lookup(name))
				if typ == "" {
					typ = "boolean"
				}
				errs = append(errs, fmt.Sprintf("%s=%q: invalid %s value for flag --%s: %v", e.key, e.value, typ, e.f.Name, err))
			}
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
		k := o.flagKey(f)
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
// [flag.FlagSet.PrintDefaults] with the keys [Load] reads. A deprecated
// name ([Renamed]) says "Deprecated:" and names its replacement and that
// one's variable. opts must be the ones given to Load.
func PrintFlags(w io.Writer, fs *flag.FlagSet, opts ...Option) {
	o, err := newOptions(opts)
	if err != nil {
		fmt.Fprintf(w, "  (%v)\n", err)
		return
	}
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if a, ok := f.Value.(*alias); ok {
			typ, _ = flag.UnquoteUsage(a.target)
			use := "--" + a.target.Name
			if k := o.key(a.target.Name); k != "" && o.flagKey(f) != "" {
				use += " (" + k + ")"
			}
			usage = "Deprecated: use " + use + " instead. This name is removed in the next release."
		}
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if k := o.flagKey(f); k != "" {
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
