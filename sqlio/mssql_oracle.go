package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	mssql "github.com/microsoft/go-mssqldb"
	goora "github.com/sijms/go-ora/v2"

	"github.com/open-stage/openstage"
)

// SQL Server (go-mssqldb) and Oracle (go-ora, pure Go) go through the same
// database/sql core as SQLite: batched INSERTs (or MERGE for upsert) in a
// transaction. No server of either runs on the project's machines: their
// SQL is tested as text, and live round trips run only when
// OPENSTAGE_MSSQL_DSN or OPENSTAGE_ORACLE_DSN is set.

var mssqlDriver = &driver{
	d: mssqlDialect,
	open: func(ctx context.Context, c *Conn, _ string) (*sql.DB, scrubber, error) {
		dsn := c.DSN.Reveal()
		if dsn == "" {
			u := &url.URL{Scheme: "sqlserver", Host: fmt.Sprintf("%s:%d", c.host(), c.port(1433))}
			if c.User != "" {
				u.User = url.UserPassword(c.User, c.Password.Reveal())
			}
			q := url.Values{}
			if c.Database != "" {
				q.Set("database", c.Database)
			}
			for k, v := range c.Options {
				q.Set(k, v)
			}
			q.Set("dial timeout", fmt.Sprint(int(c.timeout().Seconds())))
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
		return openDB(ctx, c, "sqlserver", dsn, "SQL Server", 1433, func(err error) bool {
			var me mssql.Error
			return errors.As(err, &me) && me.Number == 18456
		})
	},
	arrowType: func(t, decimal string) arrow.DataType {
		switch t {
		case "BIGINT", "INT", "SMALLINT", "TINYINT":
			return openstage.Int64
		case "BIT":
			return openstage.Bool
		case "FLOAT", "REAL":
			return openstage.Float64
		case "DECIMAL", "NUMERIC", "MONEY", "SMALLMONEY":
			if decimal == "string" {
				return openstage.String
			}
			return openstage.Float64
		case "DATE":
			return openstage.Date
		case "DATETIME", "DATETIME2", "SMALLDATETIME", "DATETIMEOFFSET":
			return openstage.Timestamp
		case "BINARY", "VARBINARY", "IMAGE":
			return arrow.BinaryTypes.Binary
		}
		return openstage.String
	},
	wrapErr: func(err error) error {
		if me, ok := err.(mssql.Error); ok {
			return &dbError{msg: fmt.Sprintf("%s (SQL Server error %d, line %d)", me.Message, me.Number, me.LineNo), err: err}
		}
		return err
	},
	bind:     func(_ arrow.DataType, v any) any { return v },
	describe: func(base string) string { return "SELECT * FROM (" + base + ") AS openstage_q WHERE 1 = 0" },
	columns: func(schema, table string) (string, []any) {
		return "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @p1 AND TABLE_SCHEMA = COALESCE(NULLIF(@p2, ''), SCHEMA_NAME()) ORDER BY ORDINAL_POSITION", []any{table, schema}
	},
}

var oracleDriver = &driver{
	d: oracleDialect,
	open: func(ctx context.Context, c *Conn, _ string) (*sql.DB, scrubber, error) {
		dsn := c.DSN.Reveal()
		if dsn == "" {
			opts := map[string]string{"CONNECTION TIMEOUT": fmt.Sprint(int(c.timeout().Seconds()))}
			for k, v := range c.Options {
				opts[k] = v
			}
			dsn = goora.BuildUrl(c.host(), c.port(1521), c.Database, c.User, c.Password.Reveal(), opts)
		}
		return openDB(ctx, c, "oracle", dsn, "Oracle", 1521, func(err error) bool {
			return strings.Contains(err.Error(), "ORA-01017")
		})
	},
	arrowType: func(t, decimal string) arrow.DataType {
		switch {
		case t == "NUMBER" || t == "FLOAT":
			if decimal == "string" {
				return openstage.String
			}
			return openstage.Float64
		case t == "BINARY_DOUBLE" || t == "BINARY_FLOAT" || t == "IBDOUBLE" || t == "IBFLOAT":
			return openstage.Float64
		case t == "DATE" || strings.HasPrefix(t, "TIMESTAMP"):
			return openstage.Timestamp // an Oracle DATE has a time of day
		case t == "RAW" || t == "LONG RAW" || t == "BLOB" || t == "LONGRAW":
			return arrow.BinaryTypes.Binary
		}
		return openstage.String
	},
	wrapErr: func(err error) error { return err },
	bind: func(_ arrow.DataType, v any) any {
		if b, ok := v.(bool); ok {
			if b {
				return int64(1)
			}
			return int64(0)
		}
		return v
	},
	describe: func(base string) string { return "SELECT * FROM (" + base + ") openstage_q WHERE 1 = 0" },
	columns: func(schema, table string) (string, []any) {
		return "SELECT column_name FROM all_tab_columns WHERE table_name = :1 AND owner = COALESCE(:2, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')) ORDER BY column_id", []any{table, nilIfEmpty(schema)}
	},
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// openDB opens a database/sql handle and checks the connection within
// connect_timeout, explaining a refused login.
func openDB(ctx context.Context, c *Conn, driverName, dsn, what string, defPort int, authFailed func(error) bool) (*sql.DB, scrubber, error) {
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	scrub := scrubber{c.Password.Reveal(), c.DSN.Reveal(), dsn}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			scrub = append(scrub, p, url.QueryEscape(p))
		}
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("dsn (not shown: it is secret) could not be read as a %s connection string", what)
	}
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		db.Close()
		return nil, nil, scrub.err(connectError(ctx, c.where(what, defPort), c.timeout(), err, authFailed(err)))
	}
	return db, scrub, nil
}

// SQLOrigin runs a query on the database its driver names: postgres,
// mysql, sqlite, sqlserver or oracle (the design document's "same
// component, another driver" for DB2, Oracle and SQL Server connectors).
type SQLOrigin struct {
	Driver string `param:"driver" required:"true" enum:"postgres,mysql,sqlite,sqlserver,oracle" doc:"The database: postgres, mysql (MySQL and MariaDB), sqlite (dsn is the file), sqlserver or oracle."`
	Conn
	Read

	inner openstage.Origin
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "SQLOrigin",
		Layer:   openstage.Extraction,
		Summary: "Runs a SQL query on PostgreSQL, MySQL/MariaDB, SQLite, SQL Server or Oracle, chosen by driver.",
		Doc: `The same parameters as PostgresOrigin, MySQLOrigin and SQLiteOrigin (for
sqlite, dsn is the database file), and the same behaviour: postgres, mysql
and sqlite run exactly those stages. sqlserver uses
github.com/microsoft/go-mssqldb (placeholders @p1, @p2; dsn
sqlserver://user:pass@host:1433?database=db), oracle uses
github.com/sijms/go-ora/v2 (placeholders :1, :2; dsn
oracle://user:pass@host:1521/service; database is the service name).

SQL Server types: BIGINT, INT, SMALLINT, TINYINT → int64; BIT → bool;
FLOAT, REAL → float64; DECIMAL, NUMERIC, MONEY → float64 (or string);
DATE → date; DATETIME, DATETIME2, DATETIMEOFFSET → timestamp; BINARY,
VARBINARY → binary; the rest → string. Oracle: NUMBER, FLOAT → float64 (or
string); BINARY_DOUBLE, BINARY_FLOAT → float64; DATE and TIMESTAMP →
timestamp (an Oracle DATE has a time of day); RAW, BLOB → binary; the rest
→ string. No SQL Server or Oracle server runs in the project's tests: their
SQL is checked as text and a live round trip runs only when
OPENSTAGE_MSSQL_DSN or OPENSTAGE_ORACLE_DSN is set.`,
		New: func() any { return &SQLOrigin{} },
		Example: `- name: customers
  type: SQLOrigin
  driver: sqlserver
  host: sql.example.com
  database: crm
  user: reader
  password: ${env:MSSQL_PASSWORD}
  query: SELECT id, name, created_at FROM dbo.customers WHERE region = @p1
  params: [EMEA]`,
	})
}

// build returns the stage-specific origin the driver names, with o's
// parameters.
func (o *SQLOrigin) build() (openstage.Origin, error) {
	switch o.Driver {
	case "postgres":
		if p, ok := o.inner.(*PostgresOrigin); ok {
			p.Conn, p.Read = o.Conn, o.Read
			return p, nil
		}
		return &PostgresOrigin{Conn: o.Conn, Read: o.Read}, nil
	case "mysql":
		if p, ok := o.inner.(*MySQLOrigin); ok {
			p.Conn, p.Read = o.Conn, o.Read
			return p, nil
		}
		return &MySQLOrigin{Conn: o.Conn, Read: o.Read}, nil
	case "sqlite":
		if p, ok := o.inner.(*SQLiteOrigin); ok {
			p.Path, p.Read = o.DSN.Reveal(), o.Read
			return p, nil
		}
		return &SQLiteOrigin{SQLiteFile: SQLiteFile{Path: o.DSN.Reveal()}, Read: o.Read}, nil
	case "sqlserver", "oracle":
		if p, ok := o.inner.(*dbOrigin); ok && p.dr.d.driver == o.Driver {
			p.Conn, p.Read = o.Conn, o.Read
			return p, nil
		}
		dr := mssqlDriver
		if o.Driver == "oracle" {
			dr = oracleDriver
		}
		return &dbOrigin{dr: dr, Conn: o.Conn, Read: o.Read}, nil
	}
	return nil, fmt.Errorf("driver '%s' is not one of postgres, mysql, sqlite, sqlserver, oracle", o.Driver)
}

// Plan implements openstage.Origin.
func (o *SQLOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	inner, err := o.build()
	if err != nil {
		return err
	}
	o.inner = inner
	return inner.Plan(ctx, p)
}

// Pump implements openstage.Origin.
func (o *SQLOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	return o.inner.Pump(ctx, out)
}

// Project implements openstage.Projector.
func (o *SQLOrigin) Project(cols []string) {
	if inner, err := o.build(); err == nil {
		o.inner = inner
		inner.(openstage.Projector).Project(cols)
	}
}

// FoldFilter implements openstage.FilterFolder.
func (o *SQLOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	if f, ok := o.inner.(openstage.FilterFolder); ok {
		return f.FoldFilter(c)
	}
	return "", false
}

// Ranges implements RangeReader.
func (o *SQLOrigin) Ranges(ctx context.Context) ([]Range, error) {
	if rr, ok := o.inner.(RangeReader); ok {
		return rr.Ranges(ctx)
	}
	return nil, nil
}

// PumpRange implements RangeReader.
func (o *SQLOrigin) PumpRange(ctx context.Context, alloc memory.Allocator, r Range, send func(arrow.RecordBatch) error) error {
	if rr, ok := o.inner.(RangeReader); ok {
		return rr.PumpRange(ctx, alloc, r, send)
	}
	return fmt.Errorf("driver '%s' does not read in ranges", o.Driver)
}

// dbOrigin is the origin of SQL Server and Oracle.
type dbOrigin struct {
	dr *driver
	Conn
	Read
	sqlRead
}

func (o *dbOrigin) Project(cols []string) { o.proj.cols = cols }
func (o *dbOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	return o.planRead(ctx, p, o.dr, &o.Conn, "", &o.Read)
}
func (o *dbOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	return o.pump(ctx, out, o.dr, &o.Conn, "", &o.Read)
}

// SQLDestination writes to a table of the database its driver names.
type SQLDestination struct {
	Driver string `param:"driver" required:"true" enum:"postgres,mysql,sqlite,sqlserver,oracle" doc:"The database: postgres, mysql (MySQL and MariaDB), sqlite (dsn is the file), sqlserver or oracle."`
	Conn
	Write

	inner interface {
		openstage.Destination
		openstage.Committer
	}
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "SQLDestination",
		Layer:   openstage.Load,
		Summary: "Writes rows to a table of PostgreSQL, MySQL/MariaDB, SQLite, SQL Server or Oracle, chosen by driver: all rows or none.",
		Doc: `postgres, mysql and sqlite run PostgresDestination, MySQLDestination and
SQLiteDestination (dsn is the SQLite file). sqlserver and oracle insert
batch_rows rows per INSERT statement in one transaction committed when the
job succeeds; upsert is a MERGE per statement (key must be unique in the
input and a key of the table). SQL Server's DDL is transactional, so every
mode is all-or-nothing; Oracle commits DDL at once, so create and replace
load a staging table <table>_OS_<random> that Commit renames into place
(replace renames the old table aside and drops it: a short moment without
the table). Tables created on SQL Server have BIGINT, FLOAT, BIT,
NVARCHAR(MAX), DATE, DATETIME2(6) and VARBINARY(MAX) columns; on Oracle
NUMBER(19), BINARY_DOUBLE, NUMBER(1), NCLOB, DATE, TIMESTAMP(6) and BLOB.
Not run against a live SQL Server or Oracle in the project's tests unless
OPENSTAGE_MSSQL_DSN or OPENSTAGE_ORACLE_DSN is set.`,
		New: func() any { return &SQLDestination{} },
		Example: `- name: writer
  type: SQLDestination
  driver: oracle
  host: db.example.com
  database: ORCLPDB1
  user: etl
  password: ${env:ORACLE_PASSWORD}
  table: DAILY_TOTALS
  mode: upsert
  key: DAY`,
	})
}

// Connectivity implements openstage's optional interface: one input.
func (d *SQLDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination.
func (d *SQLDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	switch d.Driver {
	case "postgres":
		d.inner = &PostgresDestination{Conn: d.Conn, Write: d.Write}
	case "mysql":
		d.inner = &MySQLDestination{Conn: d.Conn, Write: d.Write, Bulk: "load_data"}
	case "sqlite":
		d.inner = &SQLiteDestination{SQLiteFile: SQLiteFile{Path: d.DSN.Reveal()}, Write: d.Write}
	case "sqlserver":
		d.inner = &dbDestination{dr: mssqlDriver, Conn: d.Conn, Write: d.Write}
	case "oracle":
		d.inner = &dbDestination{dr: oracleDriver, Conn: d.Conn, Write: d.Write}
	default:
		return fmt.Errorf("driver '%s' is not one of postgres, mysql, sqlite, sqlserver, oracle", d.Driver)
	}
	return d.inner.Plan(ctx, p)
}

// Sink implements openstage.Destination.
func (d *SQLDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	return d.inner.Sink(ctx, in)
}

// Commit implements openstage.Committer.
func (d *SQLDestination) Commit(ctx context.Context) error {
	if d.inner == nil {
		return nil
	}
	return d.inner.Commit(ctx)
}

// Abort implements openstage.Committer.
func (d *SQLDestination) Abort() error {
	if d.inner == nil {
		return nil
	}
	return d.inner.Abort()
}

// Close implements openstage.Closer.
func (d *SQLDestination) Close() error { return d.Abort() }

// dbDestination is the destination of SQL Server and Oracle.
type dbDestination struct {
	dr *driver
	Conn
	Write
	dbWrite
}

func (d *dbDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	return d.planWrite(ctx, p, d.dr, &d.Conn, "", &d.Write)
}
func (d *dbDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	return d.sink(ctx, in, d.dr, &d.Conn, "", &d.Write)
}
func (d *dbDestination) Commit(ctx context.Context) error { return d.finish(ctx, d.dr, d.Table) }
func (d *dbDestination) Abort() error                     { return d.abort() }

var _ = time.Second
