package sqlio

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/go-sql-driver/mysql"

	"github.com/open-stage/openstage"
)

// MySQLDestination loads its input into a MySQL or MariaDB table with LOAD
// DATA LOCAL INFILE streamed from the job (or multi-row INSERTs), so that a
// failed or cancelled job leaves the table as it was.
type MySQLDestination struct {
	Conn
	Write
	Bulk string `param:"bulk" default:"load_data" enum:"load_data,insert" doc:"How rows are sent: load_data (LOAD DATA LOCAL INFILE streamed from the job; the server must allow local_infile) or insert (multi-row INSERT statements of batch_rows rows)."`

	sqlWrite
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "MySQLDestination",
		Layer:   openstage.Load,
		Summary: "Loads rows into a MySQL or MariaDB table (LOAD DATA LOCAL INFILE from a stream, or multi-row INSERTs): all rows or none.",
		Doc: `append, truncate and upsert write inside one transaction (InnoDB),
committed only when the whole job has succeeded; a failed or cancelled job
rolls it back. truncate empties the table with DELETE (TRUNCATE would commit
at once). upsert loads into a temporary copy of the table, then INSERT ...
SELECT ... ON DUPLICATE KEY UPDATE; key must be the columns of a primary key
or unique index, which is checked before any data moves.

MySQL commits CREATE and DROP TABLE at once, so create, replace and
create_if_missing load into a new staging table (<table>__openstage_<random>)
and, at commit, RENAME TABLE puts it in place (replace: the old table is
dropped after the atomic rename). A failed job drops the staging table; a
killed process may leave it behind.

bulk: load_data (default) streams the rows with LOAD DATA LOCAL INFILE: with
LOCAL the server turns bad values and duplicate keys into warnings, so the
destination checks @@warning_count after the load and fails (rolling back)
on any, quoting the first warnings. The server must allow local_infile
(MariaDB does by default); bulk: insert sends multi-row INSERTs of
batch_rows rows instead, where strict mode stops at the first bad value.

Tables created have BIGINT, DOUBLE, BOOLEAN, LONGTEXT, DATE, DATETIME(6) and
LONGBLOB columns (utf8mb4), and a primary key on key when given. Timestamps
are written in UTC (the session's time zone is UTC). MyISAM and other
non-transactional tables cannot be rolled back.`,
		New: func() any { return &MySQLDestination{} },
		Example: `- name: writer
  type: MySQLDestination
  host: localhost
  database: shop
  user: etl
  password: ${env:MYSQL_PASSWORD}
  table: daily_totals
  mode: replace`,
	})
}

// NewMySQLDestination returns a MySQLDestination stage appending to table
// on the server of dsn.
func NewMySQLDestination(name, dsn, table string) *openstage.Stage {
	return openstage.New(name, func(d *MySQLDestination) {
		d.DSN = openstage.NewSecret(dsn)
		d.Table = table
	})
}

// Connectivity implements openstage's optional interface: one input.
func (d *MySQLDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// mysqlTableInfo looks the table up in information_schema.
func mysqlTableInfo(ctx context.Context, db *sql.DB, table string) (tableInfo, [][]string, error) {
	schema, name := "", table
	if i := strings.LastIndex(table, "."); i >= 0 {
		schema, name = table[:i], table[i+1:]
	}
	where := "table_schema = COALESCE(NULLIF(?, ''), DATABASE()) AND table_name = ?"
	rows, err := db.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE "+where+" ORDER BY ordinal_position", schema, name)
	if err != nil {
		return tableInfo{}, nil, fmt.Errorf("looking up table '%s': %w", table, mysqlError(err))
	}
	var info tableInfo
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return tableInfo{}, nil, mysqlError(err)
		}
		info.cols = append(info.cols, c)
	}
	rows.Close()
	info.exists = len(info.cols) > 0
	rows, err = db.QueryContext(ctx, "SELECT index_name, GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ',') FROM information_schema.statistics WHERE "+where+" AND non_unique = 0 GROUP BY index_name", schema, name)
	if err != nil {
		return tableInfo{}, nil, fmt.Errorf("looking up the keys of table '%s': %w", table, mysqlError(err))
	}
	defer rows.Close()
	var keys [][]string
	for rows.Next() {
		var idx, cols string
		if err := rows.Scan(&idx, &cols); err != nil {
			return tableInfo{}, nil, mysqlError(err)
		}
		keys = append(keys, strings.Split(cols, ","))
	}
	return info, keys, rows.Err()
}

// Plan implements openstage.Destination.
func (d *MySQLDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	d.schema = p.InputSchema()
	db, scrub, err := openMySQL(ctx, &d.Conn, "")
	if err != nil {
		return err
	}
	defer db.Close()
	info, keys, err := mysqlTableInfo(ctx, db, d.Table)
	if err != nil {
		return scrub.err(err)
	}
	if _, err := d.checkWrite(mysqlDialect, d.schema, info); err != nil {
		return err
	}
	return d.checkKey(info, keys)
}

// checkKey makes sure an upsert's key is a unique key of the table: ON
// DUPLICATE KEY UPDATE would otherwise insert every row.
func (d *MySQLDestination) checkKey(info tableInfo, keys [][]string) error {
	if d.Mode != "upsert" || !info.exists {
		return nil
	}
	want := slices.Sorted(slices.Values(d.Key))
	var have []string
	for _, k := range keys {
		if slices.Equal(slices.Sorted(slices.Values(k)), want) {
			return nil
		}
		have = append(have, "("+strings.Join(k, ", ")+")")
	}
	msg := fmt.Sprintf("upsert needs a primary key or unique index on %s of table '%s'", strings.Join(d.Key, ", "), d.Table)
	if len(have) > 0 {
		msg += "; its unique keys: " + strings.Join(have, ", ")
	} else {
		msg += "; it has none"
	}
	return errors.New(msg)
}

var loadSeq atomic.Int64

// Sink implements openstage.Destination.
func (d *MySQLDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	db, scrub, err := openMySQL(ctx, &d.Conn, "")
	if err != nil {
		return err
	}
	d.db, d.scrub = db, scrub
	info, keys, err := mysqlTableInfo(ctx, db, d.Table)
	if err != nil {
		return scrub.err(err)
	}
	create, err := d.checkWrite(mysqlDialect, d.schema, info)
	if err != nil {
		return err
	}
	if err := d.checkKey(info, keys); err != nil {
		return err
	}
	table := mysqlDialect.table(d.Table)
	fail := func(err error, stmt string) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if stmt != "" {
			err = fmt.Errorf("%s: %w", stmt, mysqlError(err))
		}
		return scrub.err(fmt.Errorf("loading table '%s': %w", d.Table, mysqlError(err)))
	}
	exec := func(q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, stmts ...string) error {
		for _, s := range stmts {
			if _, err := q.ExecContext(ctx, s); err != nil {
				return fail(err, s)
			}
		}
		return nil
	}
	cols := openstage.ColumnNames(d.schema)
	if create {
		// DDL commits at once in MySQL: load a staging table, rename at commit.
		suffix := make([]byte, 4)
		rand.Read(suffix)
		stageName := mysqlAside(d.Table, "__openstage_"+hex.EncodeToString(suffix))
		oldName := mysqlAside(d.Table, "__openstage_old_"+hex.EncodeToString(suffix))
		ddl, err := mysqlDialect.createTable(stageName, d.schema, d.Key)
		if err != nil {
			return err
		}
		ddl += " DEFAULT CHARSET=utf8mb4"
		if err := exec(db, ddl); err != nil {
			return err
		}
		stage := mysqlDialect.table(stageName)
		d.cleanup = []string{"DROP TABLE IF EXISTS " + stage}
		if err := d.load(ctx, db, stage, stageName, in, fail); err != nil {
			return err
		}
		if d.Mode == "replace" && info.exists {
			old := mysqlDialect.table(oldName)
			d.commit = []string{"RENAME TABLE " + table + " TO " + old + ", " + stage + " TO " + table, "DROP TABLE " + old}
		} else {
			d.commit = []string{"RENAME TABLE " + stage + " TO " + table}
		}
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err, "")
	}
	d.tx = tx
	target, targetName := table, d.Table
	if d.Mode == "truncate" {
		if err := exec(tx, "DELETE FROM "+table); err != nil {
			return err
		}
	}
	if d.Mode == "upsert" {
		target, targetName = "openstage_upsert", "openstage_upsert"
		if err := exec(tx, "CREATE TEMPORARY TABLE openstage_upsert LIKE "+table); err != nil {
			return err
		}
	}
	if err := d.load(ctx, tx, target, targetName, in, fail); err != nil {
		return err
	}
	if d.Mode == "upsert" {
		if err := exec(tx, mysqlDialect.upsert(mysqlDialect, d.Table, target, cols, d.Key), "DROP TEMPORARY TABLE openstage_upsert"); err != nil {
			return err
		}
	}
	return nil
}

type mysqlExec interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
}

// load sends every row to target, by LOAD DATA or by INSERTs.
func (d *MySQLDestination) load(ctx context.Context, q mysqlExec, target, targetName string, in *openstage.Inputs, fail func(error, string) error) error {
	if d.Bulk == "insert" {
		cols := openstage.ColumnNames(d.schema)
		stmt := func(n int) string { return insertSQL(mysqlDialect, targetName, cols, n) }
		if _, err := insertRows(ctx, q, mysqlDriver, stmt, d.schema, in, d.batchRows()); err != nil {
			return fail(err, "")
		}
		return nil
	}
	loader := newTextLoader(ctx, in, mysqlText)
	defer loader.Close()
	name := fmt.Sprintf("openstage_%d", loadSeq.Add(1))
	mysql.RegisterReaderHandler(name, func() io.Reader { return loader })
	defer mysql.DeregisterReaderHandler(name)
	var list, set []string
	for i, f := range d.schema.Fields() {
		if f.Type.ID() == arrow.BINARY || f.Type.ID() == arrow.LARGE_BINARY {
			v := fmt.Sprintf("@openstage_v%d", i)
			list = append(list, v)
			set = append(set, mysqlDialect.quote(f.Name)+" = UNHEX("+v+")")
		} else {
			list = append(list, mysqlDialect.quote(f.Name))
		}
	}
	stmt := fmt.Sprintf(`LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (%s)`,
		name, target, strings.Join(list, ", "))
	if len(set) > 0 {
		stmt += " SET " + strings.Join(set, ", ")
	}
	if _, err := q.ExecContext(ctx, stmt); err != nil {
		if err := loader.inErr(); err != nil && err != io.EOF {
			return err
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1148 || me.Number == 3948 || me.Number == 4166) {
			return fail(fmt.Errorf("the server refuses LOAD DATA LOCAL INFILE: %w; allow it on the server (local_infile=ON) or set bulk: insert", mysqlError(err)), "")
		}
		return fail(err, "")
	}
	// With LOCAL, bad values and duplicate keys are warnings: any fails the load.
	var warnings int
	if err := q.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings); err != nil {
		return fail(err, "")
	}
	if warnings > 0 {
		msgs := []string{}
		if rows, err := q.QueryContext(ctx, "SHOW WARNINGS LIMIT 3"); err == nil {
			for rows.Next() {
				var level, msg string
				var code int
				if rows.Scan(&level, &code, &msg) == nil {
					msgs = append(msgs, fmt.Sprintf("%s %d: %s", level, code, msg))
				}
			}
			rows.Close()
		}
		return fail(fmt.Errorf("MySQL reported %d warning(s) while loading, so nothing is committed: %s (the row numbers count from 1 in this load)", warnings, strings.Join(msgs, "; ")), "")
	}
	return nil
}

// Commit implements openstage.Committer.
func (d *MySQLDestination) Commit(ctx context.Context) error {
	return d.finish(ctx, mysqlDriver, d.Table)
}

// Abort implements openstage.Committer: the transaction is rolled back, a
// staging table dropped.
func (d *MySQLDestination) Abort() error { return d.abort() }

// Close implements openstage.Closer.
func (d *MySQLDestination) Close() error { return d.abort() }

// mysqlAside names a table beside table (in its schema): table's name with
// suffix, shortened to MySQL's 64 characters.
func mysqlAside(table, suffix string) string {
	schema, name := "", table
	if i := strings.LastIndex(table, "."); i >= 0 {
		schema, name = table[:i+1], table[i+1:]
	}
	if len(name)+len(suffix) > 64 {
		name = name[:64-len(suffix)]
	}
	return schema + name + suffix
}
