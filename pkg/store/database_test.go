package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mongotron/mongotron/pkg/store"
)

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		uri     string
		want    string
		wantErr string
	}{
		{name: "named in the path", uri: "mongodb://127.0.0.1:27017/chaos", want: "chaos"},
		{name: "no path", uri: "mongodb://127.0.0.1:27017", want: store.DefaultDatabase},
		{name: "empty path", uri: "mongodb://127.0.0.1:27017/", want: store.DefaultDatabase},
		{name: "options only", uri: "mongodb://127.0.0.1:27017/?replicaSet=rs0", want: store.DefaultDatabase},
		{name: "replica set with options", uri: "mongodb://a:27017,b:27017,c:27017/events?replicaSet=rs0&w=majority", want: "events"},
		{name: "credentials", uri: "mongodb://user:p%40ss@db:27017/prod?authSource=admin", want: "prod"},
		{name: "percent-encoded", uri: "mongodb://db/my%2Ddb", want: "my-db"},
		{name: "not a mongodb URI", uri: "postgres://db/x", wantErr: "store: mongo.uri: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := store.DatabaseName(tt.uri)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
