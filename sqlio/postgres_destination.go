package sqlio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/open-stage/openstage"
)

// PostgresDestination loads its input into a PostgreSQL table with COPY,
// in one transaction committed only when the whole job succeeds.
type PostgresDestination struct {
	Conn
	Write

	schema *arrow.Schema
	conn   *pgx.Conn
	tx     pgx.Tx
	scrub  scrubber
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "PostgresDestination",
		Layer:   openstage.Load,
		Summary: "Loads rows into a PostgreSQL table with COPY, in one transaction: all rows or none.",
		Doc: `The rows stream to the server with COPY ... FROM STDIN (text format) inside
one transaction, committed only when every stage of the job has succeeded;
a failed or cancelled job rolls it back and leaves the table exactly as it
was (truncate, replace and create included: PostgreSQL's DDL is
transactional).

mode: append adds the rows; truncate empties the table first (TRUNCATE,
which locks the table until the job ends); replace drops the table and
creates it from the input's columns; create creates it and fails if it
exists; upsert copies the rows into a temporary table, then INSERT ... ON
CONFLICT (key) DO UPDATE sets every other column (the key must be a primary
key or unique index; two input rows with the same key are an error).
create_if_missing: true creates a missing table for append, truncate or
upsert.

The input's columns go to the table's columns of the same name (the
table's other columns take their defaults); PostgreSQL converts each value
to the column's type, so an int64 column loads into integer or numeric and
a string into json, uuid or date. A table created by the destination has
bigint, double precision, boolean, text, date, timestamptz and bytea
columns, and a primary key on key when given. Errors are PostgreSQL's, with
the line of the load (the row number) and the column: a value too long, a
number out of range, a constraint violated.`,
		New: func() any { return &PostgresDestination{} },
		Example: `- name: totals_writer
  type: PostgresDestination
  host: localhost
  database: analytics
  user: etl
  password: ${env:PGPASSWORD}
  table: user_totals
  mode: upsert
  key: user_id
  create_if_missing: true`,
	})
}

// NewPostgresDestination returns a PostgresDestination stage appending to
// table on the server of dsn.
func NewPostgresDestination(name, dsn, table string) *openstage.Stage {
	return openstage.New(name, func(d *PostgresDestination) {
		d.DSN = openstage.NewSecret(dsn)
		d.Table = table
	})
}

// Connectivity implements openstage's optional interface: one input.
func (d *PostgresDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination: it checks the input against the
// table as it is now.
func (d *PostgresDestination) Plan(ctx context.Context, p *openstage.Plan) error {
	d.schema = p.InputSchema()
	conn, scrub, err := connectPG(ctx, &d.Conn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	info, err := pgTableInfo(ctx, conn, d.Table)
	if err != nil {
		return scrub.err(err)
	}
	_, err = d.checkWrite(postgresDialect, d.schema, info)
	return err
}

func pgTableInfo(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) (tableInfo, error) {
	fail := func(err error) (tableInfo, error) {
		return tableInfo{}, fmt.Errorf("looking up table '%s': %w", table, pgWrap(err, "", ""))
	}
	r, err := q.Query(ctx, "SELECT to_regclass($1) IS NOT NULL", postgresDialect.table(table))
	if err != nil {
		return fail(err)
	}
	exists, err := pgx.CollectExactlyOneRow(r, pgx.RowTo[bool])
	if err != nil {
		return fail(err)
	}
	rows, err := q.Query(ctx, `SELECT a.attname::text FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, postgresDialect.table(table))
	if err != nil {
		return fail(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	return tableInfo{exists: exists, cols: cols}, nil
}

// Sink implements openstage.Destination: it opens the transaction and
// streams the rows with COPY; Commit ends the transaction.
func (d *PostgresDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	conn, scrub, err := connectPG(ctx, &d.Conn)
	if err != nil {
		return err
	}
	d.conn, d.scrub = conn, scrub
	tx, err := conn.Begin(ctx)
	if err != nil {
		return d.fail(ctx, err, "")
	}
	d.tx = tx
	info, err := pgTableInfo(ctx, tx, d.Table)
	if err != nil {
		return d.fail(ctx, err, "")
	}
	create, err := d.checkWrite(postgresDialect, d.schema, info)
	if err != nil {
		return err
	}
	table := postgresDialect.table(d.Table)
	var stmts []string
	if d.Mode == "replace" && info.exists {
		stmts = append(stmts, "DROP TABLE "+table)
	}
	if create {
		ddl, err := postgresDialect.createTable(d.Table, d.schema, d.Key)
		if err != nil {
			return err
		}
		stmts = append(stmts, ddl)
	}
	if d.Mode == "truncate" && !create {
		stmts = append(stmts, "TRUNCATE "+table)
	}
	target := table
	if d.Mode == "upsert" {
		target = "openstage_upsert"
		stmts = append(stmts, "CREATE TEMP TABLE openstage_upsert (LIKE "+table+" INCLUDING DEFAULTS) ON COMMIT DROP")
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return d.fail(ctx, err, s)
		}
	}
	cols := openstage.ColumnNames(d.schema)
	copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN", target, postgresDialect.quoteAll(cols))
	loader := newTextLoader(ctx, in, pgText)
	defer loader.Close()
	if _, err := conn.PgConn().CopyFrom(ctx, loader, copySQL); err != nil {
		if err := loader.inErr(); err != nil && err != io.EOF {
			return err
		}
		return d.fail(ctx, err, "")
	}
	if d.Mode == "upsert" {
		s := postgresDialect.upsert(postgresDialect, d.Table, target, cols, d.Key)
		if _, err := tx.Exec(ctx, s); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42P10" {
				return fmt.Errorf("upsert needs a primary key or unique index on %s of table '%s': %w", strings.Join(d.Key, ", "), d.Table, pgWrap(err, "", ""))
			}
			if errors.As(err, &pe) && pe.Code == "21000" {
				return fmt.Errorf("two input rows have the same key (%s); upsert takes one row per key: remove the duplicates upstream (RemoveDuplicates): %w", strings.Join(d.Key, ", "), pgWrap(err, "", ""))
			}
			return d.fail(ctx, err, "")
		}
	}
	return nil
}

func (d *PostgresDestination) fail(ctx context.Context, err error, stmt string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = pgWrap(err, stmt, stmt)
	if stmt != "" {
		err = fmt.Errorf("%s: %w", stmt, err)
	}
	return d.scrub.err(fmt.Errorf("loading table '%s': %w", d.Table, err))
}

// Commit implements openstage.Committer: the rows become visible.
func (d *PostgresDestination) Commit(ctx context.Context) error {
	if d.tx == nil {
		return nil
	}
	err := d.tx.Commit(ctx)
	d.tx = nil
	d.close()
	if err != nil {
		return d.scrub.err(fmt.Errorf("committing the load of table '%s': %w", d.Table, pgWrap(err, "", "")))
	}
	return nil
}

// Abort implements openstage.Committer: the transaction is rolled back and
// the table is as it was.
func (d *PostgresDestination) Abort() error {
	defer d.close()
	if d.tx == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.tx.Rollback(ctx)
	d.tx = nil
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) && !d.conn.IsClosed() {
		// Closing the connection makes the server roll back.
		return nil
	}
	return nil
}

func (d *PostgresDestination) close() {
	if d.conn != nil {
		d.conn.Close(context.Background())
		d.conn = nil
	}
}

// Close implements openstage.Closer.
func (d *PostgresDestination) Close() error {
	if d.tx != nil {
		return d.Abort()
	}
	d.close()
	return nil
}
