// Package bigqueryio reads from and writes to Google BigQuery on the
// official Go client (cloud.google.com/go/bigquery): GCPBigQueryOrigin and
// GCPBigQueryDestination, registered for job files when the package is
// imported (components/all imports it).
//
//	stages:
//	  - name: iris_reader
//	    type: GCPBigQueryOrigin
//	    project_id: my-project
//	    query: SELECT * FROM `my-project.dataset.iris` WHERE species = @species
//	    params: {species: setosa}
//	  - name: writer
//	    type: GCPBigQueryDestination
//	    project_id: my-project
//	    dataset: analytics
//	    table: iris_copy
//	    write_disposition: WRITE_TRUNCATE
//
// In Go: NewGCPBigQueryOrigin(name, project, query) and
// NewGCPBigQueryDestination(name, project, dataset, table, disposition).
//
// # Connection
//
// Both stages share the Conn block: project_id, location, credentials_path
// or credentials_json (a service-account key; the latter a Secret, never
// shown), and endpoint. Without a key the stages use Application Default
// Credentials: GOOGLE_APPLICATION_CREDENTIALS, then gcloud's file
// (~/.config/gcloud/application_default_credentials.json), then the
// metadata server of Google Cloud machines. When none is found, the error
// says where each was looked for and how to provide one. With endpoint, or
// BIGQUERY_EMULATOR_HOST=host:port in the environment, the stages talk to a
// BigQuery-compatible server over the same REST API, without credentials
// unless a key is given (internal/bqtest is one, for tests).
//
// # Reading
//
// Plan runs the query as a dry run (no data read, nothing billed) to learn
// the result's columns. Pump runs it and reads the result page by page
// through the REST API (jobs.query, then jobs.getQueryResults with page
// tokens), turning each page into Arrow columns; at most one page and one
// batch of batch_rows rows are held. The BigQuery Storage Read API (gRPC)
// is not used: the client uses it only after Client.EnableStorageReadClient,
// which this package never calls, so reading works against any server that
// speaks the REST API. Types map as follows:
//
//	INT64                     -> int64
//	FLOAT64                   -> float64
//	BOOL                      -> bool
//	STRING                    -> string
//	DATE                      -> date
//	TIMESTAMP                 -> timestamp (microseconds, UTC)
//	DATETIME                  -> timestamp (the wall time read as UTC)
//	NUMERIC, BIGNUMERIC       -> string, the exact decimal ("12.5", "-3")
//	BYTES                     -> string, base64
//	TIME                      -> string ("15:04:05", "15:04:05.25")
//	JSON                      -> string, the JSON text
//	GEOGRAPHY                 -> string, WKT
//	INTERVAL, RANGE           -> string, BigQuery's canonical text
//	REPEATED, RECORD/STRUCT   -> string, JSON text: arrays and objects
//	                             (numbers for INT64, FLOAT64, NUMERIC and
//	                             BIGNUMERIC, RFC 3339 text for timestamps,
//	                             JSON values embedded)
//
// NUMERIC stays text so that no digit is lost (a float64 has about 16);
// CAST(x AS FLOAT64) in the query gives a number. Open-Stage columns are
// flat, so nested values travel as JSON text, which the destination writes
// back into RECORD and REPEATED columns unchanged.
//
// # Writing
//
// The destination writes newline-delimited JSON and uploads it while the
// job runs, through the client's upload (one request when the data fits in
// chunk_size bytes, otherwise a resumable upload of chunk_size pieces, one
// chunk in memory at a time). The upload's last piece, which makes
// BigQuery create the load job, is sent only in Commit, after every stage
// of the job succeeded; Abort abandons the upload, so a failed or
// cancelled job creates no load job at all. A load job is atomic, so the
// table has either every row or none of them. Newline-delimited JSON rather
// than CSV: it tells NULL from the empty string, carries newlines and
// quotes without dialect questions, and holds JSON, RECORD and REPEATED
// values; rather than Parquet: it is written one row at a time as batches
// arrive, with nothing to buffer per row group.
//
// Plan reads the dataset's and table's metadata: a missing dataset, a
// missing table with CREATE_NEVER, a WRITE_EMPTY table that has rows, an
// input column the table lacks or whose type cannot go into the table's
// column are all validation errors. Into an existing table each input
// column is written as the table's column type wants it (see the Doc of
// the stage); a new table gets INT64, FLOAT64, BOOL, STRING, DATE and
// TIMESTAMP columns. WRITE_TRUNCATE replaces rows and schema (existing
// columns keep their type when the values fit it).
package bigqueryio
