package bqtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

type dataset struct {
	project, id, location string
	created, modified     time.Time
	tables                map[string]*table // by lower-case id? no: ids are case-sensitive
}

type table struct {
	ds                *dataset
	id                string
	schema            []*bq.TableFieldSchema // canonical: legacy type names, modes set
	numRows           int64
	numBytes          int64
	created, modified time.Time
}

func (t *table) fullID() string { return fmt.Sprintf("%s:%s.%s", t.ds.project, t.ds.id, t.id) }

// sqlName is the quoted name of the table in the SQLite database.
func (t *table) sqlName() string {
	return quoteIdent(t.ds.project + "." + t.ds.id + "." + t.id)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func dsKey(project, ds string) string { return project + ":" + ds }

var (
	datasetIDRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	tableIDRe   = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$`)
	fieldNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,299}$`)
)

// lookupDataset returns the dataset or the service's 404.
func (s *Server) lookupDataset(project, id string) (*dataset, *apiError) {
	d, ok := s.datasets[dsKey(project, id)]
	if !ok {
		return nil, notFound("Not found: Dataset %s:%s", project, id)
	}
	return d, nil
}

// lookupTable returns the table or the service's 404 (for the dataset if
// that is what is missing).
func (s *Server) lookupTable(project, ds, id string) (*table, *apiError) {
	d, err := s.lookupDataset(project, ds)
	if err != nil {
		return nil, err
	}
	t, ok := d.tables[id]
	if !ok {
		return nil, notFound("Not found: Table %s:%s.%s", project, ds, id)
	}
	return t, nil
}

// CreateDataset creates a dataset, as datasets.insert would. Tests use it to
// set up; everything else goes through the REST API.
func (s *Server) CreateDataset(project, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.createDataset(project, id, ""); err != nil {
		return err
	}
	return nil
}

func (s *Server) createDataset(project, id, location string) (*dataset, *apiError) {
	if !datasetIDRe.MatchString(id) || len(id) > 1024 {
		return nil, invalid("Invalid dataset ID \"%s\". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.", id)
	}
	if _, ok := s.datasets[dsKey(project, id)]; ok {
		return nil, duplicate("Already Exists: Dataset %s:%s", project, id)
	}
	if location == "" {
		location = s.opts.Location
	}
	now := time.Now()
	d := &dataset{project: project, id: id, location: location, created: now, modified: now, tables: map[string]*table{}}
	s.datasets[dsKey(project, id)] = d
	return d, nil
}

func (d *dataset) resource() *bq.Dataset {
	return &bq.Dataset{
		Kind:             "bigquery#dataset",
		Id:               dsKey(d.project, d.id),
		DatasetReference: &bq.DatasetReference{ProjectId: d.project, DatasetId: d.id},
		Location:         d.location,
		CreationTime:     millis(d.created),
		LastModifiedTime: millis(d.modified),
		Type:             "DEFAULT",
	}
}

func (s *Server) getDataset(project, id string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(project, id)
	if err != nil {
		return errorReply(err)
	}
	return jsonReply(200, d.resource())
}

func (s *Server) insertDataset(r *http.Request, project string) *reply {
	var in bq.Dataset
	if err := decodeBody(r, &in); err != nil {
		return errorReply(err)
	}
	if in.DatasetReference == nil || in.DatasetReference.DatasetId == "" {
		return errorReply(invalid("Required parameter is missing: datasetReference.datasetId"))
	}
	if p := in.DatasetReference.ProjectId; p != "" && p != project {
		return errorReply(invalid("The project %s in the dataset reference does not match the project %s of the request", p, project))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.createDataset(project, in.DatasetReference.DatasetId, in.Location)
	if err != nil {
		return errorReply(err)
	}
	return jsonReply(200, d.resource())
}

func (s *Server) listDatasets(project string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		Kind             string               `json:"kind"`
		ID               string               `json:"id"`
		DatasetReference *bq.DatasetReference `json:"datasetReference"`
		Location         string               `json:"location"`
	}
	var items []item
	for _, d := range s.datasets {
		if d.project == project {
			items = append(items, item{"bigquery#dataset", dsKey(d.project, d.id), &bq.DatasetReference{ProjectId: d.project, DatasetId: d.id}, d.location})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.ID, b.ID) })
	return jsonReply(200, map[string]any{"kind": "bigquery#datasetList", "datasets": items})
}

func (s *Server) deleteDataset(project, id string, contents bool) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(project, id)
	if err != nil {
		return errorReply(err)
	}
	if len(d.tables) > 0 && !contents {
		return errorReply(invalid("Dataset %s:%s is still in use", project, id))
	}
	for _, t := range d.tables {
		if _, err := s.db.Exec("DROP TABLE " + t.sqlName()); err != nil {
			return errorReply(&apiError{500, "internalError", "bqtest: " + err.Error()})
		}
	}
	delete(s.datasets, dsKey(project, id))
	return &reply{status: http.StatusNoContent}
}

func (t *table) resource() *bq.Table {
	return &bq.Table{
		Kind:             "bigquery#table",
		Id:               t.fullID(),
		TableReference:   &bq.TableReference{ProjectId: t.ds.project, DatasetId: t.ds.id, TableId: t.id},
		Schema:           &bq.TableSchema{Fields: t.schema},
		NumRows:          uint64(t.numRows),
		NumBytes:         t.numBytes,
		CreationTime:     millis(t.created),
		LastModifiedTime: uint64(millis(t.modified)),
		Type:             "TABLE",
		Location:         t.ds.location,
	}
}

func (s *Server) getTable(project, ds, id string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.lookupTable(project, ds, id)
	if err != nil {
		return errorReply(err)
	}
	return jsonReply(200, t.resource())
}

func (s *Server) insertTable(r *http.Request, project, ds string) *reply {
	var in bq.Table
	if err := decodeBody(r, &in); err != nil {
		return errorReply(err)
	}
	if in.TableReference == nil || in.TableReference.TableId == "" {
		return errorReply(invalid("Required parameter is missing: tableReference.tableId"))
	}
	if in.View != nil || in.MaterializedView != nil || in.ExternalDataConfiguration != nil {
		return errorReply(&apiError{501, "notImplemented", "bqtest supports only plain tables, not views or external tables"})
	}
	var fields []*bq.TableFieldSchema
	if in.Schema != nil {
		fields = in.Schema.Fields
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(project, ds)
	if err != nil {
		return errorReply(err)
	}
	t, err := s.createTable(d, in.TableReference.TableId, fields)
	if err != nil {
		return errorReply(err)
	}
	return jsonReply(200, t.resource())
}

// createTable checks a schema and creates the table, in the database too.
func (s *Server) createTable(d *dataset, id string, fields []*bq.TableFieldSchema) (*table, *apiError) {
	if !tableIDRe.MatchString(id) || len(id) > 1024 {
		return nil, invalid("Invalid table ID \"%s\".", id)
	}
	if _, ok := d.tables[id]; ok {
		return nil, duplicate("Already Exists: Table %s:%s.%s", d.project, d.id, id)
	}
	schema, err := canonicalSchema(fields)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	t := &table{ds: d, id: id, schema: schema, created: now, modified: now}
	if _, err := s.db.Exec(s.createSQL(t.sqlName(), schema)); err != nil {
		return nil, &apiError{500, "internalError", "bqtest: creating the table: " + err.Error()}
	}
	d.tables[id] = t
	return t, nil
}

// createSQL is the CREATE TABLE statement of a table. Each column's declared
// type names the field's schema in the registry and SQLite's affinity for
// it, so that query results can be typed: BQ3_INT is field schema 3, stored
// as an integer.
func (s *Server) createSQL(name string, schema []*bq.TableFieldSchema) string {
	cols := make([]string, len(schema))
	for i, f := range schema {
		cols[i] = quoteIdent(f.Name) + " " + s.fields.declType(f)
	}
	if len(cols) == 0 {
		// SQLite needs a column; a table without a schema has none a query can see.
		cols = append(cols, `"__bqtest_no_columns" BQ0_TEXT`)
	}
	return fmt.Sprintf("CREATE TABLE %s (%s)", name, strings.Join(cols, ", "))
}

func (s *Server) deleteTable(project, ds, id string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.lookupTable(project, ds, id)
	if err != nil {
		return errorReply(err)
	}
	if _, err := s.db.Exec("DROP TABLE " + t.sqlName()); err != nil {
		return errorReply(&apiError{500, "internalError", "bqtest: " + err.Error()})
	}
	delete(t.ds.tables, id)
	return &reply{status: http.StatusNoContent}
}

func (s *Server) listTables(project, ds string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(project, ds)
	if err != nil {
		return errorReply(err)
	}
	type item struct {
		Kind           string             `json:"kind"`
		ID             string             `json:"id"`
		TableReference *bq.TableReference `json:"tableReference"`
		Type           string             `json:"type"`
	}
	var items []item
	for _, t := range d.tables {
		items = append(items, item{"bigquery#table", t.fullID(), &bq.TableReference{ProjectId: project, DatasetId: ds, TableId: t.id}, "TABLE"})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.ID, b.ID) })
	return jsonReply(200, map[string]any{"kind": "bigquery#tableList", "tables": items, "totalItems": len(items)})
}

// Type names: the service accepts both spellings and reports the legacy one.
var canonicalType = map[string]string{
	"STRING": "STRING", "BYTES": "BYTES",
	"INTEGER": "INTEGER", "INT64": "INTEGER",
	"FLOAT": "FLOAT", "FLOAT64": "FLOAT",
	"NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC",
	"BIGNUMERIC": "BIGNUMERIC", "BIGDECIMAL": "BIGNUMERIC",
	"BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
	"TIMESTAMP": "TIMESTAMP", "DATE": "DATE", "TIME": "TIME", "DATETIME": "DATETIME",
	"GEOGRAPHY": "GEOGRAPHY", "JSON": "JSON",
	"RECORD": "RECORD", "STRUCT": "RECORD",
}

// canonicalSchema checks a schema as the service does and returns a copy
// with canonical type names and modes.
func canonicalSchema(fields []*bq.TableFieldSchema) ([]*bq.TableFieldSchema, *apiError) {
	out := make([]*bq.TableFieldSchema, len(fields))
	seen := map[string]bool{}
	for i, f := range fields {
		if f == nil || !fieldNameRe.MatchString(f.Name) {
			name := ""
			if f != nil {
				name = f.Name
			}
			return nil, invalid("Invalid field name \"%s\". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.", name)
		}
		if seen[strings.ToLower(f.Name)] {
			return nil, invalid("Field %s already exists in schema", f.Name)
		}
		seen[strings.ToLower(f.Name)] = true
		typ, ok := canonicalType[strings.ToUpper(f.Type)]
		if !ok {
			if t := strings.ToUpper(f.Type); t == "INTERVAL" || t == "RANGE" {
				return nil, &apiError{501, "notImplemented", fmt.Sprintf("bqtest does not support type %s (field %s)", t, f.Name)}
			}
			return nil, invalid("Invalid value for type: %s is not a valid value", f.Type)
		}
		mode := strings.ToUpper(f.Mode)
		switch mode {
		case "":
			mode = "NULLABLE"
		case "NULLABLE", "REQUIRED", "REPEATED":
		default:
			return nil, invalid("Invalid value for mode: %s is not a valid value", f.Mode)
		}
		c := &bq.TableFieldSchema{Name: f.Name, Type: typ, Mode: mode, Description: f.Description}
		if typ == "RECORD" {
			if len(f.Fields) == 0 {
				return nil, invalid("Field %s is type RECORD but has no schema", f.Name)
			}
			sub, err := canonicalSchema(f.Fields)
			if err != nil {
				return nil, err
			}
			c.Fields = sub
		} else if len(f.Fields) > 0 {
			return nil, invalid("Field %s is type %s but has subfields; only RECORD fields have them", f.Name, typ)
		}
		out[i] = c
	}
	return out, nil
}

// sameSchema reports whether two canonical schemas have the same fields
// (names compared without case, types, modes, sub-fields).
func sameSchema(a, b []*bq.TableFieldSchema) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Name, b[i].Name) || a[i].Type != b[i].Type || a[i].Mode != b[i].Mode || !sameSchema(a[i].Fields, b[i].Fields) {
			return false
		}
	}
	return true
}

// describeSchema writes a schema the way the service's messages do:
// name:TYPE,other:TYPE.
func describeSchema(fs []*bq.TableFieldSchema) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		t := f.Type
		if f.Mode == "REPEATED" {
			t = "ARRAY<" + t + ">"
		}
		parts[i] = f.Name + ":" + t
	}
	return strings.Join(parts, ",")
}

// fieldRegistry numbers the distinct field schemas (type, mode, sub-fields;
// not the name) that columns have, so that a column's declared type in
// SQLite can carry it.
type fieldRegistry struct {
	ids    map[string]int
	fields []*bq.TableFieldSchema
}

func (r *fieldRegistry) declType(f *bq.TableFieldSchema) string {
	key := fieldKey(f)
	id, ok := r.ids[key]
	if !ok {
		if len(r.fields) == 0 {
			r.fields = append(r.fields, &bq.TableFieldSchema{Type: "STRING", Mode: "NULLABLE"}) // BQ0
		}
		id = len(r.fields)
		r.ids[key] = id
		c := *f
		c.Name = ""
		r.fields = append(r.fields, &c)
	}
	return fmt.Sprintf("BQ%d_%s", id, affinity(f))
}

// lookup returns the field schema a declared type names, if it is one.
func (r *fieldRegistry) lookup(decl string) (*bq.TableFieldSchema, bool) {
	if !strings.HasPrefix(decl, "BQ") {
		return nil, false
	}
	var id int
	var aff string
	if n, _ := fmt.Sscanf(decl, "BQ%d_%s", &id, &aff); n != 2 || id < 1 || id >= len(r.fields) {
		return nil, false
	}
	return r.fields[id], true
}

func fieldKey(f *bq.TableFieldSchema) string {
	type key struct {
		T, M string
		F    []string
	}
	k := key{T: f.Type, M: f.Mode}
	for _, sub := range f.Fields {
		k.F = append(k.F, sub.Name+"="+fieldKey(sub))
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// affinity is the SQLite storage class of a field's values.
func affinity(f *bq.TableFieldSchema) string {
	if f.Mode == "REPEATED" {
		return "TEXT" // JSON text
	}
	switch f.Type {
	case "INTEGER", "BOOLEAN":
		return "INT"
	case "FLOAT":
		return "REAL"
	case "BYTES":
		return "BLOB"
	}
	return "TEXT"
}
