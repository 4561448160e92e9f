// Package parquetio reads and writes Apache Parquet files: ParquetOrigin and
// ParquetDestination, registered for job files when the package is imported.
//
//	stages:
//	  - name: orders_reader
//	    type: ParquetOrigin
//	    path: data/orders.parquet
//	    columns: [order_id, amount, order_date]   # optional projection
//	  - name: writer
//	    type: ParquetDestination
//	    path: out/orders.parquet
//	    compression: zstd                         # snappy (default), zstd, gzip, none
//
// In Go: NewParquetOrigin("orders_reader", "data/orders.parquet") and
// NewParquetDestination("writer", "out/orders.parquet").
//
// # Reading
//
// ParquetOrigin's Plan reads only the file's footer, which holds the schema:
// validating a job moves no data. Pump reads one row group after another,
// each in batches of at most batch_rows rows (a batch never spans two row
// groups), so memory holds about one row group of the columns read however
// large the file is. With columns, only the columns listed are read from
// disk, in the order listed. Buffers are allocated from the job's allocator.
//
// Parquet columns become Open-Stage columns as follows:
//
//	int8, int16, int32, int64, uint8, uint16, uint32  -> int64
//	float16, float32, float64                         -> float64
//	bool                                              -> bool
//	string, large_string, binary, large_binary        -> string (binary checked to be UTF-8)
//	  plain or dictionary-encoded
//	date32, date64                                    -> date
//	timestamp, any unit, any time zone or none        -> timestamp (microseconds, UTC)
//
// Timestamps keep their instant: a zone only says how to display it.
// Nanoseconds are rounded down to the microsecond. A timestamp without a
// zone (Parquet's isAdjustedToUTC=false) is read as UTC. Every other type —
// uint64 (whose values may not fit int64), decimal, time of day, interval,
// fixed-size binary, lists, maps, structs — is a validation error naming the
// column and its type and suggesting a columns list that leaves it out.
// Nulls stay nulls.
//
// A string column that the file stores dictionary-encoded in every row
// group (a dictionary page, and no data page that fell back to plain
// encoding: DuckDB, pyarrow and Spark write low-cardinality text so) is
// sent as an Arrow dictionary array when every stage it reaches accepts
// one: the plan optimizer's "dictionary" rewrite (openstage validate
// --explain; see docs/architecture.md), for instance a Filter or a Copy,
// then an Aggregator grouping by it or a ParquetDestination (which decodes
// only the rows it writes). Otherwise, and by
// ReadRowGroup, it is decoded to plain strings while reading.
//
// # Writing
//
// ParquetDestination writes atomically, like CSVDestination: the file is
// built unnamed (on Linux, O_TMPFILE; elsewhere a hidden temporary file) in
// the target's folder and takes the target's place only when the whole job
// has succeeded (openstage.Committer). A failed or cancelled job leaves the
// target untouched. Rows are gathered into row groups of row_group_rows rows
// (default 1,048,576); one row group is held in memory, encoded and
// compressed, until complete. if_exists is replace or fail: appending is not
// possible for Parquet, whose footer describes every row group, so adding
// rows means rewriting the file.
//
// Open-Stage types are written as INT64, DOUBLE, BOOLEAN, UTF-8 BYTE_ARRAY,
// DATE and TIMESTAMP(MICROS, UTC), which ParquetOrigin, Spark, DuckDB,
// pandas and pyarrow read as the same types.
package parquetio
