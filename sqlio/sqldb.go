package sqlio

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// The core of the origins and destinations that go through database/sql
// (MySQL, SQLite, SQL Server, Oracle): a driver opens a *sql.DB, the
// dialect writes the SQL, and a typer maps the driver's column types.

// a driver is what differs between database/sql databases.
type driver struct {
	d *dialect
	// open returns a handle on the database of c (one connection is used
	// at a time) and the secrets its errors might quote.
	open func(ctx context.Context, c *Conn, path string) (*sql.DB, scrubber, error)
	// arrowType maps a column's DatabaseTypeName ("" when the database
	// gives none) to what the origin sends.
	arrowType func(dbType, decimal string) arrow.DataType
	// wrapErr makes a message of a driver error.
	wrapErr func(err error) error
	// raw: scan into sql.RawBytes (text values) rather than any.
	raw bool
	// bind converts a value of an Arrow column into an argument.
	bind func(t arrow.DataType, v any) any
	// columns returns the catalog query listing a table's columns in order.
	columns func(schema, table string) (string, []any)
	// describe wraps a query so that it returns no row (only its columns).
	describe func(base string) string
	// partitions: partition_column is available (tested against a server).
	partitions bool
}

// sqlRead is the state of a database/sql origin between Plan and Pump.
type sqlRead struct {
	described string
	cols      []readCol
	proj      projection
	part      partition
}

func (r *sqlRead) planRead(ctx context.Context, p *openstage.Plan, dr *driver, c *Conn, path string, rd *Read) error {
	if err := rd.check(); err != nil {
		return err
	}
	if rd.PartitionColumn != "" && !dr.partitions {
		return fmt.Errorf("partition_column is not available for %s (no %s server runs in the project's tests to check the range queries); read it whole, or cut the query into several origins with WHERE clauses", dr.d.name, dr.d.name)
	}
	base := rd.base(dr.d)
	if r.described != base {
		db, scrub, err := dr.open(ctx, c, path)
		if err != nil {
			return err
		}
		defer db.Close()
		q := dr.describe(base)
		rows, err := db.QueryContext(ctx, q, rd.Params...)
		if err != nil {
			return scrub.err(queryError(dr.wrapErr(err), rd.Table))
		}
		defer rows.Close()
		types, err := rows.ColumnTypes()
		if err != nil {
			return scrub.err(queryError(dr.wrapErr(err), rd.Table))
		}
		cols := make([]readCol, len(types))
		for i, ct := range types {
			cols[i] = readCol{name: ct.Name(), dbType: ct.DatabaseTypeName(), typ: dr.arrowType(strings.ToUpper(ct.DatabaseTypeName()), rd.Decimal)}
		}
		if cols, err = inferUntyped(rows, cols, dr); err != nil {
			return err
		}
		if err := rd.override(cols); err != nil {
			return err
		}
		r.cols, r.described = cols, base
	}
	kinds := make([]partKind, len(r.cols))
	for i, c := range r.cols {
		t := dr.arrowType(strings.ToUpper(c.dbType), "float64")
		if c.dbType == "" || t == nil {
			t = c.typ // SQLite: typed from its values
		}
		kinds[i] = partKindOf(t)
	}
	part, err := rd.planPartition(r.cols, kinds)
	if err != nil {
		return err
	}
	part.workers = p.Workers()
	r.part = part
	p.SetOutputs(schemaOf(projected(r.cols, r.proj.cols)))
	return nil
}

// inferUntyped types the columns whose type the database does not name (an
// expression in SQLite) from their first non-null value among the rows the
// describe query returned; a column with none is a string.
func inferUntyped(rows *sql.Rows, cols []readCol, dr *driver) ([]readCol, error) {
	var untyped []int
	for i, c := range cols {
		if c.typ == nil {
			untyped = append(untyped, i)
		}
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for len(untyped) > 0 && rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, dr.wrapErr(err)
		}
		rest := untyped[:0]
		for _, i := range untyped {
			switch vals[i].(type) {
			case nil:
				rest = append(rest, i)
				continue
			case int64:
				cols[i].typ = openstage.Int64
			case float64:
				cols[i].typ = openstage.Float64
			case []byte:
				cols[i].typ = arrow.BinaryTypes.Binary
			default:
				cols[i].typ = openstage.String
			}
		}
		untyped = rest
	}
	for _, i := range untyped {
		cols[i].typ = openstage.String
	}
	return cols, rows.Err()
}

func (r *sqlRead) pump(ctx context.Context, out *openstage.Outputs, dr *driver, c *Conn, path string, rd *Read) error {
	if r.part.col == "" {
		return r.read(ctx, dr, c, path, rd, "", out.Allocator(), out.Send)
	}
	ranges, err := r.ranges(ctx, dr, c, path, rd)
	if err != nil {
		return err
	}
	return pumpRanges(ctx, out, &r.part, ranges, func(ctx context.Context, rg Range, send sendFunc) error {
		return r.read(ctx, dr, c, path, rd, r.part.where(dr.d, rg), out.Allocator(), send)
	})
}

// ranges returns the ranges of a partitioned origin, running the bounds
// query when a bound is not set.
func (r *sqlRead) ranges(ctx context.Context, dr *driver, c *Conn, path string, rd *Read) ([]Range, error) {
	return r.part.rangesOf(rd.Partitions, func() (any, any, error) {
		db, scrub, err := dr.open(ctx, c, path)
		if err != nil {
			return nil, nil, err
		}
		defer db.Close()
		var lo, hi any
		if err := db.QueryRowContext(ctx, r.part.boundsSQL(dr.d, rd.base(dr.d)), rd.Params...).Scan(&lo, &hi); err != nil {
			return nil, nil, scrub.err(queryError(dr.wrapErr(err), rd.Table))
		}
		return lo, hi, nil
	})
}

// pumpRange reads one range for Beam.
func (r *sqlRead) pumpRange(ctx context.Context, alloc memory.Allocator, rg Range, send func(arrow.RecordBatch) error, dr *driver, c *Conn, path string, rd *Read) error {
	if r.part.col == "" {
		return fmt.Errorf("stage has no partition_column: it is not read in ranges")
	}
	err := r.read(ctx, dr, c, path, rd, r.part.where(dr.d, rg), alloc, func(_ context.Context, rec arrow.RecordBatch) error { return send(rec) })
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%s: %w", r.part.describe(rg), err)
	}
	return err
}

// read runs the query on a connection of its own, keeping the rows where
// rangeWhere holds ("" for all), and sends its batches.
func (r *sqlRead) read(ctx context.Context, dr *driver, c *Conn, path string, rd *Read, rangeWhere string, alloc memory.Allocator, send sendFunc) error {
	db, scrub, err := dr.open(ctx, c, path)
	if err != nil {
		return err
	}
	defer db.Close()
	cols := projected(r.cols, r.proj.cols)
	var names []string
	if r.proj.cols != nil {
		names = r.proj.cols
	}
	base := rd.base(dr.d)
	q := dr.d.selectFrom(base, names, andWhere(r.proj.where, rangeWhere))
	args := append(append([]any{}, rd.Params...), r.proj.args...)
	b := newBatcher(alloc, schemaOf(cols), rd.batchRows(), send)
	defer b.release()
	appenders := make([]func(array.Builder, sql.RawBytes) error, len(cols))
	for i, c := range cols {
		appenders[i] = rawAppender(c)
	}
	row := int64(0)
	// each appends one row of values as the driver gives them.
	each := func(vals []any, raw bool) error {
		row++
		for i := range cols {
			var err error
			switch v := vals[i].(type) {
			case nil:
				b.field(i).AppendNull()
				continue
			case []byte:
				if raw {
					err = appenders[i](b.field(i), v)
					break
				}
				err = appendValue(b.field(i), v)
			default:
				err = appendValue(b.field(i), v)
			}
			if err != nil {
				return fmt.Errorf("row %d, column '%s' (%s): %w", row, cols[i].name, cols[i].dbType, err)
			}
		}
		return b.row(ctx)
	}
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var de *dbError
		if errors.As(err, &de) || strings.HasPrefix(err.Error(), "row ") {
			return scrub.err(err)
		}
		return scrub.err(queryError(dr.wrapErr(err), rd.Table))
	}
	if dr.raw {
		// The driver's rows directly: its text values, no conversion by
		// database/sql for each value.
		if err := rawQuery(ctx, db, q, args, len(cols), each); err != nil {
			return fail(err)
		}
		return b.flush(ctx)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	if got, err := rows.Columns(); err != nil || len(got) != len(cols) {
		return fmt.Errorf("the query's columns changed since the job was validated: it now returns %v", got)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return scrub.err(fmt.Errorf("row %d: %w", row+1, dr.wrapErr(err)))
		}
		if err := each(vals, false); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return b.flush(ctx)
}

// rawQuery runs q on one connection through the driver's own interfaces
// and calls each with every row's values ([]byte valid until the next row).
func rawQuery(ctx context.Context, db *sql.DB, q string, args []any, ncols int, each func([]any, bool) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		named := make([]sqldriver.NamedValue, len(args))
		for i, a := range args {
			v, err := sqldriver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return fmt.Errorf("params: value %d: %w", i+1, err)
			}
			named[i] = sqldriver.NamedValue{Ordinal: i + 1, Value: v}
		}
		var rows sqldriver.Rows
		err := sqldriver.ErrSkip
		if qc, ok := dc.(sqldriver.QueryerContext); ok {
			rows, err = qc.QueryContext(ctx, q, named)
		}
		if errors.Is(err, sqldriver.ErrSkip) {
			pc, ok := dc.(sqldriver.ConnPrepareContext)
			if !ok {
				return errors.New("the driver cannot prepare statements")
			}
			st, perr := pc.PrepareContext(ctx, q)
			if perr != nil {
				return perr
			}
			defer st.Close()
			rows, err = st.(sqldriver.StmtQueryContext).QueryContext(ctx, named)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		if got := rows.Columns(); len(got) != ncols {
			return fmt.Errorf("the query's columns changed since the job was validated: it now returns %v", got)
		}
		dest := make([]sqldriver.Value, ncols)
		vals := make([]any, ncols)
		for {
			if err := rows.Next(dest); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			for i, v := range dest {
				vals[i] = v
			}
			if err := each(vals, true); err != nil {
				return err
			}
		}
	})
}

// rawAppender reads a value in a database's text form (MySQL's text
// protocol) into a builder of the column's type.
func rawAppender(c readCol) func(array.Builder, sql.RawBytes) error {
	bit := c.dbType == "BIT"
	return func(bld array.Builder, v sql.RawBytes) error {
		switch b := bld.(type) {
		case *array.StringBuilder:
			b.BinaryBuilder.Append(v)
			return nil
		case *array.BinaryBuilder:
			b.Append(v)
			return nil
		case *array.Int64Builder:
			if bit {
				var n int64
				for _, x := range v {
					n = n<<8 | int64(x)
				}
				b.Append(n)
				return nil
			}
		case *array.Float64Builder:
			return appendValue(bld, []byte(v))
		case *array.Date32Builder, *array.TimestampBuilder:
			if strings.HasPrefix(unsafeString(v), "0000-00-00") {
				return fmt.Errorf("the zero date %q is not a date; filter it out, or NULLIF(column, '0000-00-00') in the query", v)
			}
		}
		return appendValue(bld, string(v))
	}
}

// sqlWrite is the state of a database/sql destination between Plan, Sink
// and Commit.
type sqlWrite struct {
	schema  *arrow.Schema
	db      *sql.DB
	tx      *sql.Tx
	scrub   scrubber
	commit  []string // statements Commit runs after the transaction (MySQL's renames)
	cleanup []string // statements Abort runs (dropping a staging table)
}

// insertRows sends every row of in with the statements stmtFor(n) makes
// for n rows (a multi-row INSERT), rowsPer rows at a time (fewer when the
// placeholders would exceed the database's limit).
func insertRows(ctx context.Context, exec interface {
	PrepareContext(context.Context, string) (*sql.Stmt, error)
}, dr *driver, stmtFor func(n int) string, schema *arrow.Schema, in *openstage.Inputs, rowsPer int) (int64, error) {
	cols := openstage.ColumnNames(schema)
	per := max(1, min(rowsPer, dr.d.maxParams/len(cols)))
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	args := make([]any, 0, per*len(cols))
	pending := 0
	var done int64
	flush := func() error {
		if pending == 0 {
			return nil
		}
		st, ok := stmts[pending]
		if !ok {
			var err error
			st, err = exec.PrepareContext(ctx, stmtFor(pending))
			if err != nil {
				return dr.wrapErr(err)
			}
			stmts[pending] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			err = dr.wrapErr(err)
			if pending > 1 {
				return fmt.Errorf("in rows %d to %d: %w", done+1, done+int64(pending), err)
			}
			return fmt.Errorf("in row %d: %w", done+1, err)
		}
		done += int64(pending)
		args, pending = args[:0], 0
		return nil
	}
	err := in.ForEach(ctx, func(dp openstage.DataPackage) error {
		rec := dp.Batch
		for i := range int(rec.NumRows()) {
			for c, col := range rec.Columns() {
				args = append(args, dr.bind(schema.Field(c).Type, goValue(col, i)))
			}
			pending++
			if pending == per {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return done, err
}

// insertSQL is the statement inserting n rows.
func insertSQL(d *dialect, table string, cols []string, n int) string {
	var b strings.Builder
	row := func(first int) string {
		ps := make([]string, len(cols))
		for i := range cols {
			ps[i] = d.placeholder(first + i)
		}
		return "(" + strings.Join(ps, ", ") + ")"
	}
	if d.driver == "oracle" {
		b.WriteString("INSERT ALL")
		for r := range n {
			fmt.Fprintf(&b, " INTO %s (%s) VALUES %s", d.table(table), d.quoteAll(cols), row(r*len(cols)+1))
		}
		b.WriteString(" SELECT 1 FROM DUAL")
		return b.String()
	}
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", d.table(table), d.quoteAll(cols))
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row(r*len(cols) + 1))
	}
	return b.String()
}

// finish commits the transaction and runs the commit statements.
func (w *sqlWrite) finish(ctx context.Context, dr *driver, table string) error {
	defer w.close()
	if w.tx != nil {
		err := w.tx.Commit()
		w.tx = nil
		if err != nil {
			return w.scrub.err(fmt.Errorf("committing the load of table '%s': %w", table, dr.wrapErr(err)))
		}
	}
	for _, s := range w.commit {
		if _, err := w.db.ExecContext(ctx, s); err != nil {
			w.runCleanup()
			return w.scrub.err(fmt.Errorf("committing the load of table '%s': %s: %w", table, s, dr.wrapErr(err)))
		}
	}
	w.commit, w.cleanup = nil, nil
	return nil
}

// abort rolls the transaction back and drops what the load created.
func (w *sqlWrite) abort() error {
	defer w.close()
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
	return w.runCleanup()
}

func (w *sqlWrite) runCleanup() error {
	var errs []error
	for _, s := range w.cleanup {
		if w.db == nil {
			break
		}
		if _, err := w.db.ExecContext(context.Background(), s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
		}
	}
	w.cleanup, w.commit = nil, nil
	return errors.Join(errs...)
}

func (w *sqlWrite) close() {
	if w.db != nil && w.tx == nil && len(w.cleanup) == 0 {
		w.db.Close()
		w.db = nil
	}
}
