package restio

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage"
)

// APIRestOrigin reads records from a JSON REST API, page after page.
type APIRestOrigin struct {
	URL         string            `param:"url" required:"true" doc:"The endpoint (http:// or https://), with or without a query string."`
	Method      string            `param:"method" default:"GET" enum:"GET,POST" doc:"The HTTP method of every request."`
	Headers     map[string]string `param:"headers" doc:"Request headers (shown in messages: put credentials in auth, whose values are secrets)."`
	Params      map[string]string `param:"params" doc:"Query parameters added to url."`
	Body        any               `param:"body" doc:"JSON body of every request (method POST), written as YAML."`
	JSONPath    string            `param:"json_path" doc:"Dotted path to the records in each response (data.items; a number indexes an array: results.0.rows). Empty: the whole response, an array of records or a single object (one record)."`
	Format      string            `param:"format" default:"auto" enum:"auto,json,ndjson" doc:"Response format: one JSON document, newline-delimited JSON (one record, or json_path applied, per line), or auto (NDJSON when the Content-Type says so or the body is several JSON values, one per line)."`
	Pagination  Pagination        `param:"pagination" doc:"How to page: a block with type page (page_param, start, size_param, size), offset (offset_param, limit_param, limit), cursor (cursor_path, cursor_param), next_url (next_path) or link_header, and max_pages; page and offset take total_path or total_pages_path. See docs/rest.md."`
	Concurrency int               `param:"concurrency" default:"1" doc:"Pages fetched at once (page and offset pagination); rows keep page order."`
	Explode     string            `param:"explode" doc:"A column holding arrays to explode: one row per element (objects flattened under the column's name), a null for an empty array."`
	Columns     []string          `param:"columns" doc:"The columns to output, in this order (flattened names). With column_types for each of them the schema is declared: nothing is fetched before the job runs."`
	ColumnTypes map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding inference; values are converted (\"42\" to 42, ISO-8601 text to dates)."`
	BatchRows   int               `param:"batch_rows" default:"10000" doc:"Rows per batch sent downstream."`
	HTTPClient

	// Logger receives the warnings of schema inference (a column read as
	// string because its values conflict); nil means slog.Default().
	Logger *slog.Logger

	declared map[string]arrow.DataType
	cache    *download
	project  []string
	cols     []outColumn // the output columns, set by Plan
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "APIRestOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads records from a JSON REST API: JSON path, flattening, every common pagination, auth, retries, rate limit, schema inferred over all pages.",
		Doc: `Records are the array at json_path (or the whole response); nested
objects become columns joined with _ (address.city → address_city, as
pandas json_normalize(sep="_")), arrays are kept as JSON text unless
explode names one. Without a declared schema (columns, each with a
column_types entry) the schema is inferred over every page: validation
downloads all pages into an unlinked temporary file (in --temp-dir) and
the run reads them from there, so the API is read once and memory holds
one page at a time. A field that is an integer on one page and a float on
another is float64; a field absent from a record is null; values that truly
conflict make the column string, with a warning. With a declared schema
nothing is fetched at validation and pages stream through the run. See
docs/rest.md for pagination, auth and retries.`,
		New: func() any { return &APIRestOrigin{} },
		Example: `- name: users
  type: APIRestOrigin
  url: https://api.example.com/v1/users
  json_path: data.items
  pagination: {type: page, page_param: page, size_param: per_page, size: 100}
  concurrency: 4
  auth: {type: bearer, token: "${env:API_TOKEN}"}
  rate_limit: 10`,
	})
}

// Project implements openstage.Projector: only cols are built.
func (o *APIRestOrigin) Project(cols []string) { o.project = cols }

// Close implements openstage.Closer: it drops the pages downloaded at
// validation.
func (o *APIRestOrigin) Close() error {
	o.dropCache()
	return nil
}

func (o *APIRestOrigin) concurrency() int { return max(1, o.Concurrency) }

func (o *APIRestOrigin) batchRows() int {
	if o.BatchRows <= 0 {
		return 10000
	}
	return o.BatchRows
}

func (o *APIRestOrigin) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// check validates the parameters.
func (o *APIRestOrigin) check() error {
	if _, err := parseHTTPURL(o.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := o.HTTPClient.check(); err != nil {
		return err
	}
	if err := o.Pagination.check(); err != nil {
		return err
	}
	if o.Concurrency > 1 && !o.Pagination.indexed() {
		return fmt.Errorf("concurrency %d needs pagination type page or offset, whose page addresses are known in advance; %s pages are found one after the other (set concurrency: 1)", o.Concurrency, o.Pagination.kind())
	}
	if o.Concurrency < 0 || o.BatchRows < 0 {
		return fmt.Errorf("concurrency and batch_rows must be positive")
	}
	if o.Body != nil && o.Method != "POST" {
		return fmt.Errorf("body is sent with method POST; set method: POST")
	}
	o.declared = map[string]arrow.DataType{}
	for _, name := range sortedKeys(o.ColumnTypes) {
		t, err := openstage.ParseType(o.ColumnTypes[name])
		if err != nil {
			return fmt.Errorf("column_types: column '%s': %w", name, err)
		}
		o.declared[name] = t
	}
	seen := map[string]bool{}
	for _, c := range o.Columns {
		if seen[c] {
			return fmt.Errorf("columns: '%s' is listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// schemaDeclared reports whether columns and column_types give the whole
// schema, so that nothing is fetched before the run.
func (o *APIRestOrigin) schemaDeclared() bool {
	if len(o.Columns) == 0 {
		return false
	}
	for _, c := range o.Columns {
		if _, ok := o.declared[c]; !ok {
			return false
		}
	}
	return true
}

// Plan implements openstage.Origin. Without a declared schema it
// downloads every page (see download).
func (o *APIRestOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	if err := o.check(); err != nil {
		return err
	}
	var cols []outColumn
	if o.schemaDeclared() {
		o.dropCache()
		for _, c := range o.Columns {
			cols = append(cols, outColumn{Name: c, Type: o.declared[c], Declared: true})
		}
	} else {
		fp := o.fingerprint()
		if o.cache == nil || o.cache.fp != fp {
			o.dropCache()
			d, err := o.download(ctx, p.TempDir())
			if err != nil {
				return err
			}
			d.fp = fp
			o.cache = d
			for _, w := range d.conflicts {
				o.logger().Warn(w, "stage", p.Stage())
			}
		}
		var err error
		if cols, err = o.inferredColumns(o.cache); err != nil {
			return err
		}
	}
	if o.project != nil {
		var kept []outColumn
		for _, name := range o.project {
			i := slices.IndexFunc(cols, func(c outColumn) bool { return c.Name == name })
			if i < 0 {
				return fmt.Errorf("projection: no column '%s'", name)
			}
			kept = append(kept, cols[i])
		}
		cols = kept
	}
	o.cols = cols
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: true}
	}
	p.SetOutputs(arrow.NewSchema(fields, nil))
	return nil
}

// inferredColumns is the schema from the download, with column_types and
// columns applied.
func (o *APIRestOrigin) inferredColumns(d *download) ([]outColumn, error) {
	found := map[string]outColumn{}
	var all []outColumn
	for _, c := range d.cols {
		if t, ok := o.declared[c.Name]; ok {
			c.Type, c.Declared = t, true
		}
		found[c.Name] = c
		all = append(all, c)
	}
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.Name
	}
	fields := func() string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, ", ")
	}
	for _, name := range sortedKeys(o.declared) {
		if _, ok := found[name]; ok || slices.Contains(o.Columns, name) {
			continue
		}
		msg := fmt.Sprintf("column_types: column '%s' is in no record of the %d page(s) read; fields found: %s", name, d.pages(), fields())
		if sug := openstage.Suggest(name, names); sug != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
		}
		return nil, fmt.Errorf("%s; to keep a column that may be absent, list it in columns too", msg)
	}
	if len(o.Columns) == 0 {
		if len(all) == 0 {
			return nil, fmt.Errorf("the API returned no records (%d page(s) read), so no columns can be inferred; declare columns with a column_types entry each to read an API that may be empty", d.pages())
		}
		return all, nil
	}
	var cols []outColumn
	for _, name := range o.Columns {
		if c, ok := found[name]; ok {
			cols = append(cols, c)
			continue
		}
		if t, ok := o.declared[name]; ok {
			cols = append(cols, outColumn{Name: name, Type: t, Declared: true}) // absent everywhere: nulls
			continue
		}
		msg := fmt.Sprintf("columns: '%s' is in no record of the %d page(s) read; fields found: %s", name, d.pages(), fields())
		if sug := openstage.Suggest(name, names); sug != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
		}
		return nil, fmt.Errorf("%s; give it a type in column_types to read it as nulls", msg)
	}
	return cols, nil
}

// fingerprint identifies what the download depends on, so that a second
// Plan (after projection pushdown) reuses the pages of the first.
func (o *APIRestOrigin) fingerprint() string {
	h := sha256.New()
	cfg, _ := json.Marshal(struct {
		URL, Method, JSONPath, Format, Explode string
		Headers, Params                        map[string]string
		Body                                   any
		Pagination                             Pagination
		Client                                 HTTPClient
	}{o.URL, o.Method, o.JSONPath, o.Format, o.Explode, o.Headers, o.Params, o.Body, o.Pagination, o.HTTPClient})
	h.Write(cfg)
	for _, s := range []openstage.Secret{o.Auth.Token, o.Auth.Password, o.Auth.Key, o.Auth.ClientSecret} {
		fmt.Fprintf(h, "|%d:%s", len(s.Reveal()), s.Reveal())
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func (o *APIRestOrigin) newFetcher(c *client) (*fetcher, error) {
	base, err := parseHTTPURL(o.URL)
	if err != nil {
		return nil, err
	}
	if len(o.Params) > 0 {
		kv := make([]string, 0, 2*len(o.Params))
		for _, k := range sortedKeys(o.Params) {
			kv = append(kv, k, o.Params[k])
		}
		base = withParam(base, kv...)
	}
	header := http.Header{}
	header.Set("Accept", "application/json, application/x-ndjson;q=0.9, */*;q=0.1")
	header.Set("User-Agent", "Open-Stage APIRestOrigin")
	var body []byte
	if o.Body != nil {
		if body, err = json.Marshal(o.Body); err != nil {
			return nil, fmt.Errorf("body: %v", err)
		}
		header.Set("Content-Type", "application/json")
	}
	for _, k := range sortedKeys(o.Headers) {
		header.Set(k, o.Headers[k])
	}
	method := o.Method
	if method == "" {
		method = http.MethodGet
	}
	return &fetcher{c: c, method: method, base: base, header: header, body: body, pg: &o.Pagination}, nil
}

// download is every page of the API, fetched at Plan to infer the schema
// and kept for the run in an unlinked temporary file.
type download struct {
	fp        string
	file      *os.File
	size      int64
	entries   []cachedPage
	cols      []outColumn
	conflicts []string
	requests  int64
	retries   int64
	records   int64
	rows      int64
}

type cachedPage struct {
	off, n      int64
	where       string
	contentType string
}

func (d *download) pages() int { return len(d.entries) }

func (o *APIRestOrigin) dropCache() {
	if o.cache != nil {
		o.cache.file.Close()
		o.cache = nil
	}
}

// download fetches every page (concurrently for page and offset APIs),
// infers the kinds of every field in page order, and appends each body to
// an unlinked file in dir. Memory holds the pages in flight and one set of
// per-column flags; the disk holds the download.
func (o *APIRestOrigin) download(ctx context.Context, dir string) (*download, error) {
	c := newClient(&o.HTTPClient, o.concurrency())
	defer c.close()
	f, err := o.newFetcher(c)
	if err != nil {
		return nil, err
	}
	file, err := os.CreateTemp(dir, "openstage-rest-*.json")
	if err != nil {
		return nil, fmt.Errorf("creating the file that holds the download: %w (set --temp-dir to a writable folder)", err)
	}
	os.Remove(file.Name()) // unlinked: gone when closed, or when the process ends
	d := &download{file: file}
	inf := newInference(o.Explode)
	x := newExtractor(o.JSONPath, o.Format)
	var parser fastjson.Parser
	err = f.run(ctx, o.concurrency(), func(pg *page) (int, *fastjson.Value, error) {
		n := 0
		root, err := x.records(&parser, pg, func(rec *fastjson.Value) error {
			n++
			return inf.Add(rec, pg.where)
		})
		if err != nil {
			return 0, nil, err
		}
		if _, err := file.Write(pg.body); err != nil {
			return 0, nil, fmt.Errorf("writing the download to the temporary folder: %w", err)
		}
		d.entries = append(d.entries, cachedPage{off: d.size, n: int64(len(pg.body)), where: pg.where, contentType: pg.contentType})
		d.size += int64(len(pg.body))
		return n, root, nil
	})
	d.requests, d.retries = c.requests.Load(), c.retries.Load()
	if err != nil {
		file.Close()
		return nil, err
	}
	d.records, d.rows = inf.Records(), inf.Rows()
	for i, name := range inf.Names() {
		t, conflict := inf.TypeOf(i)
		if _, ok := o.declared[name]; !ok && conflict != "" {
			d.conflicts = append(d.conflicts, conflict)
		}
		d.cols = append(d.cols, outColumn{Name: name, Type: t})
	}
	return d, nil
}

// Pump implements openstage.Origin: it converts the pages downloaded at
// Plan, or, with a declared schema, fetches them now.
func (o *APIRestOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	conv := newConverter(out.Allocator(), o.cols, o.Explode)
	defer conv.release()
	x := newExtractor(o.JSONPath, o.Format)
	var parser fastjson.Parser
	flush := func() error {
		if conv.Rows() == 0 {
			return nil
		}
		rec := conv.build()
		defer rec.Release()
		return out.Send(ctx, rec)
	}
	pages := 0
	consume := func(pg *page) (int, *fastjson.Value, error) {
		pages++
		n := 0
		root, err := x.records(&parser, pg, func(rec *fastjson.Value) error {
			n++
			if err := conv.add(rec, pg.where, n); err != nil {
				return err
			}
			if conv.Rows() >= o.batchRows() {
				return flush()
			}
			return nil
		})
		return n, root, err
	}
	if o.cache == nil {
		c := newClient(&o.HTTPClient, o.concurrency())
		defer c.close()
		f, err := o.newFetcher(c)
		if err != nil {
			return err
		}
		err = f.run(ctx, o.concurrency(), consume)
		o.count(out, int64(pages), c.requests.Load(), c.retries.Load())
		if err != nil {
			return err
		}
		return flush()
	}
	d := o.cache
	var buf []byte
	for _, e := range d.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = slices.Grow(buf[:0], int(e.n))[:e.n]
		if _, err := d.file.ReadAt(buf, e.off); err != nil && err != io.EOF {
			return fmt.Errorf("reading back the download: %w", err)
		}
		if _, _, err := consume(&page{where: e.where, body: buf, contentType: e.contentType, checked: true}); err != nil {
			return err
		}
	}
	o.count(out, int64(pages), d.requests, d.retries)
	if len(d.conflicts) > 0 {
		out.Count("type_conflicts", int64(len(d.conflicts)))
	}
	return flush()
}

func (o *APIRestOrigin) count(out *openstage.Outputs, pages, requests, retries int64) {
	out.Count("pages", pages)
	out.Count("requests", requests)
	if retries > 0 {
		out.Count("retries", retries)
	}
}
