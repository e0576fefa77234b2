package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The messages below have the shape govulncheck v1.9.0 prints with
// -format json (trimmed to the fields the policy reads, plus a few it
// must skip).
const (
	config = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scanner_version":"v1.9.0","go_version":"go1.26.8","scan_level":"symbol"}}`
	osvStd = `{"osv":{"schema_version":"1.3.1","id":"GO-2026-6611","summary":"Unbounded read in net/http"}}
{"osv":{"id":"GO-2026-6700","summary":"Panic in crypto/x509"}}`
	stdCalled = `{"finding":{"osv":"GO-2026-6611","fixed_version":"v1.26.9","trace":[
	  {"module":"stdlib","version":"v1.26.8","package":"net/http","function":"ReadResponse","position":{"line":154}},
	  {"module":"github.com/mongotron/mongotron/pkg","package":"github.com/mongotron/mongotron/pkg/openapitest","function":"Write","receiver":"*watchedConn"}]}}
{"finding":{"osv":"GO-2026-6611","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http"}]}}
{"finding":{"osv":"GO-2026-6611","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8"}]}}`
	stdImported = `{"finding":{"osv":"GO-2026-6700","fixed_version":"v1.26.10","trace":[{"module":"stdlib","version":"v1.26.8","package":"crypto/x509"}]}}`
	osvDep      = `{"osv":{"id":"GO-2026-7001","summary":"Denial of service in google.golang.org/grpc"}}`
	depModule   = `{"finding":{"osv":"GO-2026-7001","fixed_version":"v1.83.2","trace":[{"module":"google.golang.org/grpc","version":"v1.83.1"}]}}`
	progress    = `{"progress":{"message":"Scanning your code and 512 packages across 90 dependent modules for known vulnerabilities..."}}`
)

func stream(msgs ...string) string { return strings.Join(msgs, "\n") + "\n" }

func TestReport_Policy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		ignore   string
		wantFail bool
		want     []string
		dontWant []string
	}{
		{
			name: "nothing found passes",
			in:   stream(config, progress),
			want: []string{"vulncheck: no known vulnerabilities\n"},
		},
		{
			name: "standard library findings warn with the Go release that fixes all of them",
			in:   stream(config, osvStd, stdCalled, stdImported),
			want: []string{
				"warning: the standard library of go1.26.8 has 2 known vulnerabilities (1 reached from our code); go1.26.10 fixes them.",
				"GO-2026-6611 stdlib@v1.26.8 (fixed in v1.26.9): Unbounded read in net/http; called from github.com/mongotron/mongotron/pkg/openapitest.(*watchedConn).Write",
				"GO-2026-6700 stdlib@v1.26.8 (fixed in v1.26.10): Panic in crypto/x509; package imported",
				"vulncheck: no known vulnerabilities in dependencies",
			},
			dontWant: []string{"FAIL"},
		},
		{
			name:     "a dependency's finding fails even when only its module is required",
			in:       stream(config, osvStd, osvDep, stdCalled, depModule),
			wantFail: true,
			want: []string{
				"FAIL GO-2026-7001 google.golang.org/grpc@v1.83.1 (fixed in v1.83.2): Denial of service in google.golang.org/grpc; module required",
				"vulncheck: 1 known vulnerabilities in dependencies",
				"go1.26.9 fixes them",
			},
		},
		{
			name:   "an ignored dependency finding is shown and passes",
			in:     stream(config, osvDep, depModule),
			ignore: "GO-2026-0001, GO-2026-7001",
			want: []string{
				"ignored (--ignore) GO-2026-7001 google.golang.org/grpc@v1.83.1",
				"vulncheck: no known vulnerabilities in dependencies apart from 1 ignored\n",
				"note: --ignore GO-2026-0001 matches nothing any more; remove it\n",
			},
			dontWant: []string{"FAIL"},
		},
		{
			name: "a standard library finding without a fix is named",
			in: stream(config, osvStd, stdCalled,
				`{"finding":{"osv":"GO-2026-6700","trace":[{"module":"stdlib","version":"v1.26.8","package":"crypto/x509","function":"Verify"}]}}`),
			want: []string{
				"(2 reached from our code); go1.26.9 fixes them except GO-2026-6700, which no release fixes yet.",
				"GO-2026-6700 stdlib@v1.26.8 (no fixed version yet)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := parse(strings.NewReader(tt.in))
			require.NoError(t, err)
			var out bytes.Buffer
			require.Equal(t, tt.wantFail, r.report(&out, splitIDs(tt.ignore)))
			for _, s := range tt.want {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tt.dontWant {
				require.NotContains(t, out.String(), s)
			}
		})
	}
}

func TestParse_KeepsTheClosestFindingOfEachVulnerability(t *testing.T) {
	t.Parallel()
	// The module-level and package-level findings come after the call
	// path here; the call path must still win.
	in := stream(osvStd, stdCalled)
	r, err := parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, r.vulns, 1)
	v := r.vulns["GO-2026-6611"]
	require.Equal(t, levelSymbol, v.Level)
	require.Equal(t, 3, v.Sites)
	require.Equal(t, "Unbounded read in net/http", v.Summary)
}

func TestParse_RejectsWhatIsNotGovulncheckJSON(t *testing.T) {
	t.Parallel()
	_, err := parse(strings.NewReader("Scanning your code...\nNo vulnerabilities found.\n"))
	require.Error(t, err)
}

func TestVersionLess_ComparesNumerically(t *testing.T) {
	t.Parallel()
	require.True(t, versionLess("v1.26.9", "v1.26.10"))
	require.False(t, versionLess("v1.26.10", "v1.26.9"))
	require.True(t, versionLess("v1.25.12", "v1.26.0"))
	require.False(t, versionLess("v1.26.9", "v1.26.9"))
}

// fakeGovulncheck writes a program that stands in for govulncheck: it
// checks it was given the database and JSON output, then prints out.
func fakeGovulncheck(t *testing.T, out string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in govulncheck is a shell script")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out.json"), []byte(out), 0o600))
	script := `#!/bin/sh
[ "$1" = -db ] && [ "$2" = file:///db ] && [ "$3" = -format ] && [ "$4" = json ] || { echo "unexpected arguments: $*" >&2; exit 2; }
shift 4
echo "$*" > "` + dir + `/patterns"
cat "` + dir + `/out.json"
`
	bin := filepath.Join(dir, "govulncheck")
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o700))
	return bin
}

func TestRun_ExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		args []string
		want int
	}{
		{name: "standard library only", out: stream(config, osvStd, stdCalled), want: 0},
		{name: "dependency", out: stream(config, osvDep, depModule), want: 1},
		{name: "dependency ignored", out: stream(config, osvDep, depModule), args: []string{"--ignore", "GO-2026-7001"}, want: 0},
		{name: "not JSON", out: "No vulnerabilities found.\n", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bin := fakeGovulncheck(t, tt.out)
			var stdout, stderr bytes.Buffer
			args := append([]string{"--govulncheck", bin, "--db", "file:///db"}, tt.args...)
			args = append(args, "example.com/a/...", "example.com/b/...")
			require.Equal(t, tt.want, run(context.Background(), args, &stdout, &stderr), "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			patterns, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "patterns"))
			require.NoError(t, err)
			require.Equal(t, "example.com/a/... example.com/b/...\n", string(patterns))
		})
	}
}

func TestRun_Usage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"--db", "file:///db", "--vulndb", "v0.0.0"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "exactly one of --vulndb and --db")
	require.Equal(t, 2, run(context.Background(), []string{"--govulncheck", filepath.Join(t.TempDir(), "missing"), "--db", "file:///db"}, &stdout, &stderr))
}
