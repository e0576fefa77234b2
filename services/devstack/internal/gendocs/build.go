package gendocs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binary is a program whose flags the page documents.
type Binary struct {
	// Name is the binary's name in bin/ and on the page.
	Name string
	// Package is its main package, relative to the repository root.
	Package string
}

// Binaries are the programs docs/configuration.md documents, in page
// order. The CLI's flags belong to its commands, which are found in its
// help.
func Binaries() []Binary {
	return []Binary{
		{Name: "ingest", Package: "./services/ingest"},
		{Name: "edge", Package: "./services/edge"},
		{Name: "tronsim", Package: "./services/tronsim"},
		{Name: "devstack", Package: "./services/devstack"},
		{Name: "mongotron", Package: "./services/cli"},
	}
}

// Helps runs every binary with --help (and, for a program with commands,
// each command and subcommand with --help) and returns the outputs.
type Helps struct {
	// Of is each binary's own --help output, by name.
	Of map[string]string
	// Commands are the commands of the binaries that have some, by
	// binary name, in the order of their help.
	Commands map[string][]CommandHelp
}

// CommandHelp is one leaf command's --help output.
type CommandHelp struct {
	Command
	Help string
}

// Collect builds the binaries of root (the repository) into a temporary
// directory with the go command, runs them with --help in an empty
// environment (so that no MONGOTRON_* variable of the caller is refused
// or changes a default) and returns what they printed.
func Collect(ctx context.Context, root string) (*Helps, error) {
	dir, err := os.MkdirTemp("", "gendocs-*")
	if err != nil {
		return nil, fmt.Errorf("gendocs: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	h := &Helps{Of: map[string]string{}, Commands: map[string][]CommandHelp{}}
	for _, b := range Binaries() {
		bin := filepath.Join(dir, b.Name)
		build := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, b.Package)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("gendocs: building %s: %w\n%s", b.Name, err, out)
		}
		top, err := help(ctx, bin)
		if err != nil {
			return nil, err
		}
		h.Of[b.Name] = top
		for _, c := range ParseCommands(top) {
			out, err := help(ctx, bin, strings.Fields(c.Args)...)
			if err != nil {
				return nil, err
			}
			subs := ParseCommands(out)
			if len(subs) == 0 {
				h.Commands[b.Name] = append(h.Commands[b.Name], CommandHelp{Command: c, Help: out})
				continue
			}
			for _, s := range subs {
				out, err := help(ctx, bin, strings.Fields(s.Args)...)
				if err != nil {
					return nil, err
				}
				h.Commands[b.Name] = append(h.Commands[b.Name], CommandHelp{Command: s, Help: out})
			}
		}
	}
	return h, nil
}

// help runs bin args… --help and returns its output (usage goes to
// stderr, so both streams are read).
func help(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append(args, "--help")...)
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gendocs: %s %s --help: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ConfigurationPath is the page this package writes, relative to the
// repository root.
const ConfigurationPath = "docs/configuration.md"
