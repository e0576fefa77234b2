package deploycheck_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/deploycheck"
)

func TestEnvKeys_leavesDeprecatedNamesOut(t *testing.T) {
	t.Parallel()
	help := "Usage: x [flags]\n\n" +
		"  --addr address   (MONGOTRON_TRONSIM_ADDR)\n" +
		"    \tDeprecated: use --http.addr (MONGOTRON_TRONSIM_HTTP_ADDR) instead. This name is removed in the next release.\n" +
		"  --http.addr address   (MONGOTRON_TRONSIM_HTTP_ADDR)\n" +
		"    \taddress the server listens on (default \"127.0.0.1:8090\")\n" +
		"  --log-level string\n" +
		"    \tDeprecated: use --log.level instead. This name is removed in the next release.\n" +
		"  --instant   (MONGOTRON_TRONSIM_INSTANT)\n" +
		"    \trelease every block at once\n" +
		"  --seed uint   (MONGOTRON_TRONSIM_SEED)\n"
	require.Equal(t, map[string]bool{
		"MONGOTRON_TRONSIM_HTTP_ADDR": true,
		"MONGOTRON_TRONSIM_INSTANT":   true,
		"MONGOTRON_TRONSIM_SEED":      true,
	}, deploycheck.EnvKeys(help))
}
