// Package deploycheck holds the tests of the deployment files, which no
// Docker engine or cluster runs here: docker-compose.yml is loaded with the
// Compose specification's own Go library and every service, port,
// dependency and MONGOTRON_* variable is checked against the flags the
// binaries print with --help; deploy/k8s/*.yaml is decoded strictly into
// the Kubernetes API types and checked for probes, drains, selectors and
// the environment. The NATS cluster's configuration in both (command-line
// flags in one, a configuration file in the other) is read with
// nats-server's own parser and checked for JetStream, server names, stores
// and routes. deploy/Dockerfile is checked for the facts the other files
// rely on.
package deploycheck

import (
	"bufio"
	"regexp"
	"strings"
)

// A flag's first line as pkg/config.PrintFlags prints it ("  --mongo.uri
// URI   (MONGOTRON_MONGO_URI)"), and the start of a deprecated name's usage
// on the line after it.
var (
	envKeyRe     = regexp.MustCompile(`^\s+--\S+.*\((MONGOTRON_[A-Z0-9_]+)\)\s*$`)
	deprecatedRe = regexp.MustCompile(`^\s+Deprecated:`)
)

// EnvKeys returns the MONGOTRON_* keys a binary reads under their current
// names, from its --help output, as every binary built on pkg/config
// prints it. The keys of deprecated names are left out: the deployment
// files must not use them.
func EnvKeys(help string) map[string]bool {
	keys := map[string]bool{}
	var pending string
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if pending != "" && deprecatedRe.MatchString(line) {
			pending = ""
			continue
		}
		if pending != "" {
			keys[pending] = true
			pending = ""
		}
		if m := envKeyRe.FindStringSubmatch(line); m != nil {
			pending = m[1]
		}
	}
	if pending != "" {
		keys[pending] = true
	}
	return keys
}
