package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-sql-driver/mysql"

	"github.com/open-stage/openstage"
)

var mysqlDriver = &driver{
	d:    mysqlDialect,
	open: openMySQL,
	raw:  true,
	arrowType: func(t, decimal string) arrow.DataType {
		t = strings.TrimPrefix(t, "UNSIGNED ")
		switch t {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR", "BIT":
			return openstage.Int64
		case "FLOAT", "DOUBLE":
			return openstage.Float64
		case "DECIMAL":
			if decimal == "string" {
				return openstage.String
			}
			return openstage.Float64
		case "DATE":
			return openstage.Date
		case "DATETIME", "TIMESTAMP":
			return openstage.Timestamp
		case "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "GEOMETRY":
			return arrow.BinaryTypes.Binary
		}
		return openstage.String // CHAR, VARCHAR, TEXT..., ENUM, SET, JSON, TIME
	},
	wrapErr:    mysqlError,
	partitions: true,
	bind: func(t arrow.DataType, v any) any {
		if tm, ok := v.(time.Time); ok && t.ID() == arrow.DATE32 {
			return tm.Format("2006-01-02")
		}
		return v
	},
	describe: func(base string) string { return "SELECT * FROM (" + base + ") AS openstage_q LIMIT 0" },
}

// mysqlConfig builds the driver's configuration: UTC sessions, utf8mb4,
// the password only in the configuration.
func (c *Conn) mysqlConfig() (*mysql.Config, scrubber, error) {
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	var cfg *mysql.Config
	if !c.DSN.IsZero() {
		var err error
		cfg, err = mysql.ParseDSN(c.DSN.Reveal())
		if err != nil {
			return nil, nil, errors.New("dsn (not shown: it is secret) could not be read as a MySQL DSN; write user:password@tcp(host:3306)/database")
		}
	} else {
		cfg = mysql.NewConfig()
		cfg.Net = "tcp"
		cfg.Addr = fmt.Sprintf("%s:%d", c.host(), c.port(3306))
		cfg.User = c.User
		cfg.Passwd = c.Password.Reveal()
		cfg.DBName = c.Database
		if len(c.Options) > 0 {
			q := url.Values{}
			for _, k := range slices.Sorted(maps.Keys(c.Options)) {
				q.Set(k, c.Options[k])
			}
			withOpts, err := mysql.ParseDSN(cfg.FormatDSN() + "?" + q.Encode())
			if err != nil {
				return nil, nil, fmt.Errorf("options: %w", scrubber{cfg.Passwd}.err(err))
			}
			cfg = withOpts
		}
	}
	cfg.Timeout = c.timeout()
	cfg.Loc = time.UTC
	cfg.ParseTime = false
	cfg.InterpolateParams = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Collation == "" || !strings.HasPrefix(cfg.Collation, "utf8mb4") {
		cfg.Collation = "utf8mb4_general_ci"
	}
	return cfg, scrubber{c.Password.Reveal(), c.DSN.Reveal(), cfg.Passwd}, nil
}

func openMySQL(ctx context.Context, c *Conn, _ string) (*sql.DB, scrubber, error) {
	cfg, scrub, err := c.mysqlConfig()
	if err != nil {
		return nil, nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, scrub.err(err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		db.Close()
		where := c.where("MySQL", 3306)
		if !c.DSN.IsZero() {
			where = cfg.Addr
			if cfg.DBName != "" {
				where += " database " + cfg.DBName
			}
			if cfg.User != "" {
				where += " as user " + cfg.User
			}
		}
		var me *mysql.MySQLError
		auth := errors.As(err, &me) && (me.Number == 1045 || me.Number == 1044 || me.Number == 1698)
		if ctx.Err() == nil && cctx.Err() != nil {
			err = fmt.Errorf("%w (timed out)", err)
		}
		return nil, nil, scrub.err(connectError(ctx, where, c.timeout(), mysqlError(err), auth))
	}
	return db, scrub, nil
}

// mysqlError writes a MySQL error as the server gives it, with its number.
func mysqlError(err error) error {
	if me, ok := err.(*mysql.MySQLError); ok {
		return &dbError{msg: fmt.Sprintf("%s (MySQL error %d, SQLSTATE %s)", me.Message, me.Number, string(me.SQLState[:])), err: err}
	}
	return err
}

// mysqlFoldColumn returns the SQL of a column in a folded comparison when
// MySQL then compares as the Filter: integers and doubles as they are, text
// bytewise as UTF-8 (a binary string: no collation, no trailing-space
// padding), dates and datetimes against values cast to the same type.
func mysqlFoldColumn(c readCol, op string) (expr, cast string, ok bool) {
	q := "openstage_q." + mysqlDialect.quote(c.name)
	t := strings.TrimPrefix(strings.ToUpper(c.dbType), "UNSIGNED ")
	switch c.typ.ID() {
	case arrow.INT64:
		switch t {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT":
			return q, "?", true
		}
	case arrow.FLOAT64:
		return q, "?", t == "DOUBLE" && op != "is null"
	case arrow.STRING:
		switch t {
		case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT":
			return "CAST(CONVERT(" + q + " USING utf8mb4) AS BINARY)", "CAST(? AS BINARY)", true
		}
	case arrow.DATE32:
		return q, "CAST(? AS DATE)", t == "DATE"
	case arrow.TIMESTAMP:
		return q, "CAST(? AS DATETIME(6))", t == "DATETIME" || t == "TIMESTAMP"
	}
	return "", "", false
}

// foldDB is FoldFilter for the database/sql origins.
func (r *sqlRead) foldDB(c *openstage.Condition, rd *Read, d *dialect, column func(readCol, string) (string, string, bool)) (string, bool) {
	r.proj.where, r.proj.args = "", nil
	if c == nil || column == nil || rd.ColumnTypes[c.Column] != "" {
		return "", false
	}
	var col *readCol
	for i := range r.cols {
		if r.cols[i].name == c.Column {
			col = &r.cols[i]
		}
	}
	if col == nil {
		return "", false
	}
	expr, cast, ok := column(*col, c.Op)
	if !ok {
		return "", false
	}
	bind := func(v any) (string, any) {
		if t, ok := v.(time.Time); ok {
			if col.typ.ID() == arrow.DATE32 {
				return cast, t.Format("2006-01-02")
			}
			return cast, t.Format("2006-01-02 15:04:05.999999")
		}
		return cast, v
	}
	where, args := foldSQL(d, c, expr, len(rd.Params)+1, bind)
	r.proj.where, r.proj.args = where, args
	return describeFold(where, args), true
}

// MySQLOrigin runs a query on MySQL or MariaDB and sends its rows in batches.
type MySQLOrigin struct {
	Conn
	Read

	sqlRead
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "MySQLOrigin",
		Layer:   openstage.Extraction,
		Summary: "Runs a SQL query on MySQL or MariaDB (or reads a table) and sends the rows in batches.",
		Doc: `Connects with host, port, database, user and password (or a dsn such as
user:pass@tcp(host:3306)/db), runs query with params bound to its ?
placeholders (server-side prepared, never spliced), and streams the result
in batches. The session's time zone is UTC and its character set utf8mb4.

Types: TINYINT to BIGINT, YEAR, BIT → int64 (MySQL's BOOLEAN is TINYINT(1)
and comes back as int64: set column_types: {flag: bool} to read it as bool);
FLOAT, DOUBLE → float64; DECIMAL → float64 (or string with decimal:
string); DATE → date; DATETIME and TIMESTAMP → timestamp (UTC); BLOB,
BINARY, VARBINARY → binary; CHAR, VARCHAR, TEXT, ENUM, SET, JSON, TIME →
string. A zero date (0000-00-00) is an error that says how to avoid it.

Only the columns some stage reads are fetched, and a Filter right after the
origin goes into the query's WHERE clause when MySQL compares exactly as the
Filter does (integers, DOUBLE, text compared as UTF-8 bytes, DATE,
DATETIME); openstage validate shows it.`,
		New: func() any { return &MySQLOrigin{} },
		Example: `- name: orders_reader
  type: MySQLOrigin
  host: localhost
  database: shop
  user: etl
  password: ${env:MYSQL_PASSWORD}
  query: SELECT order_id, user_id, total_amount FROM orders WHERE order_date >= ?
  params: ["2025-01-01"]`,
	})
}

// NewMySQLOrigin returns a MySQLOrigin stage running query on the server
// of dsn (user:pass@tcp(host:3306)/db).
func NewMySQLOrigin(name, dsn, query string, params ...any) *openstage.Stage {
	return openstage.New(name, func(o *MySQLOrigin) {
		o.DSN = openstage.NewSecret(dsn)
		o.Query = query
		o.Params = params
	})
}

// Project implements openstage.Projector.
func (o *MySQLOrigin) Project(cols []string) { o.proj.cols = cols }

// FoldFilter implements openstage.FilterFolder.
func (o *MySQLOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	return o.foldDB(c, &o.Read, mysqlDialect, mysqlFoldColumn)
}

// Plan implements openstage.Origin: it runs the query with LIMIT 0 to
// declare its columns.
func (o *MySQLOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	return o.planRead(ctx, p, mysqlDriver, &o.Conn, "", &o.Read)
}

// Pump implements openstage.Origin.
func (o *MySQLOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	return o.pump(ctx, out, mysqlDriver, &o.Conn, "", &o.Read)
}

// Ranges implements RangeReader.
func (o *MySQLOrigin) Ranges(ctx context.Context) ([]Range, error) {
	return o.ranges(ctx, mysqlDriver, &o.Conn, "", &o.Read)
}

// PumpRange implements RangeReader.
func (o *MySQLOrigin) PumpRange(ctx context.Context, alloc memory.Allocator, r Range, send func(arrow.RecordBatch) error) error {
	return o.pumpRange(ctx, alloc, r, send, mysqlDriver, &o.Conn, "", &o.Read)
}
