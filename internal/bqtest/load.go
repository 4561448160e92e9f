package bqtest

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
)

// uploadSession is a resumable upload in progress: the job's metadata and
// the data received so far. The job does not exist until the last chunk.
type uploadSession struct {
	project string
	job     *bq.Job
	data    bytes.Buffer
}

func (s *Server) pendingJobIDs() map[string]bool {
	ids := map[string]bool{}
	for _, u := range s.sessions {
		if u.job.JobReference != nil {
			ids[jobKey(u.project, u.job.JobReference.JobId)] = true
		}
	}
	return ids
}

// upload serves /upload/bigquery/v2/projects/{p}/jobs: multipart uploads,
// the start of resumable uploads, and their chunks.
func (s *Server) upload(r *http.Request, project string) *reply {
	q := r.URL.Query()
	if id := q.Get("upload_id"); id != "" {
		return s.uploadChunk(r, id)
	}
	switch q.Get("uploadType") {
	case "multipart":
		return s.uploadMultipart(r, project)
	case "resumable":
		var in bq.Job
		if err := decodeBody(r, &in); err != nil {
			return errorReply(err)
		}
		if err := checkLoadJob(&in); err != nil {
			return errorReply(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if in.JobReference != nil && in.JobReference.JobId != "" {
			if _, err := s.jobRef(project, in.JobReference); err != nil {
				return errorReply(err)
			}
		}
		b := make([]byte, 12)
		rand.Read(b)
		id := hex.EncodeToString(b)
		s.sessions[id] = &uploadSession{project: project, job: &in}
		s.stats.uploadSessions.Add(1)
		loc := fmt.Sprintf("http://%s/upload/bigquery/v2/projects/%s/jobs?uploadType=resumable&upload_id=%s", r.Host, project, id)
		return &reply{status: 200, header: http.Header{"Location": {loc}, "X-Guploader-Uploadid": {id}}}
	}
	return errorReply(invalid("bqtest supports uploadType=multipart and uploadType=resumable, not %q", q.Get("uploadType")))
}

func checkLoadJob(j *bq.Job) *apiError {
	if j.Configuration == nil || j.Configuration.Load == nil {
		return invalid("Uploaded data can be used only by load jobs: configuration.load is missing")
	}
	if j.Configuration.Load.DestinationTable == nil || j.Configuration.Load.DestinationTable.TableId == "" {
		return invalid("Required parameter is missing: configuration.load.destinationTable")
	}
	return nil
}

// uploadChunk receives a chunk of a resumable upload. Content-Range is
// "bytes a-b/*" for a chunk, "bytes a-b/total" or "bytes */total" for the
// last one.
func (s *Server) uploadChunk(r *http.Request, id string) *reply {
	data, rerr := io.ReadAll(r.Body)
	if rerr != nil {
		return errorReply(invalid("reading the chunk: %v", rerr))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.sessions[id]
	if !ok {
		return errorReply(notFound("No upload session %s (it completed, or never started)", id))
	}
	cr := r.Header.Get("Content-Range")
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return errorReply(invalid("A chunk needs a Content-Range header of the form bytes a-b/total, got %q", cr))
	}
	rng, totalText, _ := strings.Cut(spec, "/")
	total := int64(-1)
	if totalText != "*" {
		n, err := strconv.ParseInt(totalText, 10, 64)
		if err != nil {
			return errorReply(invalid("Invalid Content-Range %q", cr))
		}
		total = n
	}
	if rng != "*" {
		a, b, _ := strings.Cut(rng, "-")
		from, err1 := strconv.ParseInt(a, 10, 64)
		to, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil || to-from+1 != int64(len(data)) {
			return errorReply(invalid("Content-Range %q does not match the %d bytes sent", cr, len(data)))
		}
		if from != int64(u.data.Len()) {
			return errorReply(invalid("Chunk starts at byte %d but %d bytes were received so far", from, u.data.Len()))
		}
		u.data.Write(data)
	}
	if total < 0 || int64(u.data.Len()) < total {
		h := http.Header{}
		if u.data.Len() > 0 {
			h.Set("Range", fmt.Sprintf("bytes=0-%d", u.data.Len()-1))
		}
		if r.Header.Get("X-GUploader-No-308") == "yes" {
			h.Set("X-Http-Status-Code-Override", "308")
			return &reply{status: 200, header: h}
		}
		return &reply{status: 308, header: h}
	}
	if int64(u.data.Len()) != total {
		return errorReply(invalid("Upload size %d does not match the %d bytes received", total, u.data.Len()))
	}
	delete(s.sessions, id)
	return s.runLoad(u.project, u.job, u.data.Bytes())
}

// uploadMultipart is a load job whose data comes in the same request
// (multipart/related: the job's JSON, then the data).
func (s *Server) uploadMultipart(r *http.Request, project string) *reply {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return errorReply(invalid("A multipart upload needs a multipart/related body, got %q", r.Header.Get("Content-Type")))
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return errorReply(invalid("Reading the job metadata of the upload: %v", err))
	}
	var in bq.Job
	if err := json.NewDecoder(meta).Decode(&in); err != nil {
		return errorReply(invalid("Invalid JSON payload received. %v", err))
	}
	if err := checkLoadJob(&in); err != nil {
		return errorReply(err)
	}
	media, err := mr.NextPart()
	if err != nil {
		return errorReply(invalid("The upload has no data part: %v", err))
	}
	data, err := io.ReadAll(media)
	if err != nil {
		return errorReply(invalid("Reading the data of the upload: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runLoad(project, &in, data)
}

// runLoad creates and runs a load job; it answers with the DONE job, whose
// status carries the error if the load failed. Called with s.mu held.
func (s *Server) runLoad(project string, in *bq.Job, data []byte) *reply {
	ref, aerr := s.jobRef(project, in.JobReference)
	if aerr != nil {
		return errorReply(aerr)
	}
	s.stats.loadJobs.Add(1)
	s.stats.uploadBytes.Add(int64(len(data)))
	start := time.Now()
	cfg := in.Configuration
	stats, errs := s.load(project, cfg.Load, data)
	var errp *bq.ErrorProto
	if len(errs) > 0 {
		errp = errs[0]
	}
	j := s.jobResource(ref, cfg, start, errp)
	if len(errs) > 0 {
		j.Status.Errors = errs
	}
	j.Statistics.Load = stats
	s.jobs[jobKey(project, ref.JobId)] = &job{res: j}
	return jsonReply(200, j)
}

// load checks and loads NDJSON data into the destination table, all rows or
// none. It returns the job's errors (the first is the errorResult).
func (s *Server) load(project string, cfg *bq.JobConfigurationLoad, data []byte) (*bq.JobStatistics3, []*bq.ErrorProto) {
	stats := &bq.JobStatistics3{InputFiles: 1, InputFileBytes: int64(len(data))}
	fail := func(e *apiError) (*bq.JobStatistics3, []*bq.ErrorProto) { return stats, []*bq.ErrorProto{e.proto()} }
	dst := cfg.DestinationTable
	dproj := dst.ProjectId
	if dproj == "" {
		dproj = project
	}
	format := strings.ToUpper(cfg.SourceFormat)
	if format == "" {
		format = "CSV" // the API's default
	}
	if format != "NEWLINE_DELIMITED_JSON" {
		return fail(invalid("bqtest loads only NEWLINE_DELIMITED_JSON data; sourceFormat is %s", format))
	}
	if cfg.Autodetect {
		return fail(&apiError{501, "notImplemented", "bqtest does not detect schemas (autodetect); give the schema with the load"})
	}
	d, err := s.lookupDataset(dproj, dst.DatasetId)
	if err != nil {
		return fail(err)
	}
	create := strings.ToUpper(cfg.CreateDisposition)
	if create == "" {
		create = "CREATE_IF_NEEDED"
	}
	write := strings.ToUpper(cfg.WriteDisposition)
	if write == "" {
		write = "WRITE_APPEND"
	}
	switch {
	case create != "CREATE_IF_NEEDED" && create != "CREATE_NEVER":
		return fail(invalid("Invalid value for createDisposition: %s", cfg.CreateDisposition))
	case write != "WRITE_APPEND" && write != "WRITE_TRUNCATE" && write != "WRITE_EMPTY":
		return fail(invalid("Invalid value for writeDisposition: %s", cfg.WriteDisposition))
	}
	t, exists := d.tables[dst.TableId]
	var given []*bq.TableFieldSchema
	if cfg.Schema != nil && len(cfg.Schema.Fields) > 0 {
		c, err := canonicalSchema(cfg.Schema.Fields)
		if err != nil {
			return fail(err)
		}
		given = c
	}
	full := fmt.Sprintf("%s:%s.%s", dproj, dst.DatasetId, dst.TableId)
	schema := given
	switch {
	case !exists && create == "CREATE_NEVER":
		return fail(notFound("Not found: Table %s", full))
	case !exists && given == nil:
		return fail(invalid("No schema specified on job or table."))
	case exists && write == "WRITE_EMPTY" && t.numRows > 0:
		return fail(duplicate("Already Exists: Table %s", full))
	case exists && write != "WRITE_TRUNCATE" && given != nil && !sameSchema(given, t.schema):
		return fail(invalid("Provided Schema does not match Table %s. The table has %s; the load gives %s.", full, describeSchema(t.schema), describeSchema(given)))
	case exists && given == nil:
		schema = t.schema
	}
	if !exists && !tableIDRe.MatchString(dst.TableId) {
		return fail(invalid("Invalid table ID \"%s\".", dst.TableId))
	}

	tx, terr := s.db.Begin()
	if terr != nil {
		return fail(&apiError{500, "internalError", "bqtest: " + terr.Error()})
	}
	defer tx.Rollback() // after Commit, a no-op
	name := quoteIdent(dproj + "." + dst.DatasetId + "." + dst.TableId)
	replace := exists && write == "WRITE_TRUNCATE" && !sameSchema(schema, t.schema)
	if replace {
		if _, err := tx.Exec("DROP TABLE " + name); err != nil {
			return fail(&apiError{500, "internalError", "bqtest: " + err.Error()})
		}
	}
	if !exists || replace {
		if _, err := tx.Exec(s.createSQL(name, schema)); err != nil {
			return fail(&apiError{500, "internalError", "bqtest: " + err.Error()})
		}
	} else if write == "WRITE_TRUNCATE" {
		if _, err := tx.Exec("DELETE FROM " + name); err != nil {
			return fail(&apiError{500, "internalError", "bqtest: " + err.Error()})
		}
	}
	n, bytesIn, lerr := s.insertRows(tx, name, schema, data, cfg.IgnoreUnknownValues)
	if lerr != nil {
		summary := invalid("Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: %d; errors: 1. Please look into the errors[] collection for more details.", n+1)
		return stats, []*bq.ErrorProto{summary.proto(), lerr.proto()}
	}
	if err := tx.Commit(); err != nil {
		return fail(&apiError{500, "internalError", "bqtest: " + err.Error()})
	}
	now := time.Now()
	if !exists {
		t = &table{ds: d, id: dst.TableId, created: now}
		d.tables[dst.TableId] = t
	}
	t.schema = schema
	if write == "WRITE_TRUNCATE" || !exists {
		t.numRows, t.numBytes = 0, 0
	}
	t.numRows += n
	t.numBytes += bytesIn
	t.modified = now
	stats.OutputRows = n
	stats.OutputBytes = bytesIn
	return stats, nil
}

// insertRows checks each NDJSON row against the schema and inserts it. On
// the first row that does not fit, it returns the number of good rows
// before it and the service's error (position = the row's first byte).
func (s *Server) insertRows(tx *sql.Tx, name string, schema []*bq.TableFieldSchema, data []byte, ignoreUnknown bool) (int64, int64, *apiError) {
	cols := make([]string, len(schema))
	marks := make([]string, len(schema))
	for i, f := range schema {
		cols[i] = quoteIdent(f.Name)
		marks[i] = "?"
	}
	if len(schema) == 0 {
		if len(bytes.TrimSpace(data)) > 0 {
			return 0, 0, invalid("Error while reading data, error message: JSON parsing error in row starting at position 0: No such field: the table has no columns.")
		}
		return 0, 0, nil
	}
	// Rows go in by statements of up to insertBatch rows: one statement
	// per row costs more than the rest of the load.
	const insertBatch = 200
	prepare := func(n int) (*sql.Stmt, error) {
		row := "(" + strings.Join(marks, ", ") + ")"
		rows := make([]string, n)
		for i := range rows {
			rows[i] = row
		}
		return tx.Prepare(fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", name, strings.Join(cols, ", "), strings.Join(rows, ", ")))
	}
	full, err := prepare(insertBatch)
	if err != nil {
		return 0, 0, &apiError{500, "internalError", "bqtest: " + err.Error()}
	}
	defer full.Close()
	pending := make([]any, 0, insertBatch*len(schema))
	flush := func() *apiError {
		n := len(pending) / len(schema)
		if n == 0 {
			return nil
		}
		stmt := full
		if n < insertBatch {
			st, err := prepare(n)
			if err != nil {
				return &apiError{500, "internalError", "bqtest: " + err.Error()}
			}
			defer st.Close()
			stmt = st
		}
		if _, err := stmt.Exec(pending...); err != nil {
			return &apiError{500, "internalError", "bqtest: inserting: " + err.Error()}
		}
		pending = pending[:0]
		return nil
	}
	var rows, size int64
	vals := make([]any, len(schema))
	pos := 0
	for pos < len(data) {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pos
		}
		line := data[pos:end]
		start := pos
		pos = end + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rowErr := func(format string, args ...any) *apiError {
			return invalid("Error while reading data, error message: JSON parsing error in row starting at position %d: %s", start, fmt.Sprintf(format, args...))
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return rows, size, rowErr("Parser terminated before end of string")
		}
		if dec.More() {
			return rows, size, rowErr("Parser terminated before end of string; more than one JSON value on the line")
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return rows, size, rowErr("Expected a JSON object (one row per line)")
		}
		if !ignoreUnknown {
			for k := range obj {
				if findField(schema, k) == nil {
					return rows, size, rowErr("No such field: %s.", k)
				}
			}
		}
		for i, f := range schema {
			val, _ := lookupKey(obj, f.Name)
			sv, err := storedFromJSON(f, val, ignoreUnknown)
			if err != nil {
				return rows, size, rowErr("%v", err)
			}
			vals[i] = sv
		}
		pending = append(pending, vals...)
		if len(pending) == cap(pending) {
			if err := flush(); err != nil {
				return rows, size, err
			}
		}
		rows++
		size += int64(len(line))
	}
	if err := flush(); err != nil {
		return rows, size, err
	}
	return rows, size, nil
}
