// Package bqtest is a local HTTP server that speaks the part of the BigQuery
// REST API v2 that the official Go client (cloud.google.com/go/bigquery) uses
// to run queries and load jobs, so that Open-Stage's BigQuery stages can be
// tested through the real client, over real HTTP, without Google Cloud.
//
//	srv := bqtest.New(bqtest.Options{})
//	defer srv.Close()
//	client, _ := bigquery.NewClient(ctx, "my-project",
//		option.WithEndpoint(srv.URL()+"/bigquery/v2/"), option.WithoutAuthentication())
//
// or, for the command line, BIGQUERY_EMULATOR_HOST=srv.Host(). `go run
// ./internal/bqtest/cmd/bqtest -addr 127.0.0.1:9050` starts one by hand.
//
// # What it implements
//
//   - datasets: get, insert, list, delete (with deleteContents);
//   - tables: get, insert, list, delete;
//   - tabledata.list, with maxResults, startIndex and page tokens;
//   - jobs.insert for query jobs (dry run included) and load jobs, the
//     latter through the upload endpoints: uploadType=multipart and
//     uploadType=resumable (a session, then chunks with Content-Range; the
//     job exists only once the last chunk arrived, as on the real service);
//   - jobs.get, jobs.query, jobs.getQueryResults with maxResults, startIndex
//     and page tokens.
//
// Request and response bodies are those of the API reference (the Go types
// of google.golang.org/api/bigquery/v2, generated from Google's discovery
// document, are used to decode requests and encode resources). Rows are
// rows[].f[].v with every scalar as a string, nested records as {"f":[...]}
// and repeated fields as [{"v":...}]. TIMESTAMP values are microseconds when
// the request asks for formatOptions.useInt64Timestamp (the Go client always
// does), otherwise seconds as a floating-point string ("1.7040672E9"), as
// the service does. Schemas report the legacy type names the service
// reports (INTEGER, FLOAT, BOOLEAN, RECORD); requests may use either.
//
// Errors have the API's shape, {"error": {"code", "message", "errors":
// [{"reason", "message", "domain"}], "status"}}, with the service's reasons
// and wording where known: an unknown dataset, table or job is a 404 with
// reason notFound ("Not found: Table p:d.t"); creating one that exists is a
// 409 with reason duplicate. A query job that fails is DONE with
// status.errorResult, and jobs.getQueryResults then answers with that
// error. A load job checks every row against the schema before it changes
// anything; a row that does not fit fails the job (reason invalid, the row's
// byte position and the field in errors[]) and leaves the table as it was.
// WRITE_EMPTY on a table that has rows fails with reason duplicate;
// CREATE_NEVER on a missing table fails with notFound.
//
// Every page holds at most Options.PageRows rows (5 unless set), whatever
// maxResults asks for, so that clients always go through paging.
//
// # Limits
//
//   - State lives in memory (tables in an in-memory SQLite database) and is
//     lost when the server stops. There is no authentication: any request
//     is accepted, any project exists.
//   - Queries are SELECT (or WITH ... SELECT) statements in GoogleSQL, run by
//     SQLite (modernc.org/sqlite) after a translation of the differences
//     that matter for simple queries: table paths (`project.dataset.table`,
//     dataset.table, `project`.`dataset`.`table`, a table of the default
//     dataset; [project:dataset.table] in legacy SQL), backtick-quoted
//     identifiers, "double-quoted" strings and backslash escapes, DATE,
//     DATETIME, TIME and TIMESTAMP literals, type names in CAST and
//     SAFE_CAST, and # comments. Anything else is SQLite's SQL: functions
//     that exist only in BigQuery fail (with SQLite's message); DML, DDL,
//     scripts, UNNEST, STRUCT and ARRAY expressions, SELECT * EXCEPT and
//     triple-quoted or raw strings are not supported.
//   - Query parameters: named (@name) or positional (?), of scalar types;
//     ARRAY and STRUCT parameters are refused.
//   - The schema of a query's result: a column that is a column of a table
//     (also through subqueries) has that column's type, mode and sub-fields;
//     any other expression is typed from its values (INTEGER, FLOAT, STRING,
//     BYTES; INTEGER when every value is NULL). Columns without a valid name
//     are called f0_, f1_, ... as on the service.
//   - A dry run executes the query to learn its schema (the service does
//     not); totalBytesProcessed is an estimate.
//   - Jobs complete synchronously: jobs.insert and the last upload chunk
//     answer with a DONE job. Query results are held in memory until the
//     server stops. Query jobs with a destination table, copy and extract
//     jobs, and loads from Cloud Storage URIs are refused.
//   - Loads accept NEWLINE_DELIMITED_JSON only (CSV, Avro, Parquet and ORC
//     fail the job with reason invalid); schema autodetection is not
//     supported: the load gives a schema, or the table exists. The data is
//     held in memory until the load completes. maxBadRecords is ignored
//     (every bad row fails the load); ignoreUnknownValues is honoured.
//     WRITE_TRUNCATE replaces the table's rows and, if the load gives one,
//     its schema; WRITE_APPEND and WRITE_EMPTY need the load's schema, if
//     given, to match the table's.
//   - Types: STRING, BYTES, INTEGER/INT64, FLOAT/FLOAT64, NUMERIC,
//     BIGNUMERIC, BOOLEAN/BOOL, TIMESTAMP, DATE, TIME, DATETIME, GEOGRAPHY
//     (kept as text, not checked), JSON and RECORD/STRUCT, each NULLABLE,
//     REQUIRED or REPEATED. INTERVAL and RANGE are refused. NUMERIC and
//     BIGNUMERIC are stored as decimal text (exact, with the service's
//     precision and scale checked: 38/9 and 76/38 digits); in SQL arithmetic
//     SQLite computes with them as floating point. FLOAT NaN is stored by
//     SQLite as NULL. TIMESTAMP, DATETIME, DATE and TIME are stored as text
//     that sorts in time order ("2025-01-02 03:04:05.000000"), so they
//     compare with literals and parameters; SQL date functions are SQLite's.
//   - Streaming inserts (tabledata.insertAll), the Storage Read and Write
//     APIs (gRPC), tables.patch/update, routines, models, IAM and job
//     listing are not implemented. The Go client reads query results through
//     the REST calls above unless Client.EnableStorageReadClient is called,
//     which Open-Stage never does.
//
// Server time: Stats reports the time the server spent handling requests,
// from receiving a request to having its answer ready (writing the answer
// to the client is not counted), so that benchmarks can show the client's
// own time apart.
package bqtest
