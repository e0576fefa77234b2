// Package gendocs writes docs/configuration.md from what the binaries
// print with --help, so that the reference cannot drift from the code: a
// test builds the binaries, renders the page again and fails when the
// file differs (`make docs` rewrites it).
//
// The binaries are built with the go command and run as processes rather
// than called in process, because their flag sets live in each service's
// internal packages, which this module cannot import, and because --help
// output is exactly what an operator reads.
package gendocs

import (
	"bufio"
	"regexp"
	"strconv"
	"strings"
)

// Flag is one flag as a binary's --help describes it.
type Flag struct {
	// Name is the flag's name without dashes ("mongo.uri").
	Name string
	// Type is the value's name in the usage ("URI", "duration"); empty
	// for a boolean flag.
	Type string
	// Env is the environment variable that also sets the flag; empty
	// when only the command line does.
	Env string
	// Default is the default the help prints, unquoted; empty when the
	// help prints none, which means the zero value.
	Default string
	// Usage is the flag's description without its default, its lines
	// joined by spaces.
	Usage string
}

// Deprecated reports whether the flag's usage marks it deprecated (an
// old name kept as an alias for a release).
func (f Flag) Deprecated() bool {
	return strings.Contains(strings.ToLower(f.Usage), "deprecated")
}

var (
	// A flag's first line, from pkg/config.PrintFlags ("  --mongo.uri
	// URI   (MONGOTRON_MONGO_URI)") or from the flag package's
	// PrintDefaults ("  -addr string", "  -x\tusage" for a one-letter
	// boolean).
	flagLine = regexp.MustCompile(`^  --?([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$`)
	envKey   = regexp.MustCompile(`\s*\((MONGOTRON_[A-Z0-9_]+)\)\s*$`)
	// A note giving every flag's variable by pattern, as the simulator's
	// help did: "set as MONGOTRON_TRONSIM_<FLAG>".
	envPattern = regexp.MustCompile(`(MONGOTRON_[A-Z0-9_]*)<FLAG>`)
)

// usageIndent starts every continuation line of a flag's usage, in both
// help formats.
const usageIndent = "    \t"

// ParseFlags returns the flags help lists, in its order. A help that gives
// no variable per flag but a "MONGOTRON_…_<FLAG>" pattern gets each
// flag's variable from the pattern (upper case, "-" and "." as "_").
func ParseFlags(help string) []Flag {
	var (
		flags   []Flag
		cur     *Flag
		usage   []string
		pattern string
	)
	if m := envPattern.FindStringSubmatch(help); m != nil {
		pattern = m[1]
	}
	end := func() {
		if cur == nil {
			return
		}
		cur.Usage, cur.Default = splitDefault(strings.Join(usage, " "))
		if cur.Env == "" && pattern != "" {
			cur.Env = pattern + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(cur.Name))
		}
		flags = append(flags, *cur)
		cur, usage = nil, nil
	}
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, usageIndent); ok && cur != nil {
			usage = append(usage, strings.TrimSpace(rest))
			continue
		}
		end()
		m := flagLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := Flag{Name: m[1]}
		rest := m[2]
		if typ, u, ok := strings.Cut(rest, "\t"); ok {
			rest = typ
			usage = append(usage, strings.TrimSpace(u))
		}
		if k := envKey.FindStringSubmatch(rest); k != nil {
			f.Env = k[1]
			rest = rest[:len(rest)-len(k[0])]
		}
		f.Type = strings.TrimSpace(rest)
		cur = &f
	}
	end()
	return flags
}

// splitDefault cuts the " (default …)" both help formats append to a
// usage, unquoting a quoted default.
func splitDefault(usage string) (text, def string) {
	i := strings.LastIndex(usage, "(default ")
	if i < 0 || !strings.HasSuffix(usage, ")") {
		return usage, ""
	}
	def = usage[i+len("(default ") : len(usage)-1]
	if u, err := strconv.Unquote(def); err == nil {
		def = u
	}
	return strings.TrimSpace(usage[:i]), def
}

// Command is a command a binary's help lists, with its one-line summary.
type Command struct {
	// Args are the words after the binary's name ("keys create").
	Args    string
	Summary string
}

var (
	// "  decode   print the events of …" under a top-level "Commands:".
	topCommand = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s{2,}(\S.*)$`)
	// "  mongotron keys create TENANT      make an API key …" under a
	// command group's "Commands:".
	subCommand = regexp.MustCompile(`^  (\S+) ([a-z][a-z0-9-]*) ([a-z][a-z0-9-]*)\b.*?\s{2,}(\S.*)$`)
)

// ParseCommands returns the commands listed under help's "Commands:"
// heading, up to the next blank line. Top-level lists name the command
// alone; a group's list names the binary, the group and the command, and
// gives "group command" as Args.
func ParseCommands(help string) []Command {
	var out []Command
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "Commands:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if len(out) > 0 {
				break
			}
			continue
		}
		if m := subCommand.FindStringSubmatch(line); m != nil {
			out = append(out, Command{Args: m[2] + " " + m[3], Summary: strings.TrimSpace(m[4])})
			continue
		}
		if m := topCommand.FindStringSubmatch(line); m != nil {
			out = append(out, Command{Args: m[1], Summary: strings.TrimSpace(m[2])})
		}
	}
	return out
}

// UsageLines returns the synopsis lines of a command's help: the indented
// lines right after "Usage:", or the rest of a one-line "Usage: …".
func UsageLines(help string) []string {
	var out []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Usage:"); ok && !in {
			if rest = strings.TrimSpace(rest); rest != "" {
				return []string{rest}
			}
			in = true
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "  ") || strings.TrimSpace(line) == "" {
			break
		}
		out = append(out, strings.TrimSpace(line))
	}
	return out
}
