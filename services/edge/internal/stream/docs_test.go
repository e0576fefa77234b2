package stream

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// apiDoc is the public contract, seen from this package's directory.
var apiDoc = filepath.Join("..", "..", "..", "..", "docs", "api.md")

// documentedDisconnects are the close reasons of disconnect.go, by name.
// TestDocs_CloseCodes fails when disconnect.go declares one not listed
// here, so that a new close reason cannot skip the documentation.
var documentedDisconnects = map[string]Disconnect{
	"DisconnectNormal":              DisconnectNormal,
	"DisconnectGoingAway":           DisconnectGoingAway,
	"DisconnectPongTimeout":         DisconnectPongTimeout,
	"DisconnectConnectionLost":      DisconnectConnectionLost,
	"DisconnectKeyRevoked":          DisconnectKeyRevoked,
	"DisconnectMessageTooBig":       DisconnectMessageTooBig,
	"DisconnectInternal":            DisconnectInternal,
	"DisconnectServiceRestart":      DisconnectServiceRestart,
	"DisconnectBrokerLost":          DisconnectBrokerLost,
	"DisconnectUnmendable":          DisconnectUnmendable,
	"DisconnectUnknownSubscription": DisconnectUnknownSubscription,
	"DisconnectSlowConsumer":        DisconnectSlowConsumer,
	"DisconnectTooManyConnections":  DisconnectTooManyConnections,
	"DisconnectSubscriptionDeleted": DisconnectSubscriptionDeleted,
}

// TestDocs_CloseCodes checks that docs/api.md's close code table has a row
// for every close reason declared in disconnect.go, with its code and its
// exact reason text.
func TestDocs_CloseCodes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(apiDoc)
	require.NoError(t, err)
	doc := string(b)

	f, err := parser.ParseFile(token.NewFileSet(), "disconnect.go", nil, 0)
	require.NoError(t, err)
	var declared []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if cl, ok := vs.Values[i].(*ast.CompositeLit); ok {
					if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "Disconnect" {
						declared = append(declared, name.Name)
					}
				}
			}
		}
	}
	require.NotEmpty(t, declared, "no Disconnect values found in disconnect.go")
	for _, name := range declared {
		require.Contains(t, documentedDisconnects, name,
			"disconnect.go declares %s: add it to documentedDisconnects and a row for it to docs/api.md's close codes", name)
	}
	for name := range documentedDisconnects {
		require.True(t, slices.Contains(declared, name), "%s is no longer declared in disconnect.go", name)
	}

	rows := strings.Split(doc, "\n")
	for name, d := range documentedDisconnects {
		code := "| " + strconv.Itoa(d.Code) + " |"
		reason := "`" + d.Reason + "`"
		found := slices.ContainsFunc(rows, func(row string) bool {
			return strings.HasPrefix(row, code) && strings.Contains(row, reason)
		})
		require.True(t, found, "docs/api.md has no close code row %q with the reason %s (%s)", code, reason, name)
	}
}

// TestDocs_ServerMessages checks that docs/api.md names every field of the
// hello and heartbeat frames.
func TestDocs_ServerMessages(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(apiDoc)
	require.NoError(t, err)
	doc := string(b)
	for _, msg := range [][]byte{
		helloMessage("sub_x", true, 15*time.Second),
		heartbeatMessage(100, 81, time.Now()),
	} {
		var m map[string]any
		require.NoError(t, json.Unmarshal(msg, &m), string(msg))
		for k := range m {
			require.Contains(t, doc, `"`+k+`"`, "docs/api.md does not name the field %q of %s", k, msg)
		}
	}
}
