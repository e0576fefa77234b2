package devstack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/services/devstack/internal/devstack"
)

// TestPrintBanner_NamesWhatTheTourUses checks that the banner gives the
// README's one-minute tour everything it needs: the command to tail the
// demo subscription, the viewer's URL and the key to paste into it.
func TestPrintBanner_NamesWhatTheTourUses(t *testing.T) {
	t.Parallel()
	info := devstack.Info{
		EdgeURLs:  []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"},
		IngestURL: "http://127.0.0.1:8070", SimURL: "http://127.0.0.1:8090", TronNodeURL: "http://127.0.0.1:8090",
		NATSURL: "nats://127.0.0.1:4222", MongoURI: "mongodb://127.0.0.1:27017/",
		AdminKey: "admin-key-0123456789",
		Demo:     devstack.Demo{Tenant: "demo", APIKey: "mt_demo", SubscriptionID: "sub_demo", Addresses: []string{"TAddr"}},
	}
	var b strings.Builder
	devstack.PrintBanner(&b, info)
	out := b.String()
	require.Contains(t, out, "  viewer        http://127.0.0.1:8080/\n")
	require.Contains(t, out, "open http://127.0.0.1:8080/ in a browser")
	require.Contains(t, out, devstack.TailCommand(info))
	require.Contains(t, out, "bin/mongotron tail --url http://127.0.0.1:8080 --api-key mt_demo sub_demo")
	require.Contains(t, out, "api key       mt_demo")
}
