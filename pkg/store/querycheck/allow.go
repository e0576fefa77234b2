package querycheck

import "slices"

// IDOnly are the collections that have no index but _id, by design: every
// query of theirs must test _id (or range over it). Names are spelled out
// because some belong to services' internal packages.
var IDOnly = []string{"checkpoints", "blocks", "sub_heads", "backfills", "tokens"}

// Allowed are the shapes meant to read a whole collection or most of it,
// each with the reason. Anything else a test records must be served by an
// index.
var Allowed = map[string]string{
	"find subscriptions other(status)": "the ingest holds every live subscription in memory: it reads them all at start and at each resync",
	"find tokens":                      "the token cache holds every token's metadata in memory and reads them all at start",
	"find checkpoints sort(-block)":    "the checkpoints collection holds one document, the ingest's",
	"find events":                      "the ingest rebuilds the subscriptions' heads from every stored event once, on the first start after an upgrade from a version without heads",
}

// ProjectAllowed reports whether s is in [Allowed].
func ProjectAllowed(s Shape) bool {
	_, ok := Allowed[s.String()]
	return ok
}

// known reports whether the collection's indexes are known in this run.
func known(coll string, byColl map[string][]Index) bool {
	_, ok := byColl[coll]
	return ok || slices.Contains(IDOnly, coll)
}
