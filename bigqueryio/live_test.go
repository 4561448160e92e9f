package bigqueryio

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/open-stage/openstage"
)

// TestLive runs the round trips against Google's BigQuery, for users who
// want to check the stages on their own project. It is skipped unless
// OPENSTAGE_BIGQUERY_LIVE_PROJECT names a project and credentials are found
// as the stages look for them (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// file, the metadata server):
//
//	OPENSTAGE_BIGQUERY_LIVE_PROJECT=my-project \
//	GOOGLE_APPLICATION_CREDENTIALS=$HOME/key.json \
//	go test ./bigqueryio -run TestLive -v
//
// It creates a dataset openstage_live_<time> (in OPENSTAGE_BIGQUERY_LIVE_LOCATION,
// default US) and deletes it with its tables at the end. The account needs
// BigQuery Data Editor and Job User on the project; the data is a few rows.
func TestLive(t *testing.T) {
	project := os.Getenv("OPENSTAGE_BIGQUERY_LIVE_PROJECT")
	if project == "" {
		t.Skip("set OPENSTAGE_BIGQUERY_LIVE_PROJECT (and credentials) to run the round trip against Google's BigQuery")
	}
	t.Setenv(EmulatorHostEnv, "")
	os.Unsetenv(EmulatorHostEnv)
	creds, from, err := defaultCredentials()
	if err != nil {
		t.Skipf("OPENSTAGE_BIGQUERY_LIVE_PROJECT is set but no credentials were found: %v", err)
	}
	t.Logf("project %s, credentials from %s", project, from)
	ctx := context.Background()
	client, err := bigquery.NewClient(ctx, project, option.WithAuthCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	location := os.Getenv("OPENSTAGE_BIGQUERY_LIVE_LOCATION")
	if location == "" {
		location = "US"
	}
	dataset := fmt.Sprintf("openstage_live_%d", time.Now().UnixNano())
	ds := client.Dataset(dataset)
	if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: location, DefaultTableExpiration: 24 * time.Hour}); err != nil {
		t.Fatalf("creating dataset %s: %v", dataset, err)
	}
	t.Cleanup(func() {
		if err := ds.DeleteWithContents(context.Background()); err != nil {
			t.Errorf("deleting dataset %s: %v (delete it by hand)", dataset, err)
		}
	})

	t.Run("every type through the command", func(t *testing.T) {
		roundTripEveryType(t, roundTrip{client: client, project: project, dataset: dataset})
	})
	t.Run("Go API", func(t *testing.T) {
		conn := Conn{ProjectID: project}
		rows := people(30)
		src := source(peopleSchema, rows, 7)
		dst := openstage.New("writer", func(d *GCPBigQueryDestination) {
			d.Conn, d.Dataset, d.Table, d.WriteDisposition = conn, dataset, "people", "WRITE_TRUNCATE"
		})
		connect(src, dst)
		if _, err := runJob(t, src, dst); err != nil {
			t.Fatal(err)
		}
		o := openstage.New("reader", func(o *GCPBigQueryOrigin) {
			o.Conn = conn
			o.Query = fmt.Sprintf("SELECT * FROM `%s.%s.people` WHERE id >= @min ORDER BY id", project, dataset)
			o.Params = map[string]any{"min": int64(1)}
		})
		sink, err := readQuery(t, o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sink.Rows, rows) {
			t.Errorf("read back\n%v\nwant\n%v", sink.Rows, rows)
		}
		_, err = readQuery(t, openstage.New("reader", func(o *GCPBigQueryOrigin) {
			o.Conn = conn
			o.Query = fmt.Sprintf("SELECT * FROM `%s.%s.missing`", project, dataset)
		}))
		if err == nil || !strings.Contains(err.Error(), "Not found: Table") {
			t.Errorf("a query on a missing table: %v", err)
		}
	})
}
