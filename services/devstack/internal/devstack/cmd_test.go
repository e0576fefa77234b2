package devstack_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

// TestMain_RenamedFlags checks that the flags renamed to the daemons'
// names keep their old names for a release: the old name still sets the
// value, with a warning naming the new one, and --help marks it.
func TestMain_RenamedFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{
			// The two old names set the two settings: Validate sees
			// both and refuses them together, before starting anything.
			name:     "old names set the new settings",
			args:     []string{"--tron-node", "http://127.0.0.1:1", "--tron-blocks", "/nowhere", "--tron-api-key", "k"},
			wantCode: 2,
			want: []string{
				`msg="deprecated setting name; it is removed in the next release" component=devstack name=--tron-node use=--tron.node-url`,
				`name=--tron-blocks use=--blocks`,
				`name=--tron-api-key use=--tron.api-key`,
				"devstack: blocks and tron.node-url exclude each other\n",
			},
		},
		{
			name:     "both names of one setting",
			args:     []string{"--http", "127.0.0.1:0", "--http.addr", "127.0.0.1:0"},
			wantCode: 2,
			want:     []string{"devstack: config: --http and --http.addr name the same setting: give only --http.addr\n"},
		},
		{
			name:     "help marks the old names",
			args:     []string{"--help"},
			wantCode: 0,
			want: []string{
				"  --tron-node URL\n    \tDeprecated: use --tron.node-url instead.",
				"  --http address\n    \tDeprecated: use --http.addr instead.",
				"  --tron.node-url URL\n    \tuse the real Tron node at this URL instead of the simulator\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := devstack.Main(context.Background(), append(tt.args, "--data", t.TempDir()), &stdout, &stderr)
			require.Equal(t, tt.wantCode, code, stderr.String())
			require.Empty(t, stdout.String())
			for _, w := range tt.want {
				require.Contains(t, stderr.String(), w)
			}
		})
	}
}
