package bqtest

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// result is a query's result, held in memory: the schema and the rows in
// stored form (or, for computed columns, as SQLite returned them).
type result struct {
	schema []*bq.TableFieldSchema
	rows   [][]any
	bytes  int64 // an estimate of the bytes the query read
}

// job is a job the server ran.
type job struct {
	res    *bq.Job
	result *result // query jobs that succeeded
}

// queryConfig gathers what jobs.insert and jobs.query share.
type queryConfig struct {
	query      string
	legacy     bool
	def        *bq.DatasetReference
	params     []*bq.QueryParameter
	paramMode  string
	dryRun     bool
	int64ts    bool
	maxResults *int64
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// runQuery runs a query and returns its result. It is called with s.mu held.
func (s *Server) runQuery(project string, qc queryConfig) (*result, *apiError) {
	if strings.TrimSpace(qc.query) == "" {
		return nil, invalid("Query text is empty")
	}
	if qc.legacy && len(qc.params) > 0 {
		return nil, invalid("Query parameters cannot be used in legacy SQL queries.")
	}
	tr, err := s.translate(qc.query, project, qc.def, qc.legacy)
	if err != nil {
		return nil, err
	}
	args, err := bindParams(tr, qc)
	if err != nil {
		return nil, err
	}
	rows, qerr := s.db.Query(tr.sql, args...)
	if qerr != nil {
		return nil, sqliteError(qerr, tr)
	}
	defer rows.Close()
	cols, qerr := rows.ColumnTypes()
	if qerr != nil {
		return nil, sqliteError(qerr, tr)
	}
	res := &result{}
	typed := make([]*bq.TableFieldSchema, len(cols))
	for i, c := range cols {
		if f, ok := s.fields.lookup(c.DatabaseTypeName()); ok {
			typed[i] = f
		}
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, sqliteError(err, tr)
		}
		res.rows = append(res.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteError(err, tr)
	}
	// Names: columns without a valid name are f0_, f1_, ... as on the service.
	seen := map[string]bool{}
	var dups []string
	anon := 0
	for i, c := range cols {
		name := c.Name()
		if !identRe.MatchString(name) {
			name = fmt.Sprintf("f%d_", anon)
			anon++
		}
		if seen[strings.ToLower(name)] {
			dups = append(dups, name)
		}
		seen[strings.ToLower(name)] = true
		var f bq.TableFieldSchema
		if typed[i] != nil {
			f = *typed[i]
			if f.Mode == "REQUIRED" {
				f.Mode = "NULLABLE"
			}
		} else {
			f = bq.TableFieldSchema{Type: inferType(res.rows, i), Mode: "NULLABLE"}
		}
		f.Name = name
		res.schema = append(res.schema, &f)
	}
	if len(dups) > 0 {
		return nil, invalidQuery("Duplicate column names in the result are not supported. Found duplicate(s): %s", strings.Join(dups, ", "))
	}
	for _, t := range tr.tables {
		res.bytes += t.numBytes
	}
	return res, nil
}

// inferType types a computed column from its values.
func inferType(rows [][]any, col int) string {
	var ints, floats, strs, blobs bool
	for _, r := range rows {
		switch r[col].(type) {
		case int64:
			ints = true
		case float64:
			floats = true
		case string:
			strs = true
		case []byte:
			blobs = true
		}
	}
	switch {
	case strs:
		return "STRING"
	case blobs:
		return "BYTES"
	case floats:
		return "FLOAT"
	}
	_ = ints
	return "INTEGER"
}

// bindParams returns the SQLite arguments for a query's parameters.
func bindParams(tr *translation, qc queryConfig) ([]any, *apiError) {
	byName := map[string]*bq.QueryParameter{}
	var positional []*bq.QueryParameter
	for _, p := range qc.params {
		if p == nil || p.ParameterType == nil {
			return nil, invalid("Query parameter is missing its parameterType")
		}
		if p.Name == "" {
			positional = append(positional, p)
		} else {
			byName[strings.ToLower(p.Name)] = p
		}
	}
	if len(positional) > 0 && len(byName) > 0 || qc.paramMode == "POSITIONAL" && len(byName) > 0 {
		return nil, invalid("Named and positional query parameters cannot be mixed")
	}
	if tr.positional > 0 && len(tr.named) > 0 {
		return nil, invalidQuery("Query contains both named and positional parameters")
	}
	var args []any
	for _, name := range tr.named {
		p, ok := byName[strings.ToLower(name)]
		if !ok {
			return nil, invalidQuery("Query parameter '%s' not found", name)
		}
		v, err := paramValue(p)
		if err != nil {
			return nil, err
		}
		args = append(args, sql.Named(paramSQLName(name), v))
	}
	if tr.positional != len(positional) {
		if tr.positional > len(positional) {
			return nil, invalidQuery("Query has %d positional parameters but %d were given", tr.positional, len(positional))
		}
		return nil, invalid("Too many positional parameters: the query has %d, %d were given", tr.positional, len(positional))
	}
	for _, p := range positional {
		v, err := paramValue(p)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	// Duplicate named references bind the same name more than once; SQLite
	// accepts that.
	return dedupNamed(args), nil
}

func dedupNamed(args []any) []any {
	seen := map[string]bool{}
	out := args[:0]
	for _, a := range args {
		if n, ok := a.(sql.NamedArg); ok {
			if seen[n.Name] {
				continue
			}
			seen[n.Name] = true
		}
		out = append(out, a)
	}
	return out
}

func paramValue(p *bq.QueryParameter) (any, *apiError) {
	typ, ok := canonicalType[strings.ToUpper(p.ParameterType.Type)]
	if !ok || typ == "RECORD" || typ == "JSON" {
		return nil, &apiError{501, "notImplemented", fmt.Sprintf("bqtest does not support query parameters of type %s (parameter %s)", p.ParameterType.Type, p.Name)}
	}
	if p.ParameterValue == nil {
		return nil, nil
	}
	f := &bq.TableFieldSchema{Name: p.Name, Type: typ, Mode: "NULLABLE"}
	text, err := textFromString(f, p.ParameterValue.Value)
	if err != nil {
		return nil, invalid("Invalid value for query parameter %s: %v", p.Name, err)
	}
	v, err := storedFromText(f, text)
	if err != nil {
		return nil, invalid("Invalid value for query parameter %s: %v", p.Name, err)
	}
	return v, nil
}

func (s *Server) newJobID() string {
	s.seq++
	return fmt.Sprintf("bqtest_job_%d", s.seq)
}

func jobKey(project, id string) string { return project + ":" + id }

// insertJob is jobs.insert without media: query jobs.
func (s *Server) insertJob(r *http.Request, project string) *reply {
	var in bq.Job
	if err := decodeBody(r, &in); err != nil {
		return errorReply(err)
	}
	cfg := in.Configuration
	switch {
	case cfg == nil:
		return errorReply(invalid("Required parameter is missing: configuration"))
	case cfg.Load != nil:
		if len(cfg.Load.SourceUris) > 0 {
			return errorReply(&apiError{501, "notImplemented", "bqtest does not load from Cloud Storage URIs; upload the data with the job (the upload endpoints)"})
		}
		return errorReply(invalid("Load configuration must specify at least one source URI"))
	case cfg.Query == nil:
		return errorReply(&apiError{501, "notImplemented", "bqtest runs only query and load jobs"})
	}
	qcfg := cfg.Query
	if qcfg.DestinationTable != nil {
		return errorReply(&apiError{501, "notImplemented", "bqtest does not write query results to a destination table"})
	}
	qc := queryConfig{
		query:     qcfg.Query,
		legacy:    qcfg.UseLegacySql == nil || *qcfg.UseLegacySql, // the API's default is legacy SQL
		def:       qcfg.DefaultDataset,
		params:    qcfg.QueryParameters,
		paramMode: qcfg.ParameterMode,
		dryRun:    cfg.DryRun,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, aerr := s.jobRef(project, in.JobReference)
	if aerr != nil {
		return errorReply(aerr)
	}
	start := time.Now()
	res, qerr := s.runQuery(project, qc)
	if cfg.DryRun {
		s.stats.dryRuns.Add(1)
		if qerr != nil {
			return errorReply(qerr)
		}
		j := s.jobResource(ref, cfg, start, nil)
		j.Statistics.Query = &bq.JobStatistics2{
			Schema: &bq.TableSchema{Fields: res.schema}, StatementType: "SELECT",
			TotalBytesProcessed: res.bytes, TotalBytesProcessedAccuracy: "PRECISE",
		}
		j.Statistics.TotalBytesProcessed = res.bytes
		return jsonReply(200, j)
	}
	s.stats.queryJobs.Add(1)
	var errp *bq.ErrorProto
	if qerr != nil {
		errp = qerr.proto()
	}
	j := s.jobResource(ref, cfg, start, errp)
	jb := &job{res: j}
	if res != nil {
		j.Statistics.Query = &bq.JobStatistics2{StatementType: "SELECT", TotalBytesProcessed: res.bytes, Schema: &bq.TableSchema{Fields: res.schema}}
		j.Statistics.TotalBytesProcessed = res.bytes
		jb.result = res
	}
	s.jobs[jobKey(project, ref.JobId)] = jb
	return jsonReply(200, j)
}

// jobRef completes a job reference and checks the id is free.
func (s *Server) jobRef(project string, in *bq.JobReference) (*bq.JobReference, *apiError) {
	ref := &bq.JobReference{ProjectId: project, Location: s.opts.Location}
	if in != nil {
		if in.JobId != "" {
			ref.JobId = in.JobId
		}
		if in.Location != "" {
			ref.Location = in.Location
		}
	}
	if ref.JobId == "" {
		ref.JobId = s.newJobID()
	}
	if _, ok := s.jobs[jobKey(project, ref.JobId)]; ok {
		return nil, duplicate("Already Exists: Job %s:%s.%s", project, ref.Location, ref.JobId)
	}
	if _, ok := s.pendingJobIDs()[jobKey(project, ref.JobId)]; ok {
		return nil, duplicate("Already Exists: Job %s:%s.%s", project, ref.Location, ref.JobId)
	}
	return ref, nil
}

// jobResource builds a DONE job.
func (s *Server) jobResource(ref *bq.JobReference, cfg *bq.JobConfiguration, start time.Time, errp *bq.ErrorProto) *bq.Job {
	now := time.Now()
	typ := "QUERY"
	if cfg.Load != nil {
		typ = "LOAD"
	}
	cfg.JobType = typ
	j := &bq.Job{
		Kind:          "bigquery#job",
		Id:            fmt.Sprintf("%s:%s.%s", ref.ProjectId, ref.Location, ref.JobId),
		SelfLink:      fmt.Sprintf("/bigquery/v2/projects/%s/jobs/%s?location=%s", ref.ProjectId, ref.JobId, ref.Location),
		JobReference:  ref,
		Configuration: cfg,
		Status:        &bq.JobStatus{State: "DONE"},
		Statistics: &bq.JobStatistics{
			CreationTime: millis(start), StartTime: millis(start), EndTime: millis(now),
		},
	}
	if errp != nil {
		j.Status.ErrorResult = errp
		j.Status.Errors = []*bq.ErrorProto{errp}
	}
	return j
}

func (s *Server) getJob(project, id string) *reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobKey(project, id)]
	if !ok {
		return errorReply(notFound("Not found: Job %s:%s", project, id))
	}
	return jsonReply(200, j.res)
}

// queryResponse is the body of jobs.query and jobs.getQueryResults; rows
// are written by cellWriter.
type queryResponse struct {
	Kind                string           `json:"kind"`
	JobReference        *bq.JobReference `json:"jobReference,omitempty"`
	Schema              *bq.TableSchema  `json:"schema,omitempty"`
	Rows                json.RawMessage  `json:"rows,omitempty"`
	PageToken           string           `json:"pageToken,omitempty"`
	TotalRows           string           `json:"totalRows,omitempty"`
	JobComplete         bool             `json:"jobComplete"`
	TotalBytesProcessed string           `json:"totalBytesProcessed,omitempty"`
	CacheHit            bool             `json:"cacheHit"`
}

// query is jobs.query.
func (s *Server) query(r *http.Request, project string) *reply {
	var in bq.QueryRequest
	if err := decodeBody(r, &in); err != nil {
		return errorReply(err)
	}
	qc := queryConfig{
		query:     in.Query,
		legacy:    in.UseLegacySql == nil || *in.UseLegacySql,
		def:       in.DefaultDataset,
		params:    in.QueryParameters,
		paramMode: in.ParameterMode,
		dryRun:    in.DryRun,
		int64ts:   in.FormatOptions != nil && in.FormatOptions.UseInt64Timestamp,
	}
	if in.MaxResults > 0 {
		m := in.MaxResults
		qc.maxResults = &m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, aerr := s.jobRef(project, &bq.JobReference{Location: in.Location})
	if aerr != nil {
		return errorReply(aerr)
	}
	start := time.Now()
	res, qerr := s.runQuery(project, qc)
	if qc.dryRun {
		s.stats.dryRuns.Add(1)
		if qerr != nil {
			return errorReply(qerr)
		}
		return jsonReply(200, queryResponse{Kind: "bigquery#queryResponse", Schema: &bq.TableSchema{Fields: res.schema}, JobComplete: true,
			TotalBytesProcessed: strconv.FormatInt(res.bytes, 10)})
	}
	s.stats.queryJobs.Add(1)
	if qerr != nil {
		return errorReply(qerr)
	}
	cfg := &bq.JobConfiguration{Query: &bq.JobConfigurationQuery{
		Query: in.Query, UseLegacySql: in.UseLegacySql, DefaultDataset: in.DefaultDataset, QueryParameters: in.QueryParameters,
	}}
	j := s.jobResource(ref, cfg, start, nil)
	j.Statistics.Query = &bq.JobStatistics2{StatementType: "SELECT", TotalBytesProcessed: res.bytes, Schema: &bq.TableSchema{Fields: res.schema}}
	s.jobs[jobKey(project, ref.JobId)] = &job{res: j, result: res}
	resp, perr := s.page(res, 0, qc.maxResults, "", qc.int64ts)
	if perr != nil {
		return errorReply(perr)
	}
	resp.JobReference = ref
	return jsonReply(200, resp)
}

// getQueryResults is jobs.getQueryResults.
func (s *Server) getQueryResults(r *http.Request, project, id string) *reply {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobKey(project, id)]
	if !ok {
		return errorReply(notFound("Not found: Job %s:%s", project, id))
	}
	if j.res.Configuration.Query == nil {
		return errorReply(invalid("Job %s:%s is not a query job", project, id))
	}
	if e := j.res.Status.ErrorResult; e != nil {
		return errorReply(errorFromProto(e))
	}
	maxResults, start, err := pagingParams(q)
	if err != nil {
		return errorReply(err)
	}
	resp, err := s.page(j.result, start, maxResults, q.Get("pageToken"), q.Get("formatOptions.useInt64Timestamp") == "true")
	if err != nil {
		return errorReply(err)
	}
	resp.Kind = "bigquery#getQueryResultsResponse"
	resp.JobReference = j.res.JobReference
	return jsonReply(200, resp)
}

func pagingParams(q map[string][]string) (*int64, int64, *apiError) {
	var maxResults *int64
	if v := first(q, "maxResults"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, invalid("Invalid value for maxResults: %s", v)
		}
		maxResults = &n
	}
	var start int64
	if v := first(q, "startIndex"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, invalid("Invalid value for startIndex: %s", v)
		}
		start = n
	}
	return maxResults, start, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// page returns one page of a result.
func (s *Server) page(res *result, start int64, maxResults *int64, token string, int64ts bool) (*queryResponse, *apiError) {
	off, err := s.offset(start, token)
	if err != nil {
		return nil, err
	}
	total := int64(len(res.rows))
	n := int64(s.opts.PageRows)
	if maxResults != nil && *maxResults < n {
		n = *maxResults
	}
	off = min(off, total)
	end := min(off+n, total)
	resp := &queryResponse{
		Kind:                "bigquery#queryResponse",
		Schema:              &bq.TableSchema{Fields: res.schema},
		TotalRows:           strconv.FormatInt(total, 10),
		JobComplete:         true,
		TotalBytesProcessed: strconv.FormatInt(res.bytes, 10),
	}
	if n > 0 && end > off {
		var buf bytes.Buffer
		(&cellWriter{buf: &buf, int64ts: int64ts}).writeRows(res.schema, res.rows[off:end])
		resp.Rows = buf.Bytes()
	}
	if n > 0 && end < total {
		resp.PageToken = pageToken(end)
	}
	return resp, nil
}

func pageToken(off int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("bqtest-offset:" + strconv.FormatInt(off, 10)))
}

// offset is where a page starts: at the page token's offset, or startIndex.
func (s *Server) offset(start int64, token string) (int64, *apiError) {
	if token == "" {
		return start, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	rest, ok := strings.CutPrefix(string(b), "bqtest-offset:")
	n, perr := strconv.ParseInt(rest, 10, 64)
	if err != nil || !ok || perr != nil || n < 0 {
		return 0, invalid("Invalid page token: %s", token)
	}
	return n, nil
}

// listTableData is tabledata.list.
func (s *Server) listTableData(r *http.Request, project, ds, id string) *reply {
	q := r.URL.Query()
	maxResults, start, err := pagingParams(q)
	if err != nil {
		return errorReply(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.lookupTable(project, ds, id)
	if err != nil {
		return errorReply(err)
	}
	off, err := s.offset(start, q.Get("pageToken"))
	if err != nil {
		return errorReply(err)
	}
	schema := t.schema
	if sel := q.Get("selectedFields"); sel != "" {
		schema = nil
		for _, name := range strings.Split(sel, ",") {
			f := findField(t.schema, strings.TrimSpace(name))
			if f == nil {
				return errorReply(invalid("Invalid field selection %s", name))
			}
			schema = append(schema, f)
		}
	}
	n := int64(s.opts.PageRows)
	if maxResults != nil && *maxResults < n {
		n = *maxResults
	}
	type listBody struct {
		Kind      string          `json:"kind"`
		Etag      string          `json:"etag"`
		TotalRows string          `json:"totalRows"`
		PageToken string          `json:"pageToken,omitempty"`
		Rows      json.RawMessage `json:"rows,omitempty"`
	}
	body := listBody{Kind: "bigquery#tableDataList", Etag: strconv.FormatInt(t.modified.UnixNano(), 36), TotalRows: strconv.FormatInt(t.numRows, 10)}
	if n > 0 && off < t.numRows && len(schema) > 0 {
		cols := make([]string, len(schema))
		for i, f := range schema {
			cols[i] = quoteIdent(f.Name)
		}
		rows, qerr := s.db.Query(fmt.Sprintf("SELECT %s FROM %s ORDER BY rowid LIMIT %d OFFSET %d", strings.Join(cols, ", "), t.sqlName(), n, off))
		if qerr != nil {
			return errorReply(&apiError{500, "internalError", "bqtest: " + qerr.Error()})
		}
		var page [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return errorReply(&apiError{500, "internalError", "bqtest: " + err.Error()})
			}
			page = append(page, vals)
		}
		rows.Close()
		var buf bytes.Buffer
		(&cellWriter{buf: &buf, int64ts: q.Get("formatOptions.useInt64Timestamp") == "true"}).writeRows(schema, page)
		body.Rows = buf.Bytes()
		if end := off + int64(len(page)); end < t.numRows {
			body.PageToken = pageToken(end)
		}
	}
	return jsonReply(200, body)
}
