package restio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/jsontext"
)

// RESTDestination sends rows to an HTTP API as JSON: one request per row,
// or batch_rows rows per request as a JSON array or NDJSON. A request that
// finally fails (after the retries of HTTPClient) fails the job, or, with a
// reject pipe, sends its rows there with the status and the response.
//
// An HTTP API cannot take back what it received: RESTDestination is not a
// Committer. Rows sent before a failure stay sent; the run summary counts
// the rows sent and failed.
type RESTDestination struct {
	URL            string            `param:"url" required:"true" doc:"The endpoint (http:// or https://) that receives the rows."`
	Method         string            `param:"method" default:"POST" enum:"POST,PUT,PATCH" doc:"The HTTP method of every request."`
	Headers        map[string]string `param:"headers" doc:"Request headers (shown in messages: put credentials in auth, whose values are secrets)."`
	Params         map[string]string `param:"params" doc:"Query parameters added to url."`
	RowsPerRequest int               `param:"batch_rows" default:"1" doc:"Rows per request: 1 sends each row as a JSON object; more sends them as a JSON array (or NDJSON, see format)."`
	Format         string            `param:"format" default:"json" enum:"json,ndjson" doc:"Body of a request: JSON (an object, or an array of batch_rows objects) or newline-delimited JSON (one object per line)."`
	InFlight       int               `param:"concurrency" default:"1" doc:"Requests in flight at once. Above 1 the API may receive rows out of order."`
	Reject         string            `param:"reject" doc:"Output pipe that receives the rows whose request finally failed, with status, response and error columns, instead of failing the job."`
	HTTPClient

	client  *client
	base    *url.URL
	header  http.Header
	encoder *rowEncoder
	reject  *arrow.Schema
	failed  atomic.Bool // a request failed the job: send no more
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "RESTDestination",
		Layer:   openstage.Load,
		Summary: "Sends rows to a JSON HTTP API (POST, PUT or PATCH), one per request or in batches, with auth, retries and rate limit; failed rows can go to a reject pipe.",
		Doc: `Each row is a JSON object whose keys are the column names (dates as
2006-01-02, timestamps as RFC 3339 in UTC, NaN and infinities as null).
Not atomic: an HTTP API cannot take back what it received, so rows sent
before a failure stay sent, even when the job fails or is cancelled. The run
summary counts sent and failed rows. A retried request (timeout, 429, 5xx)
may reach the server twice if the first attempt was processed after all:
use an API's idempotency header if it has one.`,
		New: func() any { return &RESTDestination{} },
		Example: `- name: push
  type: RESTDestination
  url: https://api.example.com/v1/contacts/bulk
  batch_rows: 100
  auth: {type: bearer, token: "${env:API_TOKEN}"}
  rate_limit: 5
  reject: failed_rows`,
	})
}

// Connectivity implements openstage's optional interface: one input, and
// an output for the reject pipe.
func (d *RESTDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1, MinOut: 0, MaxOut: 1}
}

// Concurrency implements openstage's optional interface of a
// BatchProcessor: how many batches are sent at once.
func (d *RESTDestination) Concurrency() int { return max(1, d.InFlight) }

// BatchRows implements openstage.Rebatcher: the engine cuts the input into
// requests' worth of rows (a few rows' worth when each row is a request).
func (d *RESTDestination) BatchRows() int {
	if d.RowsPerRequest > 1 {
		return d.RowsPerRequest
	}
	return 64
}

// The columns a reject row gets.
const (
	statusColumn   = "status"
	responseColumn = "response"
)

// Plan implements openstage.Destination.
func (d *RESTDestination) Plan(_ context.Context, p *openstage.Plan) error {
	base, err := parseHTTPURL(d.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := d.HTTPClient.check(); err != nil {
		return err
	}
	if d.RowsPerRequest < 0 || d.InFlight < 0 {
		return fmt.Errorf("batch_rows and concurrency must be positive")
	}
	outs := p.Outputs()
	switch {
	case d.Reject == "" && len(outs) > 0:
		return fmt.Errorf("output pipe '%s' is connected but reject is not set; set reject: %s to receive the rows whose request failed", outs[0], outs[0])
	case d.Reject != "" && !p.HasOutput(d.Reject):
		return fmt.Errorf("reject pipe '%s' is not connected; connect a pipe of that name from this stage", d.Reject)
	}
	in := p.InputSchema()
	if d.Reject != "" {
		for _, c := range []string{statusColumn, responseColumn, openstage.ErrorColumn} {
			if in.HasField(c) {
				return fmt.Errorf("the input has a column '%s', which the reject pipe adds; rename it upstream", c)
			}
		}
		fields := append(append([]arrow.Field{}, in.Fields()...),
			arrow.Field{Name: statusColumn, Type: openstage.Int64, Nullable: true},
			arrow.Field{Name: responseColumn, Type: openstage.String, Nullable: true},
			arrow.Field{Name: openstage.ErrorColumn, Type: openstage.String, Nullable: true})
		d.reject = arrow.NewSchema(fields, nil)
		if err := p.SetOutput(d.Reject, d.reject); err != nil {
			return err
		}
		p.MarkReject(d.Reject)
	}
	if len(d.Params) > 0 {
		kv := make([]string, 0, 2*len(d.Params))
		for _, k := range sortedKeys(d.Params) {
			kv = append(kv, k, d.Params[k])
		}
		base = withParam(base, kv...)
	}
	d.base = base
	d.header = http.Header{}
	d.header.Set("Content-Type", "application/json")
	if d.Format == "ndjson" {
		d.header.Set("Content-Type", "application/x-ndjson")
	}
	d.header.Set("User-Agent", "Open-Stage RESTDestination")
	for _, k := range sortedKeys(d.Headers) {
		d.header.Set(k, d.Headers[k])
	}
	d.encoder = newRowEncoder(in)
	d.failed.Store(false)
	if d.client != nil {
		d.client.close()
	}
	d.client = newClient(&d.HTTPClient, d.Concurrency())
	return nil
}

// Close implements openstage.Closer.
func (d *RESTDestination) Close() error {
	if d.client != nil {
		d.client.close()
	}
	return nil
}

// ProcessBatch implements openstage.BatchProcessor: the engine runs it on
// concurrency workers, with batches of batch_rows rows.
func (d *RESTDestination) ProcessBatch(ctx context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	rej, err := d.send(ctx, dp.Batch, dp.FirstRow, out.Count)
	if rej == nil {
		return err
	}
	defer rej.Release()
	if err != nil {
		return err
	}
	b := rej.build(out.Allocator())
	defer b.Release()
	return out.SendTo(d.Reject, b)
}

// Sink implements openstage.Destination. The engine runs ProcessBatch
// instead; Sink is the same, one batch after the other, without a reject
// pipe, for code that drives the destination itself.
func (d *RESTDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	if d.Reject != "" {
		return errors.New("RESTDestination with a reject pipe runs through ProcessBatch")
	}
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		_, err := d.send(ctx, dp.Batch, dp.FirstRow, func(string, int64) {})
		return err
	})
}

// send sends the rows of rec, batch_rows per request. It returns the rows
// whose request failed when there is a reject pipe, or the first failure.
func (d *RESTDestination) send(ctx context.Context, rec arrow.RecordBatch, first int64, count func(string, int64)) (*rejects, error) {
	per := max(1, d.RowsPerRequest)
	n := int(rec.NumRows())
	var rej *rejects
	var body []byte
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		if d.failed.Load() {
			// Another batch failed the job; the engine may already have
			// handed this one over: send nothing more.
			return rej, errStopped
		}
		body = d.encoder.body(body[:0], rec, start, end, per > 1, d.Format == "ndjson")
		var retries int64
		_, err := d.client.do(ctx, d.Method, d.base, d.header, body, &retries)
		count("requests", 1+retries)
		if retries > 0 {
			count("retries", retries)
		}
		if err == nil {
			count("sent", int64(end-start))
			continue
		}
		if ctx.Err() != nil {
			return rej, ctx.Err()
		}
		count("failed", int64(end-start))
		where := fmt.Sprintf("row %d", first+int64(start)+1)
		if end-start > 1 {
			where = fmt.Sprintf("rows %d-%d", first+int64(start)+1, first+int64(end))
		}
		if d.Reject == "" {
			d.failed.Store(true)
			if rej != nil {
				rej.Release()
			}
			return nil, fmt.Errorf("%s: %w; with a reject pipe (reject:) failed rows go there and the job goes on", where, err)
		}
		if rej == nil {
			rej = &rejects{rec: rec, schema: d.reject}
			rec.Retain()
		}
		var se *StatusError
		status, response := int64(0), ""
		if errors.As(err, &se) {
			status, response = int64(se.Status), se.Response
		}
		for i := start; i < end; i++ {
			rej.add(i, status, response, where+": "+err.Error())
		}
	}
	return rej, nil
}

var errStopped = errors.New("stopped after an earlier request failed")

// rejects collects the rows of a batch whose request failed.
type rejects struct {
	rec      arrow.RecordBatch
	schema   *arrow.Schema
	idx      []int32
	status   []int64
	response []string
	errs     []string
}

func (r *rejects) add(i int, status int64, response, msg string) {
	r.idx = append(r.idx, int32(i))
	r.status = append(r.status, status)
	r.response = append(r.response, response)
	r.errs = append(r.errs, msg)
}

func (r *rejects) Release() { r.rec.Release() }

// build returns the reject batch: the rows, then status (null without an
// HTTP answer), response and error.
func (r *rejects) build(alloc memory.Allocator) arrow.RecordBatch {
	taken := openstage.Take(alloc, r.rec, r.idx)
	defer taken.Release()
	sb := array.NewInt64Builder(alloc)
	defer sb.Release()
	for _, s := range r.status {
		if s == 0 {
			sb.AppendNull()
		} else {
			sb.Append(s)
		}
	}
	rb := array.NewStringBuilder(alloc)
	defer rb.Release()
	for _, s := range r.response {
		if s == "" {
			rb.AppendNull()
		} else {
			rb.Append(s)
		}
	}
	eb := array.NewStringBuilder(alloc)
	defer eb.Release()
	eb.AppendValues(r.errs, nil)
	extra := []arrow.Array{sb.NewArray(), rb.NewArray(), eb.NewArray()}
	cols := append(append([]arrow.Array{}, taken.Columns()...), extra...)
	out := array.NewRecordBatch(r.schema, cols, int64(len(r.idx)))
	for _, a := range extra {
		a.Release()
	}
	return out
}

// rowEncoder writes rows as JSON objects keyed by column name.
type rowEncoder struct {
	keys [][]byte // `"name":`
}

func newRowEncoder(s *arrow.Schema) *rowEncoder {
	e := &rowEncoder{}
	for _, f := range s.Fields() {
		k := jsontext.AppendString(nil, f.Name)
		e.keys = append(e.keys, append(k, ':'))
	}
	return e
}

// body appends the request body for rows [start, end) of rec.
func (e *rowEncoder) body(dst []byte, rec arrow.RecordBatch, start, end int, array, ndjson bool) []byte {
	if array && !ndjson {
		dst = append(dst, '[')
	}
	for i := start; i < end; i++ {
		if i > start && array && !ndjson {
			dst = append(dst, ',')
		}
		dst = e.row(dst, rec, i)
		if ndjson {
			dst = append(dst, '\n')
		}
	}
	if array && !ndjson {
		dst = append(dst, ']')
	}
	return dst
}

func (e *rowEncoder) row(dst []byte, rec arrow.RecordBatch, i int) []byte {
	dst = append(dst, '{')
	for c, key := range e.keys {
		if c > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, key...)
		dst = appendJSONValue(dst, rec.Column(c), i)
	}
	return append(dst, '}')
}

func appendJSONValue(dst []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(dst, "null"...)
	}
	switch a := col.(type) {
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Float64:
		return appendJSONFloat(dst, a.Value(i))
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i))
	case *array.String:
		return jsontext.AppendString(dst, a.Value(i))
	case *array.Date32:
		return jsontext.AppendString(dst, a.Value(i).ToTime().Format(time.DateOnly))
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return jsontext.AppendString(dst, a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano))
	}
	v := openstage.Column{Array: col}.Value(i)
	b, err := json.Marshal(v)
	if err != nil {
		return jsontext.AppendString(dst, fmt.Sprint(v))
	}
	return append(dst, b...)
}

// appendJSONFloat writes f as encoding/json does; NaN and infinities, which
// JSON cannot hold, as null.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}
