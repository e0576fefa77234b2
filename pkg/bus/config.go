package bus

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/mongotron/mongotron/pkg/config"
)

// MaxReplicas is the most copies JetStream keeps of a stream.
const MaxReplicas = 5

// Config is how a daemon reaches NATS: the nats.* flags, the same in every
// daemon.
type Config struct {
	// URL lists the NATS servers, comma separated
	// ("nats://n1:4222,nats://n2:4222"): the client tries them in turn,
	// reconnects to another when one goes away, and in a cluster learns
	// the rest from the one it reaches. It is required.
	URL string
	// Replicas is how many servers keep each JetStream stream and durable
	// consumer the daemon creates: 1 for a single server, 3 for a
	// production cluster, where a stream then survives the loss of one
	// node. Zero means 1.
	Replicas int
}

// RegisterFlags registers nats.url and nats.replicas.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "nats.url", "nats://127.0.0.1:4222", "NATS server `URLs`, comma separated (list every node of a cluster)")
	fs.IntVar(&c.Replicas, "nats.replicas", 1, "copies JetStream keeps of each stream and durable consumer: 1 for one server, 3 for a cluster")
}

// Validate checks every URL of the list and the replica count.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, errors.New("config: nats.url is required"))
	}
	for i, u := range c.URLs() {
		name := "nats.url"
		if len(c.URLs()) > 1 {
			name = fmt.Sprintf("nats.url (entry %d)", i+1)
		}
		errs = append(errs, config.CheckURL(name, u, false, "nats", "tls"))
	}
	if c.Replicas < 0 || c.Replicas > MaxReplicas {
		errs = append(errs, fmt.Errorf("config: nats.replicas %d: want 1 to %d", c.Replicas, MaxReplicas))
	}
	return config.Join(errs...)
}

// URLs returns the servers of URL, in order.
func (c Config) URLs() []string {
	var out []string
	for u := range strings.SplitSeq(c.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// ReplicaCount is Replicas with zero read as 1.
func (c Config) ReplicaCount() int { return max(c.Replicas, 1) }
