package bigqueryio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/openstagetest"
)

const testProject = "test-project"

// env is a local BigQuery-compatible server with a dataset "ds", and a
// client of the official SDK pointed at it, to set up tables and check
// results independently of the stages.
type env struct {
	srv    *bqtest.Server
	client *bigquery.Client
}

func newEnv(t *testing.T, opts bqtest.Options) *env {
	t.Helper()
	srv := bqtest.New(opts)
	t.Cleanup(srv.Close)
	c := newSDKClient(t, srv, testProject)
	if err := srv.CreateDataset(testProject, "ds"); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, client: c}
}

// newSDKClient returns a client of the official SDK for srv.
func newSDKClient(t *testing.T, srv *bqtest.Server, project string) *bigquery.Client {
	t.Helper()
	// No keep-alive: the checks' own connections must not look like
	// goroutines the stages left behind.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	c, err := bigquery.NewClient(context.Background(), project, option.WithEndpoint(srv.URL()+"/bigquery/v2/"), option.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) conn() Conn { return Conn{ProjectID: testProject, Endpoint: e.srv.URL()} }

// loadJSON loads NDJSON rows into ds.table through the SDK.
func (e *env) loadJSON(t *testing.T, table string, schema bigquery.Schema, rows ...map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range rows {
		b, _ := json.Marshal(r)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	src := bigquery.NewReaderSource(&buf)
	src.SourceFormat = bigquery.JSON
	src.Schema = schema
	job, err := e.client.Dataset("ds").Table(table).LoaderFrom(src).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.Wait(context.Background())
	if err != nil || st.Err() != nil {
		t.Fatalf("load: %v %v %v", err, st.Err(), st.Errors)
	}
}

// tableRows reads ds.table through the SDK (tabledata.list), or nil if it
// does not exist.
func (e *env) tableRows(t *testing.T, table string) [][]bigquery.Value {
	t.Helper()
	return e.rowsOf(t, "ds", table)
}

// rowsOf reads dataset.table through the SDK, or nil if it does not exist.
func (e *env) rowsOf(t *testing.T, dataset, table string) [][]bigquery.Value {
	t.Helper()
	it := e.client.Dataset(dataset).Table(table).Read(context.Background())
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			return out
		}
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			t.Fatal(err)
		}
		out = append(out, row)
	}
}

// runJob runs stages under a checked allocator; a leaked buffer fails t.
func runJob(t *testing.T, stages ...*openstage.Stage) (*openstage.Job, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	job := openstage.NewJob("test", stages...)
	job.Allocator = mem
	err := job.Run(context.Background())
	return job, err
}

// source is an in-memory origin stage.
func source(schema *arrow.Schema, rows [][]any, batch int) *openstage.Stage {
	return openstage.NewStage("source", &openstagetest.Source{Schema: schema, Rows: rows, BatchRows: batch})
}

// failingSource sends its rows, then fails.
type failingSource struct {
	openstagetest.Source
}

var errUpstream = errors.New("upstream broke")

func (s *failingSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	if err := s.Source.Pump(ctx, out); err != nil {
		return err
	}
	return errUpstream
}
