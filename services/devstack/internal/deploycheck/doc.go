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

// Flag keys printed by pkg/config.PrintFlags ("  --mongo.uri URI
// (MONGOTRON_MONGO_URI)") and by the flag package's PrintDefaults ("  -addr
// string").
var (
	envKeyRe    = regexp.MustCompile(`^\s+--\S+.*\((MONGOTRON_[A-Z0-9_]+)\)\s*$`)
	plainFlagRe = regexp.MustCompile(`^\s+-([a-z][a-z0-9.-]*)(\s|$)`)
)

// EnvKeys returns the MONGOTRON_* keys a binary reads, from its --help
// output. prefix is the key prefix of a binary whose help lists plain
// flags (the simulator's "MONGOTRON_TRONSIM_"); empty means the help shows
// each key in parentheses, as every daemon built on pkg/config does.
func EnvKeys(help, prefix string) map[string]bool {
	keys := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if prefix == "" {
			if m := envKeyRe.FindStringSubmatch(line); m != nil {
				keys[m[1]] = true
			}
			continue
		}
		if m := plainFlagRe.FindStringSubmatch(line); m != nil {
			keys[prefix+strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(m[1]))] = true
		}
	}
	return keys
}
