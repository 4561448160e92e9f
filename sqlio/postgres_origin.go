package sqlio

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/open-stage/openstage"
)

// PostgresOrigin runs a query on PostgreSQL and sends its rows, in batches
// (the seed's PostgresOrigin). It reads through pgx's native protocol, with
// the values of common types in PostgreSQL's binary format.
type PostgresOrigin struct {
	Conn
	Read

	pgRead
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "PostgresOrigin",
		Layer:   openstage.Extraction,
		Summary: "Runs a SQL query on PostgreSQL (or reads a table) and sends the rows in batches.",
		Doc: `Connects with host, port, database, user and password (or a dsn), runs
query with params bound to $1, $2, ... (never spliced into the SQL), and
streams the result in batches of batch_rows rows: a result of any size is
never held whole in memory. The query is described (not run) when the job is
validated, to declare the columns and their types.

Types: smallint, integer, bigint → int64; real, double precision → float64;
numeric → float64 (or string with decimal: string, every digit kept); boolean
→ bool; text, varchar, char, name → string; date → date; timestamp and
timestamptz → timestamp (UTC; a timestamp without time zone is read as UTC);
json, jsonb, uuid, time, interval, arrays, enums and every other type →
string, as PostgreSQL writes it; bytea → binary. NULLs stay nulls.
infinity in a date or timestamp is an error.

Only the columns some stage reads are fetched (the query is wrapped:
SELECT those columns FROM (query)), and a Filter right after the origin is
added to the query as a WHERE clause when PostgreSQL compares exactly as the
Filter does (openstage validate shows both). The Filter still runs on the
rows that arrive.`,
		New: func() any { return &PostgresOrigin{} },
		Example: `- name: users_reader
  type: PostgresOrigin
  host: localhost
  database: ecommerce
  user: postgres
  password: ${env:PGPASSWORD}
  query: SELECT user_id, name, email FROM users WHERE active = $1
  params: [true]`,
	})
}

// NewPostgresOrigin returns a PostgresOrigin stage running query with
// params on the server of dsn (postgres://user@host:5432/db).
func NewPostgresOrigin(name, dsn, query string, params ...any) *openstage.Stage {
	return openstage.New(name, func(o *PostgresOrigin) {
		o.DSN = openstage.NewSecret(dsn)
		o.Query = query
		o.Params = params
	})
}

// pgRead is the state of a PostgresOrigin between Plan and Pump.
type pgRead struct {
	described string // the SQL cols were described for
	cols      []pgCol
	paramOIDs []uint32
	proj      projection
	alloc     memory.Allocator
	part      partition
}

type pgCol struct {
	readCol
	oid    uint32
	binary bool
}

// Project implements openstage.Projector.
func (o *PostgresOrigin) Project(cols []string) { o.proj.cols = cols }

// FoldFilter implements openstage.FilterFolder.
func (o *PostgresOrigin) FoldFilter(c *openstage.Condition) (string, bool) {
	o.proj.where, o.proj.args = "", nil
	if c == nil {
		return "", false
	}
	var col *pgCol
	for i := range o.cols {
		if o.cols[i].name == c.Column {
			col = &o.cols[i]
		}
	}
	if col == nil || o.ColumnTypes[c.Column] != "" {
		return "", false
	}
	expr, cast, ok := pgFoldColumn(col, c.Op)
	if !ok {
		return "", false
	}
	bind := func(v any) (string, any) {
		switch x := v.(type) {
		case time.Time:
			if col.typ.ID() == arrow.DATE32 {
				return "?::text::date", x.Format("2006-01-02")
			}
			if col.oid == pgtype.TimestampOID {
				return "?::text::timestamp", x.Format("2006-01-02 15:04:05.999999")
			}
			return "?::text::timestamptz", x.Format("2006-01-02 15:04:05.999999Z07:00")
		}
		return "?::" + cast, v
	}
	where, args := foldSQL(postgresDialect, c, expr, len(o.Params)+1, bind)
	o.proj.where, o.proj.args = where, args
	return describeFold(where, args), true
}

// pgFoldColumn returns the SQL of a column in a folded comparison and the
// type its values are cast to, when PostgreSQL then compares as the Filter:
// integers as int8, floats as float8 (numeric too: its conversion to float8
// is the one the origin reads), text in the C collation (bytewise, as the
// Filter), dates and timestamps as themselves.
func pgFoldColumn(c *pgCol, op string) (expr, cast string, ok bool) {
	q := "openstage_q." + postgresDialect.quote(c.name)
	switch c.typ.ID() {
	case arrow.INT64:
		switch c.oid {
		case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
			return q, "int8", true
		}
	case arrow.FLOAT64:
		if op == "is null" { // the Filter counts NaN as null
			return "", "", false
		}
		switch c.oid {
		case pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
			return q + "::float8", "float8", true
		}
	case arrow.BOOL:
		return q, "boolean", c.oid == pgtype.BoolOID
	case arrow.STRING:
		switch c.oid {
		case pgtype.TextOID, pgtype.VarcharOID:
			return q + ` COLLATE "C"`, "text", true
		}
	case arrow.DATE32:
		return q, "date", c.oid == pgtype.DateOID
	case arrow.TIMESTAMP:
		return q, "", c.oid == pgtype.TimestampOID || c.oid == pgtype.TimestamptzOID
	}
	return "", "", false
}

// Plan implements openstage.Origin: it describes the query (without running
// it) to declare its columns.
func (o *PostgresOrigin) Plan(ctx context.Context, p *openstage.Plan) error {
	if err := o.Read.check(); err != nil {
		return err
	}
	o.alloc = p.Allocator()
	base := o.base(postgresDialect)
	if o.described != base {
		if err := o.describe(ctx, base); err != nil {
			return err
		}
	}
	if len(o.Params) != len(o.paramOIDs) {
		return fmt.Errorf("the query has %d placeholder(s) ($1 ...) but params has %d value(s)", len(o.paramOIDs), len(o.Params))
	}
	cols := make([]readCol, len(o.cols))
	kinds := make([]partKind, len(o.cols))
	for i, c := range o.cols {
		cols[i] = c.readCol
		kinds[i] = pgPartKind(c.oid)
	}
	part, err := o.planPartition(cols, kinds)
	if err != nil {
		return err
	}
	for _, c := range o.cols {
		if c.name == part.col && c.oid == pgtype.TimestamptzOID {
			part.tz = true
		}
	}
	part.workers = p.Workers()
	o.part = part
	p.SetOutputs(schemaOf(projected(cols, o.proj.cols)))
	return nil
}

// pgPartKind is what a column of type oid is partitioned as.
func pgPartKind(oid uint32) partKind {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return partInt
	case pgtype.DateOID:
		return partDate
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return partTimestamp
	}
	return partNone
}

func (o *PostgresOrigin) describe(ctx context.Context, base string) error {
	conn, scrub, err := connectPG(ctx, &o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	sd, err := conn.Prepare(ctx, "", base)
	if err != nil {
		return scrub.err(queryError(pgWrap(err, base, base), o.Table))
	}
	o.cols = make([]pgCol, len(sd.Fields))
	rc := make([]readCol, len(sd.Fields))
	for i, f := range sd.Fields {
		o.cols[i] = pgColumn(conn.TypeMap(), f, o.Decimal)
		rc[i] = o.cols[i].readCol
	}
	if err := o.override(rc); err != nil {
		return err
	}
	for i := range o.cols {
		if rc[i].typ != o.cols[i].typ {
			o.cols[i].typ, o.cols[i].binary = rc[i].typ, false
		}
	}
	o.paramOIDs = sd.ParamOIDs
	o.described = base
	return nil
}

func queryError(err error, table string) error {
	if table != "" {
		return fmt.Errorf("reading table '%s': %w", table, err)
	}
	return fmt.Errorf("query: %w", err)
}

// pgColumn maps a result column to an Arrow type and the format it is read in.
func pgColumn(m *pgtype.Map, f pgconn.FieldDescription, decimal string) pgCol {
	c := pgCol{readCol: readCol{name: f.Name}, oid: f.DataTypeOID}
	if t, ok := m.TypeForOID(f.DataTypeOID); ok {
		c.dbType = t.Name
	} else {
		c.dbType = fmt.Sprintf("type %d", f.DataTypeOID)
	}
	switch f.DataTypeOID {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		c.typ, c.binary = openstage.Int64, true
	case pgtype.Float4OID, pgtype.Float8OID:
		c.typ, c.binary = openstage.Float64, true
	case pgtype.NumericOID:
		c.typ = openstage.Float64
		if decimal == "string" {
			c.typ = openstage.String
		}
	case pgtype.BoolOID:
		c.typ, c.binary = openstage.Bool, true
	case pgtype.DateOID:
		c.typ, c.binary = openstage.Date, true
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		c.typ, c.binary = openstage.Timestamp, true
	case pgtype.ByteaOID:
		c.typ, c.binary = arrow.BinaryTypes.Binary, true
	case pgtype.UUIDOID:
		c.typ, c.binary = openstage.String, true
	default:
		c.typ = openstage.String // text, json, time, interval, arrays, enums...: as PostgreSQL writes them
	}
	return c
}

// Pump implements openstage.Origin.
func (o *PostgresOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	if o.part.col == "" {
		conn, scrub, err := connectPG(ctx, &o.Conn)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return o.read(ctx, conn, scrub, "", out.Allocator(), out.Send)
	}
	return o.pumpPartitioned(ctx, out)
}

// read runs the query on conn, keeping the rows where rangeWhere holds
// ("" for all), and sends its batches.
func (o *PostgresOrigin) read(ctx context.Context, conn *pgx.Conn, scrub scrubber, rangeWhere string, alloc memory.Allocator, send sendFunc) error {
	base := o.base(postgresDialect)
	cols := o.cols
	var names []string
	if o.proj.cols != nil {
		cols = nil
		for _, c := range o.cols {
			for _, p := range o.proj.cols {
				if c.name == p {
					cols = append(cols, c)
				}
			}
		}
		names = o.proj.cols
	}
	sql := postgresDialect.selectFrom(base, names, andWhere(o.proj.where, rangeWhere))
	formats := make(pgx.QueryResultFormats, len(cols))
	decs := make([]pgDecoder, len(cols))
	schema := make([]readCol, len(cols))
	for i, c := range cols {
		if c.binary {
			formats[i] = pgx.BinaryFormatCode
		}
		schema[i] = c.readCol
	}
	args, err := pgArgs(o.Params, o.paramOIDs)
	if err != nil {
		return err
	}
	args = append(args, o.proj.args...)
	b := newBatcher(alloc, schemaOf(schema), o.batchRows(), send)
	defer b.release()
	if len(args) == 0 {
		return o.pumpCopy(ctx, conn, scrub, sql, base, cols, b)
	}
	for i, c := range cols {
		decs[i] = pgDecoderFor(c, b.field(i))
	}
	rows, err := conn.Query(ctx, sql, append([]any{formats}, args...)...)
	if err != nil {
		return o.readError(ctx, scrub, err, sql, base)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) != len(cols) {
		return fmt.Errorf("the query's columns changed since the job was validated: it now returns %d columns, not %d", len(fields), len(cols))
	}
	for i, f := range fields {
		if f.DataTypeOID != cols[i].oid || f.Name != cols[i].name {
			return fmt.Errorf("the query's columns changed since the job was validated: column %d is now '%s' (type %d), not '%s' (%s)", i+1, f.Name, f.DataTypeOID, cols[i].name, cols[i].dbType)
		}
	}
	row := int64(0)
	for rows.Next() {
		row++
		raw := rows.RawValues()
		for i, dec := range decs {
			if raw[i] == nil {
				b.field(i).AppendNull()
				continue
			}
			if err := dec(raw[i]); err != nil {
				return fmt.Errorf("row %d, column '%s' (%s): %w", row, cols[i].name, cols[i].dbType, err)
			}
		}
		if err := b.row(ctx); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return o.readError(ctx, scrub, err, sql, base)
	}
	return b.flush(ctx)
}

func (o *PostgresOrigin) readError(ctx context.Context, scrub scrubber, err error, sent, base string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return scrub.err(queryError(pgWrap(err, sent, base), o.Table))
}

// pgArgs converts params to what pgx encodes for the placeholders' types:
// a string for a date or timestamp placeholder is read as one.
func pgArgs(params []any, oids []uint32) ([]any, error) {
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
		s, ok := p.(string)
		if !ok || i >= len(oids) {
			continue
		}
		switch oids[i] {
		case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
			t, err := parseDBTime(s)
			if err != nil {
				return nil, fmt.Errorf("params: value %d (%q) is not a date or timestamp, which placeholder $%d needs", i+1, s, i+1)
			}
			args[i] = t
		case pgtype.NumericOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID:
			args[i] = pgtype.Text{String: s, Valid: true}
		}
	}
	return args, nil
}

// A pgDecoder appends one non-null value, in the column's format, to its builder.
type pgDecoder func(v []byte) error

const (
	pgEpochDays   = 10957           // 2000-01-01 in days since 1970-01-01
	pgEpochMicros = 946684800000000 // 2000-01-01 in microseconds since 1970-01-01
)

func pgDecoderFor(c pgCol, bld array.Builder) pgDecoder {
	if !c.binary {
		return pgTextDecoder(c, bld)
	}
	switch b := bld.(type) {
	case *array.Int64Builder:
		return func(v []byte) error {
			switch len(v) {
			case 2:
				b.Append(int64(int16(binary.BigEndian.Uint16(v))))
			case 4:
				b.Append(int64(int32(binary.BigEndian.Uint32(v))))
			case 8:
				b.Append(int64(binary.BigEndian.Uint64(v)))
			default:
				return fmt.Errorf("unexpected %d-byte integer", len(v))
			}
			return nil
		}
	case *array.Float64Builder:
		return func(v []byte) error {
			switch len(v) {
			case 4:
				b.Append(float64(math.Float32frombits(binary.BigEndian.Uint32(v))))
			case 8:
				b.Append(math.Float64frombits(binary.BigEndian.Uint64(v)))
			default:
				return fmt.Errorf("unexpected %d-byte float", len(v))
			}
			return nil
		}
	case *array.BooleanBuilder:
		return func(v []byte) error {
			if len(v) != 1 {
				return fmt.Errorf("unexpected %d-byte bool", len(v))
			}
			b.Append(v[0] != 0)
			return nil
		}
	case *array.Date32Builder:
		return func(v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("unexpected %d-byte date", len(v))
			}
			d := int32(binary.BigEndian.Uint32(v))
			if d == math.MaxInt32 || d == math.MinInt32 {
				return errors.New("infinity cannot be held in a date column; filter it out or cast the column to text")
			}
			b.Append(arrow.Date32(d + pgEpochDays))
			return nil
		}
	case *array.TimestampBuilder:
		return func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("unexpected %d-byte timestamp", len(v))
			}
			us := int64(binary.BigEndian.Uint64(v))
			if us == math.MaxInt64 || us == math.MinInt64 {
				return errors.New("infinity cannot be held in a timestamp column; filter it out or cast the column to text")
			}
			b.Append(arrow.Timestamp(us + pgEpochMicros))
			return nil
		}
	case *array.BinaryBuilder:
		return func(v []byte) error { b.Append(v); return nil }
	case *array.StringBuilder: // uuid
		return func(v []byte) error {
			if len(v) != 16 {
				return fmt.Errorf("unexpected %d-byte uuid", len(v))
			}
			var s [36]byte
			hex.Encode(s[0:8], v[0:4])
			s[8] = '-'
			hex.Encode(s[9:13], v[4:6])
			s[13] = '-'
			hex.Encode(s[14:18], v[6:8])
			s[18] = '-'
			hex.Encode(s[19:23], v[8:10])
			s[23] = '-'
			hex.Encode(s[24:], v[10:16])
			b.BinaryBuilder.Append(s[:])
			return nil
		}
	}
	return func([]byte) error { return fmt.Errorf("no decoder for %s", c.dbType) }
}

// pgTextDecoder reads values in PostgreSQL's text format: strings as they
// are, numeric as a float, and column_types conversions.
func pgTextDecoder(c pgCol, bld array.Builder) pgDecoder {
	switch b := bld.(type) {
	case *array.StringBuilder:
		return func(v []byte) error { b.BinaryBuilder.Append(v); return nil }
	case *array.Float64Builder:
		return func(v []byte) error {
			f, err := strconv.ParseFloat(unsafeString(v), 64)
			if err != nil {
				if s := strings.ToLower(string(v)); s == "nan" || s == "infinity" || s == "-infinity" {
					f, _ = strconv.ParseFloat(s, 64)
				} else {
					return fmt.Errorf("cannot read %q as a float64", v)
				}
			}
			b.Append(f)
			return nil
		}
	case *array.TimestampBuilder, *array.Date32Builder:
		return func(v []byte) error {
			t, err := parseDBTime(string(v))
			if err != nil {
				return err
			}
			return openstage.AppendValue(bld, t)
		}
	}
	return func(v []byte) error { return appendValue(bld, string(v)) }
}

// unsafeString views b as a string without copying, for parsing only.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
