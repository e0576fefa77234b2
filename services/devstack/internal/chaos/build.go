package chaos

import (
	"fmt"
	"os"
	"os/exec"
)

// packages are the children's main packages; each builds into a binary
// named after its last path element (ingest, edge, tronsim).
var packages = []string{
	"github.com/mongotron/mongotron/services/ingest",
	"github.com/mongotron/mongotron/services/edge",
	"github.com/mongotron/mongotron/services/tronsim",
}

// Build builds the ingest, edge and tronsim binaries into dir with one go
// command, which must run inside the repository's workspace. They are
// built without the race detector, which would make the build minutes
// long and the children slow.
func Build(dir string) error {
	args := append([]string{"build", "-buildvcs=false", "-o", dir + string(os.PathSeparator)}, packages...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: go build: %w\n%s", err, out)
	}
	return nil
}
