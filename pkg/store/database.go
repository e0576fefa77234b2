package store

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// DefaultDatabase is the database of a MongoDB connection string that
// names none.
const DefaultDatabase = "mongotron"

// DatabaseName returns the database a MongoDB connection string names in
// its path, or [DefaultDatabase] when it names none. The ingest and the
// edge both take their database from it, so that given one mongo.uri they
// always share one database. The string is read by the driver's own
// parser, the one mongo.Connect uses, so the two never disagree on what
// the path says; for a mongodb+srv:// string that parser looks the
// host's SRV and TXT records up, as connecting would.
func DatabaseName(uri string) (string, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return "", fmt.Errorf("store: mongo.uri: %w", err)
	}
	if cs.Database == "" {
		return DefaultDatabase, nil
	}
	return cs.Database, nil
}
