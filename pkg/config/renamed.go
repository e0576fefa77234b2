package config

import (
	"flag"
	"fmt"
)

// Renamed registers old on fs as a deprecated name of the flag named
// current, which must be registered already: a renamed setting keeps
// working under its old name, on the command line and in the environment
// (the variable [Load] derives from old), for one release. [PrintFlags]
// marks old deprecated and names its replacement, and [Deprecated] tells
// the binary, once loaded, which old names were used, so that it can warn
// at start.
//
// Given both names, on the command line [Load] refuses to guess and
// reports an error; in the environment current's variable wins and old's
// is reported as ignored. A flag set parsed without Load takes whichever
// name comes last.
//
// Renamed panics when current is not registered, as [flag.FlagSet.Var]
// does when old is: both are mistakes in the program, not in its input.
func Renamed(fs *flag.FlagSet, old, current string) {
	target := fs.Lookup(current)
	if target == nil {
		panic(fmt.Sprintf("config: alias %s of flag %s: no such flag", old, current))
	}
	if _, ok := target.Value.(*alias); ok {
		panic(fmt.Sprintf("config: alias %s of flag %s: an alias of an alias", old, current))
	}
	fs.Var(&alias{name: old, target: target},
		old, "Deprecated: use --"+current+" instead. This name is removed in the next release.")
}

// alias is the value of a deprecated flag name: it sets its target, and
// records how the old name was used for [Deprecated].
type alias struct {
	name   string
	target *flag.Flag
	// cmdline is true once the old name was given on the command line.
	cmdline bool
	// env is the old name's variable when the environment held it, and
	// envIgnored is true when the current name's variable, or the command
	// line, won over it.
	env, newEnv string
	envIgnored  bool
}

// String is empty: an alias has no value of its own, so its help shows
// no default (the flag package also calls it on a zero alias).
func (a *alias) String() string { return "" }

func (a *alias) Set(s string) error {
	a.cmdline = true
	return a.target.Value.Set(s)
}

// IsBoolFlag lets "--old" stand alone when the flag it renames is a
// boolean.
func (a *alias) IsBoolFlag() bool {
	b, ok := a.target.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// canonical returns the name of the flag f sets: its own, or the current
// name of an alias.
func canonical(f *flag.Flag) string {
	if a, ok := f.Value.(*alias); ok {
		return a.target.Name
	}
	return f.Name
}

// Deprecation is one use of a deprecated name, as [Deprecated] reports it.
type Deprecation struct {
	// Old is the name used: "--start-timeout" on the command line, or a
	// variable such as "MONGOTRON_START_TIMEOUT".
	Old string
	// New is what to use instead, in the same form.
	New string
	// Ignored is true when the value given under Old was not used,
	// because the setting was also given under its current name (or on
	// the command line, which wins over the environment).
	Ignored bool
}

// Deprecated returns every deprecated name ([Renamed]) that fs was given,
// on the command line and, once [Load] has read it, in the environment,
// in name order. A binary logs them as warnings at start.
func Deprecated(fs *flag.FlagSet) []Deprecation {
	var out []Deprecation
	fs.VisitAll(func(f *flag.Flag) {
		a, ok := f.Value.(*alias)
		if !ok {
			return
		}
		if a.cmdline {
			out = append(out, Deprecation{Old: "--" + a.name, New: "--" + a.target.Name})
		}
		if a.env != "" {
			use := a.newEnv
			if use == "" {
				use = "--" + a.target.Name
			}
			out = append(out, Deprecation{Old: a.env, New: use, Ignored: a.envIgnored})
		}
	})
	return out
}
