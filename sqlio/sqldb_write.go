package sqlio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/open-stage/openstage"
)

// dbWrite is the destination of SQLite, SQL Server and Oracle: batched
// INSERT (or upsert) statements in one transaction. Where DDL cannot be
// rolled back (Oracle), create and replace load a staging table that
// Commit renames into place.
type dbWrite struct {
	sqlWrite
	newFile string // the SQLite file the load created, removed by Abort
}

// lookUp returns the table's columns as the driver's catalog query lists them.
func (w *dbWrite) lookUp(ctx context.Context, dr *driver, table string) (tableInfo, error) {
	schema, name := "", table
	if i := strings.LastIndex(table, "."); i >= 0 {
		schema, name = table[:i], table[i+1:]
	}
	q, args := dr.columns(schema, name)
	rows, err := w.db.QueryContext(ctx, q, args...)
	if err != nil {
		return tableInfo{}, fmt.Errorf("looking up table '%s': %w", table, dr.wrapErr(err))
	}
	defer rows.Close()
	var info tableInfo
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return tableInfo{}, dr.wrapErr(err)
		}
		info.cols = append(info.cols, c)
	}
	info.exists = len(info.cols) > 0
	return info, rows.Err()
}

func (w *dbWrite) planWrite(ctx context.Context, p *openstage.Plan, dr *driver, c *Conn, path string, wr *Write) error {
	w.schema = p.InputSchema()
	if dr.d.driver == "sqlite" {
		if _, err := os.Stat(path); err != nil {
			// No file yet: the load creates it (and the table).
			_, err := wr.checkWrite(dr.d, w.schema, tableInfo{})
			return err
		}
	}
	db, scrub, err := dr.open(ctx, c, path)
	if err != nil {
		return err
	}
	defer db.Close()
	w.db = db
	info, err := w.lookUp(ctx, dr, wr.Table)
	w.db = nil
	if err != nil {
		return scrub.err(err)
	}
	_, err = wr.checkWrite(dr.d, w.schema, info)
	return err
}

func (w *dbWrite) sink(ctx context.Context, in *openstage.Inputs, dr *driver, c *Conn, path string, wr *Write) error {
	if dr.d.driver == "sqlite" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			w.newFile = path
		}
	}
	db, scrub, err := dr.open(ctx, c, path)
	if err != nil {
		return err
	}
	w.db, w.scrub = db, scrub
	fail := func(err error, stmt string) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = dr.wrapErr(err)
		if stmt != "" {
			err = fmt.Errorf("%s: %w", stmt, err)
		}
		return scrub.err(fmt.Errorf("loading table '%s': %w", wr.Table, err))
	}
	info, err := w.lookUp(ctx, dr, wr.Table)
	if err != nil {
		return scrub.err(err)
	}
	create, err := wr.checkWrite(dr.d, w.schema, info)
	if err != nil {
		return err
	}
	d := dr.d
	cols := openstage.ColumnNames(w.schema)
	target := wr.Table
	var stmts []string
	if create && !d.transactionalDDL {
		suffix := make([]byte, 4)
		rand.Read(suffix)
		target = wr.Table + "_OS_" + strings.ToUpper(hex.EncodeToString(suffix))
		ddl, err := d.createTable(target, w.schema, wr.Key)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return fail(err, ddl)
		}
		w.cleanup = []string{"DROP TABLE " + d.table(target)}
		if wr.Mode == "replace" && info.exists {
			old := wr.Table + "_OS_OLD"
			w.commit = []string{"ALTER TABLE " + d.table(wr.Table) + " RENAME TO " + d.quote(old[strings.LastIndex(old, ".")+1:]),
				"ALTER TABLE " + d.table(target) + " RENAME TO " + d.quote(wr.Table[strings.LastIndex(wr.Table, ".")+1:]), "DROP TABLE " + d.table(old)}
		} else {
			w.commit = []string{"ALTER TABLE " + d.table(target) + " RENAME TO " + d.quote(wr.Table[strings.LastIndex(wr.Table, ".")+1:])}
		}
	} else {
		if wr.Mode == "replace" && info.exists {
			stmts = append(stmts, "DROP TABLE "+d.table(wr.Table))
		}
		if create {
			ddl, err := d.createTable(wr.Table, w.schema, wr.Key)
			if err != nil {
				return err
			}
			stmts = append(stmts, ddl)
		}
		if wr.Mode == "truncate" && !create {
			stmts = append(stmts, "DELETE FROM "+d.table(wr.Table))
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err, "")
	}
	w.tx = tx
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fail(err, s)
		}
	}
	stmt := func(n int) string { return insertSQL(d, target, cols, n) }
	if wr.Mode == "upsert" {
		stmt = func(n int) string { return upsertRows(d, target, cols, wr.Key, n) }
	}
	if _, err := insertRows(ctx, tx, dr, stmt, w.schema, in, wr.batchRows()); err != nil {
		if wr.Mode == "upsert" && strings.Contains(err.Error(), "ON CONFLICT clause does not match") {
			return fmt.Errorf("upsert needs a primary key or unique index on %s of table '%s': %w", strings.Join(wr.Key, ", "), wr.Table, err)
		}
		return fail(err, "")
	}
	return nil
}

func (w *dbWrite) abort() error {
	err := w.sqlWrite.abort()
	if w.newFile != "" {
		for _, f := range []string{w.newFile, w.newFile + "-journal", w.newFile + "-wal", w.newFile + "-shm"} {
			os.Remove(f)
		}
		w.newFile = ""
	}
	return err
}

func (w *dbWrite) finish(ctx context.Context, dr *driver, table string) error {
	err := w.sqlWrite.finish(ctx, dr, table)
	if err == nil {
		w.newFile = ""
	}
	return err
}
