package bigqueryio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/api/iterator"

	"github.com/open-stage/openstage"
)

// GCPBigQueryOrigin runs a query in BigQuery and sends its result, page by
// page as the service returns it, in batches of at most batch_rows rows.
// Plan learns the result's columns with a dry run of the query (no data
// is read, nothing is billed).
type GCPBigQueryOrigin struct {
	Conn
	Query        string         `param:"query" required:"true" doc:"The SQL query (GoogleSQL unless use_legacy_sql). Values belong in params, never spliced into the text."`
	Params       map[string]any `param:"params" doc:"Named query parameters, used as @name in the query: a number, true/false or text, or {type: DATE, value: '2025-01-01'} for another BigQuery type (INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, STRING, BYTES, DATE, DATETIME, TIME, TIMESTAMP)."`
	UseLegacySQL bool           `param:"use_legacy_sql" default:"false" doc:"Run the query as legacy SQL (tables written [project:dataset.table]; no params)."`
	BatchRows    int            `param:"batch_rows" default:"10000" doc:"Most rows per batch sent downstream."`

	client *bigquery.Client
	params []bigquery.QueryParameter
	schema bigquery.Schema // of the result, from the dry run
	out    *arrow.Schema
	apps   []appender
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "GCPBigQueryOrigin",
		Layer:   openstage.Extraction,
		Summary: "Runs a query in Google BigQuery and streams its result page by page.",
		Doc: `Validation runs the query as a dry run, which reads no data and costs nothing,
to learn the result's columns; the run executes it and sends the result page
by page as BigQuery returns it (results are never held whole), in batches of
at most batch_rows rows. Results are read through the BigQuery REST API (the
Storage Read API is not used).

Values go in params and are referenced as @name; they are sent as query
parameters, never pasted into the SQL text.

Types: INT64 -> int64; FLOAT64 -> float64; BOOL -> bool; STRING -> string;
DATE -> date; TIMESTAMP -> timestamp; DATETIME -> timestamp (its wall time
read as UTC); NUMERIC and BIGNUMERIC -> string (the exact decimal, such as
"12.5"; CAST to FLOAT64 in the query for a number); BYTES -> string
(base64); TIME -> string ("15:04:05.25"); JSON -> string (the JSON text);
GEOGRAPHY -> string (WKT); INTERVAL and RANGE -> string; REPEATED and
RECORD/STRUCT columns -> string holding JSON text (an array, an object).
NULLs stay nulls.

Credentials: credentials_path, or Application Default Credentials
(GOOGLE_APPLICATION_CREDENTIALS, gcloud's file, the metadata server). With
endpoint (or BIGQUERY_EMULATOR_HOST) the stage talks to a BigQuery-compatible
server without credentials.`,
		New: func() any { return &GCPBigQueryOrigin{} },
		Example: `- name: iris_reader
  type: GCPBigQueryOrigin
  project_id: my-project
  query: SELECT * FROM ` + "`my-project.dataset.iris`" + ` WHERE sepal_length > @min
  params: {min: 5.0}`,
	})
}

// NewGCPBigQueryOrigin returns a GCPBigQueryOrigin stage running query in
// project.
func NewGCPBigQueryOrigin(name, project, query string) *openstage.Stage {
	return openstage.New(name, func(o *GCPBigQueryOrigin) { o.ProjectID = project; o.Query = query })
}

// Connectivity implements openstage's optional interface: one output.
func (o *GCPBigQueryOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 1}
}

// Plan implements openstage.Origin: a dry run of the query gives the
// result's schema.
func (o *GCPBigQueryOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	if strings.TrimSpace(o.Query) == "" {
		return fmt.Errorf("query is empty; write the SQL query to run")
	}
	if o.BatchRows < 0 {
		return fmt.Errorf("batch_rows must be 1 or more (or 0 for the default), got %d", o.BatchRows)
	}
	params, err := queryParams(o.Params)
	if err != nil {
		return err
	}
	if o.UseLegacySQL && len(params) > 0 {
		return fmt.Errorf("params cannot be used with use_legacy_sql: true (BigQuery allows query parameters only in GoogleSQL); remove use_legacy_sql or the params")
	}
	o.params = params
	if o.client == nil {
		c, err := o.connect(ctx)
		if err != nil {
			return err
		}
		o.client = c
	}
	q := o.query()
	q.DryRun = true
	job, err := q.Run(ctx)
	if err != nil {
		return o.queryError(err)
	}
	st := job.LastStatus()
	if st == nil || st.Err() != nil {
		if st != nil {
			return o.queryError(st.Err())
		}
		return fmt.Errorf("the dry run of the query returned no status")
	}
	qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics)
	if !ok || qs.Schema == nil {
		return fmt.Errorf("the dry run of the query returned no schema; is it a SELECT query?")
	}
	out, apps, err := arrowSchema(qs.Schema)
	if err != nil {
		return err
	}
	o.schema, o.out, o.apps = qs.Schema, out, apps
	p.SetOutputs(out)
	return nil
}

// query builds the query with its parameters and options.
func (o *GCPBigQueryOrigin) query() *bigquery.Query {
	q := o.client.Query(o.Query)
	q.Parameters = o.params
	q.UseLegacySQL = o.UseLegacySQL
	q.Location = o.Location
	return q
}

// queryError words an error of the query: BigQuery's message, with what
// to check.
func (o *GCPBigQueryOrigin) queryError(err error) error {
	err = o.apiError(err)
	var be *bqError
	if errors.As(err, &be) {
		hint := "check the query"
		switch {
		case be.reason == "notFound" || strings.HasPrefix(be.msg, "Not found"):
			hint = "check the dataset and table names in query (and project_id, the default project of dataset.table)"
		case strings.Contains(be.msg, "must be qualified with a dataset"):
			hint = "write tables as dataset.table or `project.dataset.table` in query"
		case strings.HasPrefix(be.msg, "Query parameter"):
			hint = "give every @name of the query in params"
		}
		return fmt.Errorf("the query failed: %s; %s", be.msg, hint)
	}
	return fmt.Errorf("the query failed: %w", err)
}

// arrowSchema maps a result schema to Open-Stage columns.
func arrowSchema(s bigquery.Schema) (*arrow.Schema, []appender, error) {
	fields := make([]arrow.Field, len(s))
	apps := make([]appender, len(s))
	for i, f := range s {
		t, app, err := readColumn(f)
		if err != nil {
			return nil, nil, err
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: true}
		apps[i] = app
	}
	return arrow.NewSchema(fields, nil), apps, nil
}

// Pump implements openstage.Origin: it runs the query and sends the rows
// page by page.
func (o *GCPBigQueryOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	return o.pump(ctx, out.Allocator(), func(rec arrow.RecordBatch) error { return out.Send(ctx, rec) })
}

func (o *GCPBigQueryOrigin) pump(ctx context.Context, mem memory.Allocator, send func(arrow.RecordBatch) error) error {
	it, err := o.query().Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return o.queryError(err)
	}
	return o.readRows(ctx, it, 0, -1, mem, send)
}

// Result names the finished query job of RunQuery and how many rows its
// result has.
type Result struct {
	Project, Job, Location string
	Rows                   int64
}

// RunQuery runs the query once, waits for it, and returns its job, whose
// result ReadRange then reads in row ranges, on several workers (a Beam
// runner): BigQuery keeps a query job's result (for about 24 hours), so
// every range reads the same result of one run.
func (o *GCPBigQueryOrigin) RunQuery(ctx context.Context) (Result, error) {
	if o.client == nil { // a closed origin (validation closes the stages)
		c, err := o.connect(ctx)
		if err != nil {
			return Result{}, err
		}
		o.client = c
		defer o.Close()
	}
	job, err := o.query().Run(ctx)
	if err != nil {
		return Result{}, o.queryError(err)
	}
	st, err := job.Wait(ctx)
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		return Result{}, o.queryError(err)
	}
	it, err := job.Read(ctx)
	if err != nil {
		return Result{}, o.queryError(err)
	}
	it.PageInfo().MaxSize = 1
	var row []bigquery.Value
	if err := it.Next(&row); err != nil && err != iterator.Done {
		return Result{}, fmt.Errorf("reading the query's result: %w", o.apiError(err))
	}
	return Result{Project: job.ProjectID(), Job: job.ID(), Location: job.Location(), Rows: int64(it.TotalRows)}, nil
}

// ReadRange sends rows from to to-1 (counting from 0) of the result of
// res, a job of RunQuery, in batches of at most batch_rows rows.
func (o *GCPBigQueryOrigin) ReadRange(ctx context.Context, mem memory.Allocator, res Result, from, to int64, send func(arrow.RecordBatch) error) error {
	if o.client == nil { // a closed origin (validation closes the stages)
		c, err := o.connect(ctx)
		if err != nil {
			return err
		}
		o.client = c
		defer o.Close()
	}
	job, err := o.client.JobFromProject(ctx, res.Project, res.Job, res.Location)
	if err != nil {
		return fmt.Errorf("finding the query's job %s: %w", res.Job, o.apiError(err))
	}
	it, err := job.Read(ctx)
	if err != nil {
		return o.queryError(err)
	}
	it.StartIndex = uint64(from)
	return o.readRows(ctx, it, from, to, mem, send)
}

// readRows sends the rows of it, which starts at row from of the result,
// up to row to-1 (all of them if to is negative), in batches; messages
// count rows from the start of the result.
func (o *GCPBigQueryOrigin) readRows(ctx context.Context, it *bigquery.RowIterator, from, to int64, mem memory.Allocator, send func(arrow.RecordBatch) error) error {
	batch := o.BatchRows
	if batch == 0 {
		batch = 10000
	}
	b := array.NewRecordBuilder(mem, o.out)
	defer b.Release()
	ld := &rowLoader{o: o, b: b, seen: from}
	flush := func() error {
		if ld.rows == 0 {
			return nil
		}
		rec := b.NewRecordBatch()
		ld.rows = 0
		err := send(rec)
		rec.Release()
		return err
	}
	checked := false
	for to < 0 || ld.seen < to {
		err := it.Next(ld)
		if err == iterator.Done {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var le *loadError
			if errors.As(err, &le) {
				return le
			}
			return fmt.Errorf("reading the query's result: %w", o.apiError(err))
		}
		if !checked {
			// The result must have the columns validation promised.
			if !sameColumns(it.Schema, o.schema) {
				return fmt.Errorf("the query's result has columns %s, but at validation it had %s; run the job again", describeSchema(it.Schema), describeSchema(o.schema))
			}
			checked = true
		}
		if ld.rows >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// rowLoader appends each row the iterator gives to the builders
// (bigquery.ValueLoader).
type rowLoader struct {
	o    *GCPBigQueryOrigin
	b    *array.RecordBuilder
	rows int
	seen int64
}

type loadError struct{ msg string }

func (e *loadError) Error() string { return e.msg }

// Load implements bigquery.ValueLoader.
func (l *rowLoader) Load(v []bigquery.Value, s bigquery.Schema) error {
	l.seen++
	if len(v) != len(l.o.apps) {
		return &loadError{fmt.Sprintf("row %d has %d columns, the query's result %d; run the job again", l.seen, len(v), len(l.o.apps))}
	}
	for i, app := range l.o.apps {
		if err := app(l.b.Field(i), v[i]); err != nil {
			return &loadError{fmt.Sprintf("row %d: %v", l.seen, err)}
		}
	}
	l.rows++
	return nil
}

func sameColumns(a, b bigquery.Schema) bool {
	return slices.EqualFunc(a, b, func(x, y *bigquery.FieldSchema) bool {
		return x.Name == y.Name && x.Type == y.Type && x.Repeated == y.Repeated && sameColumns(x.Schema, y.Schema)
	})
}

func describeSchema(s bigquery.Schema) string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.Name + " " + describeField(f)
	}
	return strings.Join(parts, ", ")
}

// Close implements openstage.Closer.
func (o *GCPBigQueryOrigin) Close() error {
	if o.client != nil {
		err := o.disconnect(o.client)
		o.client = nil
		return err
	}
	return nil
}
