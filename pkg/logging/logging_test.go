package logging_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       logging.Config
		wantJSON  bool
		wantDebug bool
		wantErr   string
	}{
		{name: "zero value is JSON at info off a terminal", cfg: logging.Config{}, wantJSON: true},
		{name: "auto", cfg: logging.Config{Level: "warn", Format: "auto"}, wantJSON: true},
		{name: "json debug", cfg: logging.Config{Level: "DEBUG", Format: "json"}, wantJSON: true, wantDebug: true},
		{name: "text", cfg: logging.Config{Level: "info", Format: "text"}},
		{name: "bad level", cfg: logging.Config{Level: "verbose"}, wantErr: `logging: log.level "verbose": want debug, info, warn or error`},
		{name: "offset level refused", cfg: logging.Config{Level: "info+2"}, wantErr: `log.level "info+2"`},
		{name: "bad format", cfg: logging.Config{Format: "xml"}, wantErr: `logging: log.format "xml": want auto, json or text`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := logging.New(tc.cfg, &buf)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, tc.cfg.Validate(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, tc.cfg.Validate())
			l.Debug("debug line")
			l.Error("started", "addr", ":8080")
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if tc.wantDebug {
				require.Len(t, lines, 2)
			} else {
				require.Len(t, lines, 1)
			}
			last := lines[len(lines)-1]
			if tc.wantJSON {
				var m map[string]any
				require.NoError(t, json.Unmarshal(last, &m))
				require.Equal(t, "started", m["msg"])
				require.Equal(t, ":8080", m["addr"])
			} else {
				require.Contains(t, string(last), `msg=started addr=:8080`)
			}
		})
	}
}

func TestConfig_RegisterFlags(t *testing.T) {
	t.Parallel()
	var c logging.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--log.level=debug"}))
	require.Equal(t, logging.Config{Level: "debug", Format: "auto"}, c)
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	require.False(t, logging.IsTerminal(&bytes.Buffer{}))
	f, err := openTemp(t)
	require.NoError(t, err)
	require.False(t, logging.IsTerminal(f))
}

func openTemp(tb testing.TB) (*os.File, error) {
	tb.Helper()
	f, err := os.Create(filepath.Join(tb.TempDir(), "log"))
	if err == nil {
		tb.Cleanup(func() { _ = f.Close() })
	}
	return f, err
}
