package devstack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

// binDir holds the ingest, edge and tronsim binaries built once for the
// package; without -race, which would make the build minutes long and the
// children slow.
var binDir string

// runAsDevstack, set to 1 in the environment, makes the test binary run
// as bin/devstack with its arguments as flags, for tests that kill the
// stack's own process.
const runAsDevstack = "DEVSTACK_TEST_RUN_AS_DEVSTACK"

// stackSlots bounds how many whole stacks the package's tests run at
// once. Each holds a FerretDB inside this race-instrumented test binary
// and four children; five at once on two cores starved FerretDB into
// multi-second stalls that cost the ingest its lease and the tests their
// deadlines.
var stackSlots = make(chan struct{}, 2)

// holdStackSlot waits for a free stack slot and keeps it until the test
// and its cleanups are done.
func holdStackSlot(t *testing.T) {
	t.Helper()
	select {
	case stackSlots <- struct{}{}:
	case <-t.Context().Done():
		t.Fatal("no stack slot before the test's end")
	}
	t.Cleanup(func() { <-stackSlots })
}

func TestMain(m *testing.M) {
	if os.Getenv(runAsDevstack) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := devstack.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "devstack-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	for name, pkg := range map[string]string{
		"ingest":  "github.com/mongotron/mongotron/services/ingest",
		"edge":    "github.com/mongotron/mongotron/services/edge",
		"tronsim": "github.com/mongotron/mongotron/services/tronsim",
	} {
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", filepath.Join(dir, name), pkg)
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", name, err, out)
			return 1
		}
	}
	binDir = dir
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(testenv.GoleakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
