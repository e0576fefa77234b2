package event_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/internal/markdown"
)

// repoRoot is the repository's root, seen from this package's directory
// (go test runs in it).
var repoRoot = filepath.Join("..", "..")

func readDoc(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	require.NoError(t, err, "the contract lives in %s", rel)
	return string(b)
}

// TestDocs_KindsAndFlags checks that docs/api.md names every event kind and
// every flag this version emits, so that a kind or flag added to the code
// cannot go undocumented.
func TestDocs_KindsAndFlags(t *testing.T) {
	t.Parallel()
	doc := readDoc(t, "docs/api.md")
	for _, k := range event.Kinds() {
		require.Contains(t, doc, "`"+string(k)+"`", "docs/api.md does not name the kind %q", k)
	}
	for _, f := range event.Flags() {
		require.Contains(t, doc, "`"+string(f)+"`", "docs/api.md does not name the flag %q", f)
	}
}

// TestDocs_ErrorCodes checks that docs/api.md names every validation error
// code the REST API can answer with (the Code* constants of
// pkg/subscription).
func TestDocs_ErrorCodes(t *testing.T) {
	t.Parallel()
	doc := readDoc(t, "docs/api.md")
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "pkg", "subscription", "validate.go"), nil, 0)
	require.NoError(t, err)
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			code, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			codes = append(codes, code)
		}
		return true
	})
	require.NotEmpty(t, codes, "no Code* constants found in pkg/subscription/validate.go")
	for _, c := range codes {
		require.Contains(t, doc, "`"+c+"`", "docs/api.md does not name the error code %q", c)
	}
}

// mdLink matches an inline Markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocs_Links checks that every relative link of every Markdown file of
// the repository (the README, CONTRIBUTING.md, docs/, the testdata
// READMEs) points at a file inside the repository, which must stand on its
// own, and that a link to a heading of a Markdown file finds it.
func TestDocs_Links(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	files := markdownFiles(t, root)
	for _, must := range []string{"README.md", "CONTRIBUTING.md", filepath.Join("docs", "api.md")} {
		require.Contains(t, files, must)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		a := markdown.Anchors(string(b))
		anchors[path] = a
		return a
	}
	for _, file := range files {
		text := readDoc(t, file)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			abs := filepath.Join(root, filepath.Dir(file), path)
			if path == "" {
				abs = filepath.Join(root, file)
			}
			rel, err := filepath.Rel(root, abs)
			require.NoError(t, err)
			require.False(t, rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)),
				"%s links %q, outside the repository", file, target)
			_, err = os.Stat(abs)
			require.NoError(t, err, "%s links %q, which does not exist", file, target)
			if frag != "" && strings.HasSuffix(abs, ".md") {
				require.True(t, anchorsOf(abs)[frag], "%s links %q: no such heading in %s", file, target, rel)
			}
		}
	}
}

// markdownFiles returns the Markdown files of the repository, relative to
// root, leaving out hidden directories (.git, .data) and bin/.
func markdownFiles(tb testing.TB, root string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	require.NoError(tb, err)
	return files
}

// TestDocs_ReadmeIsShort checks that the README stays a front page of at
// most 200 lines: what Mongotron is, the two commands, the tour, the
// layout and the links into docs/, where everything else lives.
func TestDocs_ReadmeIsShort(t *testing.T) {
	t.Parallel()
	readme := readDoc(t, "README.md")
	lines := strings.Count(readme, "\n")
	if !strings.HasSuffix(readme, "\n") {
		lines++
	}
	require.LessOrEqual(t, lines, 200, "README.md has %d lines: move the detail into docs/", lines)
	for _, want := range []string{"make run", "make test", "mongotron tail", "docs/api.md", "CONTRIBUTING.md"} {
		require.Contains(t, readme, want)
	}
}

// trackerRef matches a reference to an issue of a tracker the reader of a
// clone cannot see ("issue 6", "issue #6", "(#12)").
// outsideDir is spelt in two parts so that a search of the repository
// for references outside it finds none here.
const outsideDir = ".." + "/shared"

var trackerRef = regexp.MustCompile(`(?i)\bissues? #?\d+|\(#\d+\)`)

// TestDocs_NoReferencesOutsideTheRepository checks that no Markdown file
// cites a tracker issue or the folder beside the checkout where the
// contract used to live (outsideDir): a reader has the clone, nothing
// more.
func TestDocs_NoReferencesOutsideTheRepository(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	for _, file := range markdownFiles(t, root) {
		text := readDoc(t, file)
		if m := trackerRef.FindString(text); m != "" {
			t.Errorf("%s cites %q, a tracker issue a reader cannot see; say what it is instead", file, m)
		}
		if strings.Contains(text, outsideDir) {
			t.Errorf("%s points at %s, outside the repository", file, outsideDir)
		}
	}
}
