package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"modernc.org/sqlite"

	"github.com/open-stage/openstage"
)

var sqliteDriver = &driver{
	d:          sqliteDialect,
	open:       openSQLite,
	partitions: true,
	arrowType: func(t, decimal string) arrow.DataType {
		// SQLite's type affinity rules, on the declared type.
		switch {
		case t == "":
			return nil // an expression: typed from its values
		case t == "DATE":
			return openstage.Date
		case t == "DATETIME" || strings.HasPrefix(t, "TIMESTAMP"):
			return openstage.Timestamp
		case strings.HasPrefix(t, "BOOL"):
			return openstage.Bool
		case strings.Contains(t, "INT"):
			return openstage.Int64
		case strings.Contains(t, "CHAR") || strings.Contains(t, "CLOB") || strings.Contains(t, "TEXT"):
			return openstage.String
		case strings.Contains(t, "BLOB"):
			return arrow.BinaryTypes.Binary
		case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
			return openstage.Float64
		}
		if decimal == "string" {
			return openstage.String
		}
		return openstage.Float64 // NUMERIC, DECIMAL
	},
	wrapErr: func(err error) error {
		if se, ok := err.(*sqlite.Error); ok {
			return &dbError{msg: se.Error(), err: err}
		}
		return err
	},
	bind: func(t arrow.DataType, v any) any {
		switch x := v.(type) {
		case time.Time:
			if t.ID() == arrow.DATE32 {
				return dateText(x)
			}
			return timestampText(x)
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		}
		return v
	},
	describe: func(base string) string { return "SELECT * FROM (" + base + ") AS openstage_q LIMIT 100" },
	columns: func(schema, table string) (string, []any) {
		if schema == "" {
			schema = "main"
		}
		return "SELECT name FROM pragma_table_info(?, ?) ORDER BY cid", []any{table, schema}
	},
}

func openSQLite(ctx context.Context, _ *Conn, path string) (*sql.DB, scrubber, error) {
	if path == "" {
		return nil, nil, errors.New("path is required: the SQLite database file")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("opening SQLite database '%s': %w", path, err)
	}
	return db, nil, nil
}

// sqliteFoldColumn: integers and reals as they are, text in the BINARY
// collation (bytewise, as the Filter). Dates, timestamps and bools are text
// or numbers in SQLite, so they are not folded.
func sqliteFoldColumn(c readCol, op string) (string, string, bool) {
	q := "openstage_q." + sqliteDialect.quote(c.name)
	switch c.typ.ID() {
	case arrow.INT64:
		return q, "?", strings.Contains(c.dbType, "INT")
	case arrow.FLOAT64:
		t := c.dbType
		return q, "?", op != "is null" && (strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"))
	case arrow.STRING:
		t := c.dbType
		return q + " COLLATE BINARY", "?", strings.Contains(t, "CHAR") || strings.Contains(t, "CLOB") || strings.Contains(t, "TEXT")
	}
	return "", "", false
}

// SQLiteFile is the parameter block of the SQLite stages: the database file.
type SQLiteFile struct {
	Path string `param:"path" path:"true" required:"true" doc:"The SQLite database file (relative to the job file's folder); the destination creates it if needed."`
}

// SQLiteOrigin runs a query on an SQLite database file (modernc.org/sqlite,
// pure Go: no server, no C library) and sends its rows in batches.
type SQLiteOrigin struct {
	SQLiteFile
	Read

	sqlRead
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "SQLiteOrigin",
		Layer:   openstage.Extraction,
		Summary: "Runs a SQL query on an SQLite database file (embedded, no server) and sends the rows in batches.",
		Doc: `Types follow SQLite's affinity rules on the declared column type: INT... →
int64; CHAR, CLOB, TEXT → string; BLOB → binary; REAL, FLOAT, DOUBLE →
float64; NUMERIC, DECIMAL → float64 (or string with decimal: string); and,
by name, BOOLEAN → bool, DATE → date, DATETIME and TIMESTAMP → timestamp
(stored as text such as 2024-01-31 or 2024-01-31 12:00:00+00:00, or as
numbers). A column with no declared type (an expression) takes the type of
its first non-null value among the first 100 rows (string when all are
null). params bind to ? placeholders.

Only the columns some stage reads are fetched, and a Filter right after the
origin goes into the query's WHERE clause for integer, real and text columns.`,
		New: func() any { return &SQLiteOrigin{} },
		Example: `- name: reader
  type: SQLiteOrigin
  path: data/shop.db
  query: SELECT * FROM orders WHERE country = ?
  params: [ES]`,
	})
}

// NewSQLiteOrigin returns an SQLiteOrigin stage running query on the
// database file path.
func NewSQLiteOrigin(name, path, query string, params ...any) *openstage.Stage {
	return openstage.New(name, func(o *SQLiteOrigin) {
		o.Path = path
		o.Query = query
		o.Params = params
	})
}

// Project implements openstage.Projector.
func (o *SQLiteOrigin) Project(cols []string) { o.proj.cols = cols }

// FoldFilter implements openstage.FilterFolder.
func (o *SQLiteOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	return o.foldDB(c, &o.Read, sqliteDialect, sqliteFoldColumn)
}

// Plan implements openstage.Origin.
func (o *SQLiteOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	if _, err := os.Stat(o.Path); err != nil && o.Path != "" {
		return fmt.Errorf("the SQLite database '%s' does not exist (an origin does not create it); check path", o.Path)
	}
	return o.planRead(ctx, p, sqliteDriver, nil, o.Path, &o.Read)
}

// Pump implements openstage.Origin.
func (o *SQLiteOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	return o.pump(ctx, out, sqliteDriver, nil, o.Path, &o.Read)
}

// SQLiteDestination writes its input to a table of an SQLite database file
// with batched INSERTs in one transaction.
type SQLiteDestination struct {
	SQLiteFile
	Write

	dbWrite
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "SQLiteDestination",
		Layer:   openstage.Load,
		Summary: "Writes rows to a table of an SQLite database file with batched INSERTs in one transaction: all rows or none.",
		Doc: `The whole load, CREATE and DROP TABLE included, is one transaction
(BEGIN IMMEDIATE), committed only when the job has succeeded. Rows go in
multi-row INSERT statements of batch_rows rows. upsert uses INSERT ... ON
CONFLICT (key) DO UPDATE (key must be a primary key or unique index; within
one statement a later row with the same key wins). Tables created have
INTEGER, REAL, BOOLEAN (0/1), TEXT, DATE (2024-01-31), TIMESTAMP
(2024-01-31 12:00:00.123456+00:00) and BLOB columns.`,
		New: func() any { return &SQLiteDestination{} },
		Example: `- name: writer
  type: SQLiteDestination
  path: out/shop.db
  table: high_value_orders
  mode: replace`,
	})
}

// NewSQLiteDestination returns an SQLiteDestination stage appending to
// table in the database file path.
func NewSQLiteDestination(name, path, table string) *openstage.Stage {
	return openstage.New(name, func(d *SQLiteDestination) {
		d.Path = path
		d.Table = table
	})
}

// Connectivity implements openstage's optional interface: one input.
func (d *SQLiteDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination.
func (d *SQLiteDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	return d.planWrite(ctx, p, sqliteDriver, nil, d.Path, &d.Write)
}

// Sink implements openstage.Destination.
func (d *SQLiteDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	return d.sink(ctx, in, sqliteDriver, nil, d.Path, &d.Write)
}

// Commit implements openstage.Committer.
func (d *SQLiteDestination) Commit(ctx context.Context) error {
	return d.finish(ctx, sqliteDriver, d.Table)
}

// Abort implements openstage.Committer.
func (d *SQLiteDestination) Abort() error { return d.abort() }

// Close implements openstage.Closer.
func (d *SQLiteDestination) Close() error { return d.abort() }

// Ranges implements RangeReader.
func (o *SQLiteOrigin) Ranges(ctx context.Context) ([]Range, error) {
	return o.ranges(ctx, sqliteDriver, nil, o.Path, &o.Read)
}

// PumpRange implements RangeReader.
func (o *SQLiteOrigin) PumpRange(ctx context.Context, alloc memory.Allocator, r Range, send func(arrow.RecordBatch) error) error {
	return o.pumpRange(ctx, alloc, r, send, sqliteDriver, nil, o.Path, &o.Read)
}
