package bigqueryio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/api/googleapi"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/jsontext"
)

// GCPBigQueryDestination loads its input into a BigQuery table with one
// load job. The rows are written as newline-delimited JSON and streamed to
// BigQuery while the job runs (an upload of chunk_size bytes at a time);
// the load job that puts them in the table is created only when the whole
// job has succeeded (openstage.Committer), so a failed or cancelled job
// sends no load job and leaves the table as it was. The load job itself is
// atomic: BigQuery applies all the rows or none.
type GCPBigQueryDestination struct {
	Conn
	Dataset           string `param:"dataset" required:"true" doc:"Dataset of the table (it must exist)."`
	Table             string `param:"table" required:"true" doc:"Table to load into; created from the pipeline's columns when missing (CREATE_IF_NEEDED)."`
	WriteDisposition  string `param:"write_disposition" default:"WRITE_APPEND" enum:"WRITE_TRUNCATE,WRITE_APPEND,WRITE_EMPTY" doc:"WRITE_TRUNCATE replaces the table's rows (and schema), WRITE_APPEND adds rows, WRITE_EMPTY loads only into an empty table."`
	CreateDisposition string `param:"create_disposition" default:"CREATE_IF_NEEDED" enum:"CREATE_IF_NEEDED,CREATE_NEVER" doc:"CREATE_IF_NEEDED creates a missing table from the pipeline's columns; CREATE_NEVER fails if it is missing."`
	ChunkSize         int    `param:"chunk_size" default:"16777216" doc:"Bytes uploaded per request (rounded up to a multiple of 256 KiB); a load larger than one chunk is uploaded as a resumable upload, one chunk held in memory at a time."`

	client  *bigquery.Client
	schema  bigquery.Schema // what the load job gives as the table's schema
	columns []outColumn     // the pipeline's columns, in order
	exists  bool            // the table existed at Plan

	up *upload // the upload in progress (Sink to Commit/Abort)
}

// outColumn is how one pipeline column is written.
type outColumn struct {
	name  string // the table's spelling of the column name
	key   []byte // `"name":` as written in each row
	write jsonWriter
}

var (
	datasetRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	tableRe   = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}$*]+$`)
	columnRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "GCPBigQueryDestination",
		Layer:   openstage.Load,
		Summary: "Loads its input into a Google BigQuery table with one load job, only when the whole job succeeds.",
		Doc: `The rows are written as newline-delimited JSON and uploaded while the job
runs, chunk_size bytes at a time; the load job is created only after every
stage finished without error, so a failed or cancelled job sends no load job
and leaves the table as it was, and the load job itself applies all rows or
none. Newline-delimited JSON is used because it carries NULLs, text with
newlines, and JSON, RECORD and REPEATED values without ambiguity.

Validation reads the table's schema (one metadata call). When the table
exists, each input column goes into the table column of that name (the
table's other columns are left NULL) and must fit its type: int64 into INT64,
FLOAT64, NUMERIC, BIGNUMERIC or STRING; float64 into FLOAT64, NUMERIC,
BIGNUMERIC or STRING; bool into BOOL or STRING; date into DATE, DATETIME,
TIMESTAMP or STRING; timestamp into TIMESTAMP, DATETIME (as its UTC wall
time) or STRING; string into any type, BigQuery parsing the text (JSON text
for JSON, RECORD and REPEATED columns, base64 for BYTES). With WRITE_TRUNCATE
the table's schema becomes the pipeline's columns, keeping the existing
column's type where the values fit it. A missing table is created (unless
CREATE_NEVER) with INT64, FLOAT64, BOOL, STRING, DATE and TIMESTAMP columns,
all NULLABLE. WRITE_EMPTY on a table that has rows fails at validation, and
BigQuery fails the load if rows arrived since.

The dataset must exist. Credentials as for GCPBigQueryOrigin.`,
		New: func() any { return &GCPBigQueryDestination{} },
		Example: `- name: writer
  type: GCPBigQueryDestination
  project_id: my-project
  dataset: analytics
  table: users_adults
  write_disposition: WRITE_TRUNCATE`,
	})
}

// NewGCPBigQueryDestination returns a GCPBigQueryDestination stage loading
// into project's dataset.table with the given write disposition.
func NewGCPBigQueryDestination(name, project, dataset, table, writeDisposition string) *openstage.Stage {
	return openstage.New(name, func(d *GCPBigQueryDestination) {
		d.ProjectID, d.Dataset, d.Table, d.WriteDisposition = project, dataset, table, writeDisposition
	})
}

// Connectivity implements openstage's optional interface: one input.
func (d *GCPBigQueryDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

func (d *GCPBigQueryDestination) fullName() string {
	return fmt.Sprintf("%s:%s.%s", d.ProjectID, d.Dataset, d.Table)
}

// Plan implements openstage.Destination: it reads the table's metadata and
// decides how each column is written.
func (d *GCPBigQueryDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	switch {
	case !datasetRe.MatchString(d.Dataset):
		return fmt.Errorf("dataset '%s' is not a valid dataset name (letters, digits and _)", d.Dataset)
	case !tableRe.MatchString(d.Table):
		return fmt.Errorf("table '%s' is not a valid table name (letters, digits, _ and -)", d.Table)
	case d.ChunkSize < 0:
		return fmt.Errorf("chunk_size must be positive, got %d", d.ChunkSize)
	}
	in := p.InputSchema()
	if in == nil {
		return fmt.Errorf("no input schema")
	}
	if in.NumFields() == 0 {
		return fmt.Errorf("the input has no columns; there is nothing to load")
	}
	for _, f := range in.Fields() {
		if !columnRe.MatchString(f.Name) || len(f.Name) > 300 {
			return fmt.Errorf("column '%s' is not a valid BigQuery column name (letters, digits and _, not starting with a digit, at most 300 characters); rename it upstream (a Transformer can derive a new column)", f.Name)
		}
	}
	if d.client == nil {
		c, err := d.connect(ctx)
		if err != nil {
			return err
		}
		d.client = c
	}
	ds := d.client.DatasetInProject(d.ProjectID, d.Dataset)
	if _, err := ds.Metadata(ctx); err != nil {
		if isNotFound(err) {
			return fmt.Errorf("dataset '%s' does not exist in project '%s' (BigQuery: %s); create it first (bq mk --dataset %s:%s) or correct dataset and project_id", d.Dataset, d.ProjectID, notFoundMessage(err), d.ProjectID, d.Dataset)
		}
		return fmt.Errorf("reading dataset %s:%s: %w", d.ProjectID, d.Dataset, d.apiError(err))
	}
	md, err := ds.Table(d.Table).Metadata(ctx)
	switch {
	case err != nil && !isNotFound(err):
		return fmt.Errorf("reading table %s: %w", d.fullName(), d.apiError(err))
	case err != nil && d.CreateDisposition == "CREATE_NEVER":
		return fmt.Errorf("table %s does not exist and create_disposition is CREATE_NEVER; create the table first, or set create_disposition: CREATE_IF_NEEDED to create it from the pipeline's columns", d.fullName())
	case err != nil:
		d.exists = false
		md = nil
	default:
		d.exists = true
	}
	if md != nil && md.Type != "" && md.Type != bigquery.RegularTable {
		return fmt.Errorf("%s is a %s, not a table; a load job writes only into tables", d.fullName(), strings.ToLower(string(md.Type)))
	}
	if md != nil && d.WriteDisposition == "WRITE_EMPTY" && md.NumRows > 0 {
		return fmt.Errorf("table %s has %d rows and write_disposition is WRITE_EMPTY, which loads only into an empty table; use WRITE_APPEND to add the rows or WRITE_TRUNCATE to replace them", d.fullName(), md.NumRows)
	}
	var table bigquery.Schema
	if md != nil {
		table = md.Schema
	}
	schema, cols, err := loadSchema(in, table, d.WriteDisposition == "WRITE_TRUNCATE", d.fullName())
	if err != nil {
		return err
	}
	d.schema, d.columns = schema, cols
	return nil
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

func notFoundMessage(err error) string {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Message
	}
	return err.Error()
}

// loadSchema decides the schema the load job gives and how each input
// column is written. For an existing table (table != nil) the input
// columns go into the table's columns of the same name; with truncate the
// schema becomes the input's columns, keeping a table column's type where
// the input fits it.
func loadSchema(in *arrow.Schema, table bigquery.Schema, truncate bool, full string) (bigquery.Schema, []outColumn, error) {
	byName := map[string]*bigquery.FieldSchema{}
	for _, f := range table {
		byName[strings.ToLower(f.Name)] = f
	}
	var schema bigquery.Schema
	var cols []outColumn
	seen := map[string]bool{}
	var unknown []string
	for _, f := range in.Fields() {
		low := strings.ToLower(f.Name)
		if seen[low] {
			return nil, nil, fmt.Errorf("columns '%s' and another differ only in case; BigQuery column names ignore case: rename one upstream", f.Name)
		}
		seen[low] = true
		tf, inTable := byName[low]
		if table != nil && inTable && !canWrite(f.Type, tf) && !truncate {
			return nil, nil, fmt.Errorf("column '%s' is %s in the pipeline but %s in table %s, which it cannot be written into; convert it upstream (a Transformer), or replace the table with write_disposition: WRITE_TRUNCATE", f.Name, openstage.TypeName(f.Type), describeField(tf), full)
		}
		if table != nil && !inTable && !truncate {
			unknown = append(unknown, f.Name)
			continue
		}
		target := tf
		if target == nil || !canWrite(f.Type, target) {
			bt, ok := newFieldType(f.Type)
			if !ok {
				return nil, nil, fmt.Errorf("column '%s' has type %s, which cannot be loaded into BigQuery", f.Name, f.Type)
			}
			target = &bigquery.FieldSchema{Name: f.Name, Type: bt}
		}
		if truncate || table == nil {
			c := *target
			c.Required = false // a REQUIRED column would refuse the pipeline's NULLs
			if target == tf && tf.Required {
				c.Required = true
			}
			schema = append(schema, &c)
		}
		key := jsontext.AppendString(nil, target.Name)
		cols = append(cols, outColumn{name: target.Name, key: append(key, ':'), write: writerFor(f.Type, target)})
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("table %s has no column %s; its columns are %s. Drop the extra columns upstream (DeleteColumns), or replace the table with write_disposition: WRITE_TRUNCATE", full, quoteList(unknown), describeSchema(table))
	}
	if table != nil && !truncate {
		for _, tf := range table {
			if tf.Required && !seen[strings.ToLower(tf.Name)] {
				return nil, nil, fmt.Errorf("column '%s' of table %s is REQUIRED but the pipeline has no such column; add it upstream", tf.Name, full)
			}
		}
		schema = table
	}
	return schema, cols, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// upload is a load job's data on its way: Sink writes rows into the pipe,
// the client's uploader reads it in chunks. The client sends the last
// chunk, which creates the load job, only when the pipe is closed without
// error, in Commit.
type upload struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
	job    *bigquery.Job
	err    error
	rows   int64
	once   sync.Once
}

func (d *GCPBigQueryDestination) start() *upload {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	u := &upload{pw: pw, cancel: cancel, done: make(chan struct{})}
	src := bigquery.NewReaderSource(pr)
	src.SourceFormat = bigquery.JSON
	src.Schema = d.schema
	l := d.client.DatasetInProject(d.ProjectID, d.Dataset).Table(d.Table).LoaderFrom(src)
	l.WriteDisposition = bigquery.TableWriteDisposition(d.WriteDisposition)
	l.CreateDisposition = bigquery.TableCreateDisposition(d.CreateDisposition)
	l.Location = d.Location
	chunk := d.ChunkSize
	if chunk == 0 {
		chunk = googleapi.DefaultUploadChunkSize
	}
	l.MediaOptions = []googleapi.MediaOption{googleapi.ChunkSize(chunk), googleapi.ContentType("application/json")}
	go func() {
		defer close(u.done)
		job, err := l.Run(ctx)
		// Whatever happened, nobody reads the pipe any more: Sink's writes
		// must fail rather than wait.
		pr.CloseWithError(errUploadEnded)
		u.job, u.err = job, err
	}()
	return u
}

var errUploadEnded = errors.New("the upload to BigQuery ended")
var errAborted = errors.New("the job failed: nothing is loaded")

// Sink implements openstage.Destination: it streams the rows to BigQuery.
func (d *GCPBigQueryDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	d.up = d.start()
	var buf []byte
	return in.ForEach(ctx, func(pkg openstage.DataPackage) error {
		var err error
		if buf, err = d.encode(buf[:0], pkg.Batch, d.up.rows); err != nil {
			return err
		}
		if _, werr := d.up.pw.Write(buf); werr != nil {
			<-d.up.done
			if d.up.err != nil {
				return fmt.Errorf("uploading to %s: %w", d.fullName(), d.apiError(d.up.err))
			}
			return fmt.Errorf("uploading to %s: %v", d.fullName(), werr)
		}
		d.up.rows += pkg.Batch.NumRows()
		return nil
	})
}

// encode appends rec's rows as newline-delimited JSON to buf; first is the
// number of rows before rec, for messages.
func (d *GCPBigQueryDestination) encode(buf []byte, rec arrow.RecordBatch, first int64) ([]byte, error) {
	cols := rec.Columns()
	n := int(rec.NumRows())
	for i := range n {
		buf = append(buf, '{')
		wrote := false
		for j, c := range d.columns {
			col := cols[j]
			if col.IsNull(i) {
				continue // absent is NULL
			}
			if wrote {
				buf = append(buf, ',')
			}
			buf = append(buf, c.key...)
			var err error
			buf, err = c.write(buf, col, i)
			if err != nil {
				return buf, fmt.Errorf("column '%s', row %d: the value %v", rec.ColumnName(j), first+int64(i)+1, err)
			}
			wrote = true
		}
		buf = append(buf, '}', '\n')
	}
	return buf, nil
}

// Commit implements openstage.Committer: it ends the upload, which creates
// the load job, and waits for the job.
func (d *GCPBigQueryDestination) Commit(ctx context.Context) error {
	u := d.up
	if u == nil {
		return fmt.Errorf("nothing to commit: the stage received no input")
	}
	u.pw.Close()
	select {
	case <-u.done:
	case <-ctx.Done():
		u.cancel()
		<-u.done
		return ctx.Err()
	}
	if u.err != nil {
		return fmt.Errorf("uploading to %s: %w", d.fullName(), d.apiError(u.err))
	}
	st, err := u.job.Wait(ctx)
	if err != nil {
		return fmt.Errorf("waiting for load job %s: %w", u.job.ID(), d.apiError(err))
	}
	if err := st.Err(); err != nil {
		return d.loadError(u.job, st)
	}
	return nil
}

// loadError words a failed load job: BigQuery's message and details, and
// what to do in job-file terms.
func (d *GCPBigQueryDestination) loadError(job *bigquery.Job, st *bigquery.JobStatus) error {
	var be *bigquery.Error
	msg := st.Err().Error()
	reason := ""
	if errors.As(st.Err(), &be) {
		msg, reason = be.Message, be.Reason
	}
	var details []string
	for _, e := range st.Errors {
		if e != nil && e.Message != msg {
			details = append(details, e.Message)
		}
	}
	text := fmt.Sprintf("load job %s into %s failed, the table is unchanged: %s", job.ID(), d.fullName(), msg)
	if len(details) > 0 {
		text += " (" + strings.Join(details, "; ") + ")"
	}
	switch {
	case reason == "duplicate" && d.WriteDisposition == "WRITE_EMPTY":
		text += "; the table has rows and write_disposition is WRITE_EMPTY: use WRITE_APPEND to add rows or WRITE_TRUNCATE to replace them"
	case reason == "notFound":
		text += "; check project_id, dataset and table (and create_disposition)"
	case strings.Contains(msg, "Provided Schema does not match"):
		text += "; the table's columns changed since validation: run the job again"
	}
	return errors.New(text)
}

// Abort implements openstage.Committer: the upload is abandoned before its
// last chunk, so BigQuery never creates the load job.
func (d *GCPBigQueryDestination) Abort() error {
	if u := d.up; u != nil {
		u.once.Do(func() {
			u.cancel()
			u.pw.CloseWithError(errAborted)
			<-u.done
		})
	}
	return nil
}

// Close implements openstage.Closer.
func (d *GCPBigQueryDestination) Close() error {
	if d.client != nil {
		err := d.disconnect(d.client)
		d.client = nil
		return err
	}
	return nil
}
