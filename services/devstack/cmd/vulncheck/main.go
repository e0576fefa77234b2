// Command vulncheck runs govulncheck over the workspace and applies the
// project's policy to what it finds (`make lint` runs it; the policy and
// its reasons are in CONTRIBUTING.md, "Lint"):
//
//   - a known vulnerability in any module other than the standard library
//     fails the check, whether our code calls the vulnerable function,
//     imports its package or only requires its module: the fix is a
//     `go get` of the fixed version;
//   - one in the standard library is printed as a warning naming the Go
//     release that fixes it, because only a new Go toolchain fixes it,
//     and moving the toolchain (go.work, CI's image, deploy/Dockerfile) is
//     a change of its own.
//
// The database is a pinned version of the golang.org/x/vulndb module,
// fetched through the Go module proxy like any dependency, so the check
// needs no access to vuln.go.dev and gives the same answer until the pin
// moves:
//
//	go run ./services/devstack/cmd/vulncheck --govulncheck bin/tools/govulncheck \
//		--vulndb v0.0.0-20261105234957-e22db6528018 -C pkg github.com/mongotron/mongotron/...
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// vulndbModule holds the OSV entries of the Go vulnerability database
// under data/osv, one file per entry, which govulncheck reads as a
// file:// database.
const vulndbModule = "golang.org/x/vulndb"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vulncheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("govulncheck", "govulncheck", "the govulncheck `binary`")
	vulndb := fs.String("vulndb", "", "the `version` of the "+vulndbModule+" module to read the vulnerabilities from (fetched with go mod download)")
	db := fs.String("db", "", "the vulnerability database `URL` instead of --vulndb (such as https://vuln.go.dev)")
	dir := fs.String("C", ".", "the module `directory` to run govulncheck in; in a workspace the patterns may name any of its modules")
	ignore := fs.String("ignore", "", "comma-separated vulnerability `IDs` that do not fail the check (say why where you pass them)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	patterns := fs.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	if (*db == "") == (*vulndb == "") {
		fmt.Fprintln(stderr, "vulncheck: pass exactly one of --vulndb and --db")
		return 2
	}
	if *db == "" {
		d, err := downloadVulnDB(ctx, *vulndb)
		if err != nil {
			fmt.Fprintf(stderr, "vulncheck: %v\n", err)
			return 2
		}
		*db = d
	}

	cmd := exec.CommandContext(ctx, *bin, append([]string{"-db", *db, "-format", "json"}, patterns...)...)
	cmd.Dir = *dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "vulncheck: %s: %v\n%s", *bin, err, errOut.Bytes())
		return 2
	}
	r, err := parse(&out)
	if err != nil {
		fmt.Fprintf(stderr, "vulncheck: reading govulncheck's output: %v\n", err)
		return 2
	}
	if r.report(stdout, splitIDs(*ignore)) {
		return 1
	}
	return 0
}

// downloadVulnDB fetches golang.org/x/vulndb at version through the
// module proxy (or finds it in the module cache) and returns the
// file:// URL of its OSV directory.
func downloadVulnDB(ctx context.Context, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", vulndbModule+"@"+version)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", vulndbModule, version, m.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w: %s", vulndbModule, version, err, errOut.Bytes())
	}
	if m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory in %q", vulndbModule, version, out)
	}
	osv := filepath.Join(m.Dir, "data", "osv")
	if _, err := os.Stat(osv); err != nil {
		return "", fmt.Errorf("%s@%s has no data/osv: %w", vulndbModule, version, err)
	}
	return "file://" + filepath.ToSlash(osv), nil
}

// The parts of govulncheck's JSON output (a stream of messages, each with
// one field set) that the policy reads.
type message struct {
	OSV     *osvEntry `json:"osv"`
	Finding *finding  `json:"finding"`
}

type osvEntry struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

// frame is one step of a finding's trace: the first is the vulnerable
// symbol (or package, or module), the last the caller in our code.
type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

// level says how close a vulnerability comes to our code, from govulncheck's
// scan levels: our code calls the vulnerable function, imports its package,
// or only requires its module.
type level int

const (
	levelModule level = iota
	levelPackage
	levelSymbol
)

func (l level) String() string {
	switch l {
	case levelSymbol:
		return "called"
	case levelPackage:
		return "package imported, vulnerable code not called"
	default:
		return "module required, vulnerable package not imported"
	}
}

// vuln is one vulnerability as the policy sees it: its closest finding.
type vuln struct {
	ID, Summary     string
	Module, Version string
	Fixed           string // "" when no release fixes it yet
	Level           level
	Via             string // for a called one, our function that reaches it
	Sites           int    // how many findings (call paths, packages) report it
}

type result struct {
	vulns map[string]*vuln
}

func parse(r io.Reader) (*result, error) {
	res := &result{vulns: map[string]*vuln{}}
	summaries := map[string]string{}
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		top := f.Trace[0]
		lv := levelModule
		if top.Function != "" {
			lv = levelSymbol
		} else if top.Package != "" {
			lv = levelPackage
		}
		v := res.vulns[f.OSV]
		if v == nil {
			v = &vuln{ID: f.OSV, Module: top.Module, Version: top.Version, Fixed: f.FixedVersion, Level: -1}
			res.vulns[f.OSV] = v
		}
		v.Sites++
		if lv > v.Level {
			v.Level = lv
			if lv == levelSymbol {
				v.Via = symbol(f.Trace[len(f.Trace)-1])
			}
		}
	}
	for id, v := range res.vulns {
		v.Summary = summaries[id]
	}
	return res, nil
}

func symbol(f frame) string {
	switch {
	case f.Receiver != "":
		return fmt.Sprintf("%s.(%s).%s", f.Package, f.Receiver, f.Function)
	case f.Function != "":
		return f.Package + "." + f.Function
	default:
		return f.Package
	}
}

const stdlib = "stdlib"

// report prints the findings by the policy and says whether the check
// fails.
func (r *result) report(w io.Writer, ignore map[string]bool) (failed bool) {
	var deps, ignored, std []*vuln
	for _, v := range r.sorted() {
		switch {
		case v.Module == stdlib:
			std = append(std, v)
		case ignore[v.ID]:
			ignored = append(ignored, v)
		default:
			deps = append(deps, v)
		}
	}
	for _, v := range deps {
		fmt.Fprintf(w, "FAIL %s\n", describe(v))
	}
	for _, v := range ignored {
		fmt.Fprintf(w, "ignored (--ignore) %s\n", describe(v))
	}
	for _, id := range sortedKeys(ignore) {
		if r.vulns[id] == nil {
			fmt.Fprintf(w, "note: --ignore %s matches nothing any more; remove it\n", id)
		}
	}
	if len(std) > 0 {
		stdWarning(w, std)
	}
	switch {
	case len(deps) > 0:
		fmt.Fprintf(w, "vulncheck: %d known vulnerabilities in dependencies; upgrade each module to its fixed version (go get MODULE@VERSION in every module that requires it, then go mod tidy)\n", len(deps))
		return true
	case len(std) == 0 && len(ignored) == 0:
		fmt.Fprintln(w, "vulncheck: no known vulnerabilities")
	case len(ignored) > 0:
		fmt.Fprintf(w, "vulncheck: no known vulnerabilities in dependencies apart from %d ignored\n", len(ignored))
	default:
		fmt.Fprintln(w, "vulncheck: no known vulnerabilities in dependencies")
	}
	return false
}

func describe(v *vuln) string {
	fixed := "no fixed version yet"
	if v.Fixed != "" {
		fixed = "fixed in " + v.Fixed
	}
	s := fmt.Sprintf("%s %s@%s (%s): %s; %s", v.ID, v.Module, v.Version, fixed, v.Summary, v.Level)
	if v.Via != "" {
		s += " from " + v.Via
	}
	return s
}

// stdWarning names the Go release that fixes every standard-library
// vulnerability found, and lists them.
func stdWarning(w io.Writer, std []*vuln) {
	var called int
	var newest string
	var unfixed []string
	for _, v := range std {
		if v.Level == levelSymbol {
			called++
		}
		if v.Fixed == "" {
			unfixed = append(unfixed, v.ID)
		} else if newest == "" || versionLess(newest, v.Fixed) {
			newest = v.Fixed
		}
	}
	goVersion := "go" + strings.TrimPrefix(std[0].Version, "v")
	fmt.Fprintf(w, "warning: the standard library of %s has %d known vulnerabilities (%d reached from our code)", goVersion, len(std), called)
	if newest != "" {
		fmt.Fprintf(w, "; go%s fixes them", strings.TrimPrefix(newest, "v"))
		if len(unfixed) > 0 {
			fmt.Fprintf(w, " except %s, which no release fixes yet", strings.Join(unfixed, ", "))
		}
	} else {
		fmt.Fprint(w, "; no release fixes them yet")
	}
	fmt.Fprintln(w, ". Moving the toolchain is a change of its own (go.work, CI, deploy/Dockerfile); see CONTRIBUTING.md, Lint.")
	for _, v := range std {
		fmt.Fprintf(w, "  %s\n", describe(v))
	}
}

func (r *result) sorted() []*vuln {
	out := make([]*vuln, 0, len(r.vulns))
	for _, v := range r.vulns {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// versionLess compares two vX.Y.Z versions numerically, so that v1.26.10
// comes after v1.26.9.
func versionLess(a, b string) bool {
	pa := strings.Split(strings.TrimPrefix(a, "v"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		if errA != nil || errB != nil {
			if pa[i] != pb[i] {
				return pa[i] < pb[i]
			}
			continue
		}
		if na != nb {
			return na < nb
		}
	}
	return len(pa) < len(pb)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func splitIDs(s string) map[string]bool {
	ids := map[string]bool{}
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids[id] = true
		}
	}
	return ids
}
