package sqlio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// A dialect is what differs between databases in the SQL this package
// writes: identifier quoting, placeholders, the column types of a created
// table and the upsert statement.
type dialect struct {
	name    string // as messages name the database
	driver  string // the driver: value of SQLOrigin/SQLDestination
	open    string // identifier quotes
	close   string
	defPort int
	// placeholder returns the text of bind parameter i (1-based).
	placeholder func(i int) string
	// types maps an Arrow type to a column type of CREATE TABLE.
	types func(t arrow.DataType) (string, bool)
	// upsert returns the statement that merges the rows of staging into
	// table on key, updating the other columns.
	upsert func(d *dialect, table, staging string, cols, key []string) string
	// maxParams bounds the placeholders of one statement.
	maxParams int
	// transactionalDDL: CREATE/DROP TABLE can be rolled back.
	transactionalDDL bool
}

func (d *dialect) quote(ident string) string {
	return d.open + strings.ReplaceAll(ident, d.close, d.close+d.close) + d.close
}

// table quotes a table name written schema.table (or table): each part is
// an identifier taken as written.
func (d *dialect) table(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.quote(p)
	}
	return strings.Join(parts, ".")
}

func (d *dialect) quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.quote(c)
	}
	return strings.Join(q, ", ")
}

// createTable returns the CREATE TABLE statement for schema (with a
// primary key on key, if any).
func (d *dialect) createTable(table string, schema *arrow.Schema, key []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", d.table(table))
	for i, f := range schema.Fields() {
		t, ok := d.types(f.Type)
		if !ok {
			return "", fmt.Errorf("column '%s' has type %s, which %s tables cannot hold", f.Name, f.Type, d.name)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.quote(f.Name) + " " + t)
		for _, k := range key {
			if k == f.Name {
				b.WriteString(" NOT NULL")
			}
		}
	}
	if len(key) > 0 {
		fmt.Fprintf(&b, ", PRIMARY KEY (%s)", d.quoteAll(key))
	}
	b.WriteString(")")
	return b.String(), nil
}

// selectFrom wraps base (a query) to read only cols (nil: every column)
// and keep only the rows where where holds ("" : all).
func (d *dialect) selectFrom(base string, cols []string, where string) string {
	if cols == nil && where == "" {
		return base
	}
	list := "*"
	if cols != nil {
		q := make([]string, len(cols))
		for i, c := range cols {
			q[i] = "openstage_q." + d.quote(c)
		}
		list = strings.Join(q, ", ")
	}
	as := " AS openstage_q"
	if d.driver == "oracle" {
		as = " openstage_q" // Oracle takes no AS before a table alias
	}
	s := "SELECT " + list + " FROM (" + base + ")" + as
	if where != "" {
		s += " WHERE " + where
	}
	return s
}

// trimQuery drops the trailing semicolons and blanks of a query, so that it
// can be wrapped as a subquery.
func trimQuery(q string) string {
	return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
}

func dollar(i int) string { return "$" + strconv.Itoa(i) }
func question(int) string { return "?" }

// upsertOnConflict is PostgreSQL's upsert from a staging table.
func upsertOnConflict(d *dialect, table, staging string, cols, key []string) string {
	var set []string
	for _, c := range nonKey(cols, key) {
		set = append(set, d.quote(c)+" = EXCLUDED."+d.quote(c))
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) %s",
		d.table(table), d.quoteAll(cols), d.quoteAll(cols), staging, d.quoteAll(key), action)
}

// upsertMySQL is MySQL's and MariaDB's: ON DUPLICATE KEY UPDATE, which
// applies to any unique key of the table.
func upsertMySQL(d *dialect, table, staging string, cols, key []string) string {
	var set []string
	for _, c := range nonKey(cols, key) {
		set = append(set, d.quote(c)+" = VALUES("+d.quote(c)+")")
	}
	if len(set) == 0 {
		set = []string{d.quote(key[0]) + " = " + d.quote(key[0])}
	}
	return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON DUPLICATE KEY UPDATE %s",
		d.table(table), d.quoteAll(cols), d.quoteAll(cols), staging, strings.Join(set, ", "))
}

// upsertRows returns the statement that inserts n rows of values (bound
// to placeholders, row by row) into table, updating the rows whose key
// exists: SQLite's INSERT ... ON CONFLICT, SQL Server's and Oracle's MERGE.
func upsertRows(d *dialect, table string, cols, key []string, n int) string {
	if d.driver == "sqlite" {
		var set []string
		for _, c := range nonKey(cols, key) {
			set = append(set, d.quote(c)+" = excluded."+d.quote(c))
		}
		action := "DO NOTHING"
		if len(set) > 0 {
			action = "DO UPDATE SET " + strings.Join(set, ", ")
		}
		return insertSQL(d, table, cols, n) + " ON CONFLICT (" + d.quoteAll(key) + ") " + action
	}
	var src strings.Builder
	p := 1
	if d.driver == "oracle" {
		src.WriteString("(")
		for r := range n {
			if r > 0 {
				src.WriteString(" UNION ALL ")
			}
			src.WriteString("SELECT ")
			for i, c := range cols {
				if i > 0 {
					src.WriteString(", ")
				}
				src.WriteString(d.placeholder(p) + " " + d.quote(c))
				p++
			}
			src.WriteString(" FROM DUAL")
		}
		src.WriteString(") s")
	} else {
		src.WriteString("(VALUES ")
		for r := range n {
			if r > 0 {
				src.WriteString(", ")
			}
			ps := make([]string, len(cols))
			for i := range cols {
				ps[i] = d.placeholder(p)
				p++
			}
			src.WriteString("(" + strings.Join(ps, ", ") + ")")
		}
		src.WriteString(") AS s (" + d.quoteAll(cols) + ")")
	}
	var on, set, vals []string
	for _, k := range key {
		on = append(on, "t."+d.quote(k)+" = s."+d.quote(k))
	}
	for _, c := range nonKey(cols, key) {
		set = append(set, "t."+d.quote(c)+" = s."+d.quote(c))
	}
	for _, c := range cols {
		vals = append(vals, "s."+d.quote(c))
	}
	as := " AS t"
	if d.driver == "oracle" {
		as = " t"
	}
	q := "MERGE INTO " + d.table(table) + as + " USING " + src.String() + " ON (" + strings.Join(on, " AND ") + ")"
	if len(set) > 0 {
		q += " WHEN MATCHED THEN UPDATE SET " + strings.Join(set, ", ")
	}
	q += " WHEN NOT MATCHED THEN INSERT (" + d.quoteAll(cols) + ") VALUES (" + strings.Join(vals, ", ") + ")"
	if d.driver == "sqlserver" {
		q += ";" // SQL Server requires MERGE to end with a semicolon
	}
	return q
}

func nonKey(cols, key []string) []string {
	var out []string
	for _, c := range cols {
		isKey := false
		for _, k := range key {
			isKey = isKey || k == c
		}
		if !isKey {
			out = append(out, c)
		}
	}
	return out
}

// arrowTypes gives the CREATE TABLE type of each Arrow type a pipe carries.
func arrowTypes(m map[arrow.Type]string) func(arrow.DataType) (string, bool) {
	return func(t arrow.DataType) (string, bool) {
		s, ok := m[t.ID()]
		return s, ok
	}
}

var (
	postgresDialect = &dialect{
		name: "PostgreSQL", driver: "postgres", open: `"`, close: `"`, defPort: 5432,
		placeholder: dollar, upsert: upsertOnConflict, maxParams: 65535, transactionalDDL: true,
		types: arrowTypes(map[arrow.Type]string{
			arrow.INT64: "bigint", arrow.FLOAT64: "double precision", arrow.BOOL: "boolean",
			arrow.STRING: "text", arrow.LARGE_STRING: "text", arrow.DATE32: "date",
			arrow.TIMESTAMP: "timestamptz", arrow.BINARY: "bytea", arrow.LARGE_BINARY: "bytea",
		}),
	}
	mysqlDialect = &dialect{
		name: "MySQL", driver: "mysql", open: "`", close: "`", defPort: 3306,
		placeholder: question, upsert: upsertMySQL, maxParams: 65535,
		types: arrowTypes(map[arrow.Type]string{
			arrow.INT64: "BIGINT", arrow.FLOAT64: "DOUBLE", arrow.BOOL: "BOOLEAN",
			arrow.STRING: "LONGTEXT", arrow.LARGE_STRING: "LONGTEXT", arrow.DATE32: "DATE",
			arrow.TIMESTAMP: "DATETIME(6)", arrow.BINARY: "LONGBLOB", arrow.LARGE_BINARY: "LONGBLOB",
		}),
	}
	sqliteDialect = &dialect{
		name: "SQLite", driver: "sqlite", open: `"`, close: `"`,
		placeholder: question, maxParams: 32766, transactionalDDL: true,
		types: arrowTypes(map[arrow.Type]string{
			arrow.INT64: "INTEGER", arrow.FLOAT64: "REAL", arrow.BOOL: "BOOLEAN",
			arrow.STRING: "TEXT", arrow.LARGE_STRING: "TEXT", arrow.DATE32: "DATE",
			arrow.TIMESTAMP: "TIMESTAMP", arrow.BINARY: "BLOB", arrow.LARGE_BINARY: "BLOB",
		}),
	}
	mssqlDialect = &dialect{
		name: "SQL Server", driver: "sqlserver", open: "[", close: "]", defPort: 1433,
		placeholder: func(i int) string { return "@p" + strconv.Itoa(i) },
		maxParams:   2100, transactionalDDL: true,
		types: arrowTypes(map[arrow.Type]string{
			arrow.INT64: "BIGINT", arrow.FLOAT64: "FLOAT", arrow.BOOL: "BIT",
			arrow.STRING: "NVARCHAR(MAX)", arrow.LARGE_STRING: "NVARCHAR(MAX)", arrow.DATE32: "DATE",
			arrow.TIMESTAMP: "DATETIME2(6)", arrow.BINARY: "VARBINARY(MAX)", arrow.LARGE_BINARY: "VARBINARY(MAX)",
		}),
	}
	oracleDialect = &dialect{
		name: "Oracle", driver: "oracle", open: `"`, close: `"`, defPort: 1521,
		placeholder: func(i int) string { return ":" + strconv.Itoa(i) },
		maxParams:   65535,
		types: arrowTypes(map[arrow.Type]string{
			arrow.INT64: "NUMBER(19)", arrow.FLOAT64: "BINARY_DOUBLE", arrow.BOOL: "NUMBER(1)",
			arrow.STRING: "NCLOB", arrow.LARGE_STRING: "NCLOB", arrow.DATE32: "DATE",
			arrow.TIMESTAMP: "TIMESTAMP(6)", arrow.BINARY: "BLOB", arrow.LARGE_BINARY: "BLOB",
		}),
	}
)

var dialects = map[string]*dialect{
	"postgres": postgresDialect, "mysql": mysqlDialect, "sqlite": sqliteDialect,
	"sqlserver": mssqlDialect, "oracle": oracleDialect,
}
