package chaos_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/chaos"
)

// binDir holds the ingest, edge and tronsim binaries, built once for the
// package without the race detector; or prebuilt ones from the directory
// CHAOS_BIN_DIR names, to iterate on these tests without a build.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if dir := os.Getenv("CHAOS_BIN_DIR"); dir != "" {
		binDir = dir
		return runAndCheck(m)
	}
	dir, err := os.MkdirTemp("", "chaos-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := chaos.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir
	return runAndCheck(m)
}

// runAndCheck runs the tests, then checks that no goroutine outlived them.
func runAndCheck(m *testing.M) int {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(testenv.GoleakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
