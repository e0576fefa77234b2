package deploycheck_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/services/devstack/internal/deploycheck"
)

// root is the repository, where docker-compose.yml and deploy/ live.
var root string

// envKeys maps each binary (ingest, edge, tronsim) to the MONGOTRON_*
// keys its --help lists.
var envKeys = map[string]map[string]bool{}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setup builds the binaries once, reads their --help, and runs the tests.
func setup(m *testing.M) (int, error) {
	r, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(filepath.Join(r, "go.work")); err != nil {
		return 0, fmt.Errorf("repository root: %w", err)
	}
	root = r
	dir, err := os.MkdirTemp("", "deploycheck-*")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	for _, b := range []struct{ name, pkg string }{
		{"ingest", "github.com/mongotron/mongotron/services/ingest"},
		{"edge", "github.com/mongotron/mongotron/services/edge"},
		{"tronsim", "github.com/mongotron/mongotron/services/tronsim"},
	} {
		bin := filepath.Join(dir, b.name)
		build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, b.pkg)
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("building %s: %w\n%s", b.name, err, out)
		}
		// --help exits 0 and prints the usage on stderr; the environment
		// must not hold keys the binary would refuse.
		help := exec.Command(bin, "--help")
		help.Env = []string{}
		out, err := help.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%s --help: %w\n%s", b.name, err, out)
		}
		keys := deploycheck.EnvKeys(string(out))
		if len(keys) < 5 {
			return 0, fmt.Errorf("%s --help: found only %d keys in:\n%s", b.name, len(keys), out)
		}
		envKeys[b.name] = keys
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			return 0, fmt.Errorf("goleak: %w", err)
		}
	}
	return code, nil
}
