package gendocs

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

// configurationTemplate is docs/configuration.md with the tables left to
// fill: the prose is written there, the flags come from the binaries.
//
//go:embed configuration.md.tmpl
var configurationTemplate string

// Render returns docs/configuration.md for the help outputs h.
func Render(h *Helps) ([]byte, error) {
	missing := func(name string) error {
		return fmt.Errorf("gendocs: the template names %q, which is not one of the binaries", name)
	}
	funcs := template.FuncMap{
		"flags": func(name string) (string, error) {
			help, ok := h.Of[name]
			if !ok {
				return "", missing(name)
			}
			flags := ParseFlags(help)
			if len(flags) == 0 {
				return "", fmt.Errorf("gendocs: no flags found in %s --help:\n%s", name, help)
			}
			return flagTable(flags), nil
		},
		"commands": func(name string) (string, error) {
			cmds, ok := h.Commands[name]
			if !ok {
				return "", fmt.Errorf("gendocs: %s --help lists no commands", name)
			}
			return commandSections(name, cmds), nil
		},
		"deprecated": func() string { return deprecatedList(h) },
	}
	t, err := template.New("configuration.md").Funcs(funcs).Option("missingkey=error").Parse(configurationTemplate)
	if err != nil {
		return nil, fmt.Errorf("gendocs: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("gendocs: %w", err)
	}
	return b.Bytes(), nil
}

// flagTable renders flags as a Markdown table: flag, variable, default,
// meaning.
func flagTable(flags []Flag) string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range flags {
		name := "--" + f.Name
		if f.Type != "" {
			name += " " + f.Type
		}
		env := "—"
		if f.Env != "" {
			env = "`" + f.Env + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, env, defaultCell(f), cell(f.Usage))
	}
	return b.String()
}

// defaultCell is the flag's default as the help prints it, or the zero
// value of its type when the help prints none (as both help formats do
// for zero). A deprecated alias has no default of its own: unset, the new
// name's applies.
func defaultCell(f Flag) string {
	if f.Default != "" {
		return "`" + f.Default + "`"
	}
	if f.Deprecated() {
		return "—"
	}
	switch f.Type {
	case "":
		return "`false`"
	case "int", "int64", "uint", "uint64", "float":
		return "`0`"
	case "duration":
		return "`0s`"
	}
	return "empty"
}

// cell escapes text for a table cell: a pipe would end the cell, and
// angle brackets would read as HTML.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}

// commandSections renders a heading, the synopsis and the flag table of
// each command of the binary called name.
func commandSections(name string, cmds []CommandHelp) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### %s %s\n\n%s.\n\n", name, c.Args, upperFirst(c.Summary))
		if lines := UsageLines(c.Help); len(lines) > 0 {
			for i, l := range lines {
				// The heading already says what the summary says.
				lines[i] = strings.TrimSpace(strings.TrimSuffix(l, c.Summary))
			}
			b.WriteString("```\n" + strings.Join(lines, "\n") + "\n```\n\n")
		}
		if flags := ParseFlags(c.Help); len(flags) > 0 {
			b.WriteString(flagTable(flags))
		} else {
			b.WriteString("No flags.\n")
		}
	}
	return b.String()
}

// deprecatedList lists every deprecated flag of every binary and command,
// or says there is none.
func deprecatedList(h *Helps) string {
	var b strings.Builder
	add := func(where, help string) {
		for _, f := range ParseFlags(help) {
			if !f.Deprecated() {
				continue
			}
			env := ""
			if f.Env != "" {
				env = " (`" + f.Env + "`)"
			}
			fmt.Fprintf(&b, "- %s: `--%s`%s: %s\n", where, f.Name, env, cell(f.Usage))
		}
	}
	for _, bin := range Binaries() {
		add("`"+bin.Name+"`", h.Of[bin.Name])
		for _, c := range h.Commands[bin.Name] {
			add("`"+bin.Name+" "+c.Args+"`", c.Help)
		}
	}
	if b.Len() == 0 {
		return "No flag is deprecated in this release.\n"
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
