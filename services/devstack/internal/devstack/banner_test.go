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

// TestPrintBanner_TronNodes lists every simulated node's URLs and what
// the ingest reads of each.
func TestPrintBanner_TronNodes(t *testing.T) {
	t.Parallel()
	info := devstack.Info{
		EdgeURLs: []string{"http://127.0.0.1:8080"}, IngestURL: "http://127.0.0.1:8070",
		SimURL: "http://127.0.0.1:8090", TronNodeURL: "http://127.0.0.1:8090",
		SimNodes: []devstack.SimNode{
			{HTTP: "http://127.0.0.1:8090", GRPC: "grpc://127.0.0.1:50051"},
			{HTTP: "http://127.0.0.1:8091", GRPC: "grpc://127.0.0.1:50052"},
		},
		TronNodeURLs: []string{"http://127.0.0.1:8090", "grpc://127.0.0.1:50052"},
	}
	var b strings.Builder
	devstack.PrintBanner(&b, info)
	out := b.String()
	require.Contains(t, out, "  tron (sim)    node 1  http://127.0.0.1:8090  grpc://127.0.0.1:50051  (ingest reads http://127.0.0.1:8090)\n")
	require.Contains(t, out, "                node 2  http://127.0.0.1:8091  grpc://127.0.0.1:50052  (ingest reads grpc://127.0.0.1:50052)\n")
	require.Contains(t, out, "/sim/faults")

	info.SimNodes, info.TronNodeURLs = info.SimNodes[:1], info.TronNodeURLs[:1]
	b.Reset()
	devstack.PrintBanner(&b, info)
	require.Contains(t, b.String(), "  tron (sim)    http://127.0.0.1:8090  (POST /sim/mine, /sim/reorg; GET /sim/status)\n                grpc://127.0.0.1:50051  (gRPC)\n")
}
