package nodes

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.GoleakOptions()...) }
