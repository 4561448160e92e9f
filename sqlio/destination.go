package sqlio

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// Write is the parameter block every database destination shares after its
// connection: where and how the rows go.
type Write struct {
	Table           string            `param:"table" required:"true" doc:"The table to write (table or schema.table, as written: case matters)."`
	Mode            string            `param:"mode" default:"append" enum:"append,truncate,replace,create,upsert" hint:"overwrite|to empty the table first use truncate; to drop and recreate it use replace|insert|inserting rows is append|merge|insert-or-update on a key is upsert" doc:"append: add the rows; truncate: empty the table, then add them; replace: drop the table and create it from the input's columns; create: create the table (it must not exist); upsert: insert new rows and update those whose key exists."`
	Key             openstage.Strings `param:"key" doc:"Key column(s): for upsert, a primary key or unique index of the table that decides insert or update; for create and replace (and create_if_missing), the primary key of the table created."`
	CreateIfMissing bool              `param:"create_if_missing" doc:"With append, truncate or upsert: create the table from the input's columns when it does not exist."`
	BatchRows       int               `param:"batch_rows" default:"1000" doc:"Rows per INSERT statement, where rows are inserted with statements (SQLite, SQL Server, Oracle, MySQL with bulk: insert); PostgreSQL loads with COPY and MySQL with LOAD DATA in one stream."`
}

// tableInfo is what the destination learned of its table while planning.
type tableInfo struct {
	exists bool
	cols   []string // in the table's order
}

// checkWrite checks the parameters against the input schema and the
// table, for dialect d. It returns whether the load creates the table.
func (w *Write) checkWrite(d *dialect, schema *arrow.Schema, info tableInfo) (create bool, err error) {
	if schema.NumFields() == 0 {
		return false, errors.New("the input has no columns")
	}
	seen := map[string]bool{}
	for _, f := range schema.Fields() {
		if seen[f.Name] {
			return false, fmt.Errorf("the input has two columns called '%s'; a table needs distinct column names", f.Name)
		}
		seen[f.Name] = true
		if _, ok := d.types(f.Type); !ok {
			return false, fmt.Errorf("column '%s' has type %s, which this destination cannot write to %s", f.Name, f.Type, d.name)
		}
	}
	for _, k := range w.Key {
		if _, err := openstage.FieldIndex(schema, k); err != nil {
			return false, fmt.Errorf("key: %w", err)
		}
	}
	switch w.Mode {
	case "upsert":
		if len(w.Key) == 0 {
			return false, errors.New("mode upsert needs key: the column(s) of a primary key or unique index that decide whether a row is inserted or updated")
		}
	case "append", "truncate", "":
		if len(w.Key) > 0 && !w.CreateIfMissing {
			return false, fmt.Errorf("key is used by upsert, and by create, replace and create_if_missing for the primary key of the table created; mode %s with an existing table ignores it: remove it", w.Mode)
		}
	}
	switch w.Mode {
	case "create":
		if info.exists {
			return false, fmt.Errorf("table '%s' already exists and mode is create; use mode: replace to drop and recreate it, or append / truncate / upsert to write into it", w.Table)
		}
		return true, nil
	case "replace":
		return true, nil
	}
	if !info.exists {
		if w.CreateIfMissing {
			return true, nil
		}
		return false, fmt.Errorf("table '%s' does not exist; create it first, use mode: create, or set create_if_missing: true", w.Table)
	}
	var missing []string
	for _, f := range schema.Fields() {
		if !slices.Contains(info.cols, f.Name) {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("table '%s' has no column %s; its columns: %s", w.Table, quoteList(missing), strings.Join(info.cols, ", "))
		if s := openstage.Suggest(missing[0], info.cols); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return false, errors.New(msg + "; rename the column upstream, or use mode: replace to recreate the table")
	}
	return false, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

func (w *Write) batchRows() int {
	if w.BatchRows <= 0 {
		return 1000
	}
	return w.BatchRows
}
