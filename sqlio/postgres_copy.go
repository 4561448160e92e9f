package sqlio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// A query without parameters is read with COPY (query) TO STDOUT in
// PostgreSQL's binary format: the server sends rows faster than it answers
// a SELECT (measured: docs/benchmarks.md). COPY takes no bind parameters,
// so a query with params (or a folded filter, whose values are parameters)
// goes through SELECT: values are never spliced into SQL.

var pgCopyHeader = []byte("PGCOPY\n\xff\r\n\x00")

// pgCopySQL is the COPY statement reading cols of sql: the columns read in
// text format are cast to text, whose binary form is their text.
func pgCopySQL(sql string, cols []pgCol) string {
	list := ""
	for i, c := range cols {
		if i > 0 {
			list += ", "
		}
		q := "openstage_c." + postgresDialect.quote(c.name)
		if !c.binary && !pgBinaryIsText(c.oid) {
			q += "::text AS " + postgresDialect.quote(c.name)
		}
		list += q
	}
	return "COPY (SELECT " + list + " FROM (" + sql + ") AS openstage_c) TO STDOUT (FORMAT binary)"
}

// pgBinaryIsText reports whether a type's binary form is its text (so no
// cast is needed; a cast of char(n) to text would drop its padding).
func pgBinaryIsText(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.JSONOID, pgtype.XMLOID:
		return true
	}
	return false
}

// copyReader parses the binary COPY stream, whatever its chunking, into
// the batcher.
type copyReader struct {
	ctx     context.Context
	b       *batcher
	decs    []pgDecoder
	cols    []pgCol
	pending []byte
	header  bool
	done    bool
	row     int64
}

func (r *copyReader) Write(p []byte) (int, error) {
	data := p
	if len(r.pending) > 0 {
		r.pending = append(r.pending, p...)
		data = r.pending
	}
	used, err := r.parse(data)
	if err != nil {
		return 0, err
	}
	rest := data[used:]
	if len(r.pending) > 0 {
		r.pending = append(r.pending[:0], rest...)
	} else if len(rest) > 0 {
		r.pending = append(r.pending, rest...)
	}
	return len(p), nil
}

// parse consumes the complete parts of data and returns how many bytes.
func (r *copyReader) parse(data []byte) (int, error) {
	off := 0
	if !r.header {
		if len(data) < 19 {
			return 0, nil
		}
		if string(data[:11]) != string(pgCopyHeader) {
			return 0, errors.New("unexpected COPY header")
		}
		ext := int(binary.BigEndian.Uint32(data[15:19]))
		if len(data) < 19+ext {
			return 0, nil
		}
		off, r.header = 19+ext, true
	}
	for !r.done {
		if len(data)-off < 2 {
			return off, nil
		}
		n := int(int16(binary.BigEndian.Uint16(data[off:])))
		if n == -1 {
			r.done = true
			return off + 2, nil
		}
		if n != len(r.cols) {
			return 0, fmt.Errorf("COPY sent %d fields, expected %d", n, len(r.cols))
		}
		// Is the whole tuple here?
		p := off + 2
		for range n {
			if len(data)-p < 4 {
				return off, nil
			}
			l := int(int32(binary.BigEndian.Uint32(data[p:])))
			p += 4
			if l > 0 {
				if len(data)-p < l {
					return off, nil
				}
				p += l
			}
		}
		r.row++
		p = off + 2
		for i := range n {
			l := int(int32(binary.BigEndian.Uint32(data[p:])))
			p += 4
			if l < 0 {
				r.b.field(i).AppendNull()
				continue
			}
			if err := r.decs[i](data[p : p+l]); err != nil {
				return 0, fmt.Errorf("row %d, column '%s' (%s): %w", r.row, r.cols[i].name, r.cols[i].dbType, err)
			}
			p += l
		}
		off = p
		if err := r.b.row(r.ctx); err != nil {
			return 0, err
		}
	}
	return off, nil
}

// pumpCopy reads sql (no parameters) with binary COPY.
func (o *PostgresOrigin) pumpCopy(ctx context.Context, conn *pgx.Conn, scrub scrubber, sql, base string, cols []pgCol, b *batcher) error {
	decs := make([]pgDecoder, len(cols))
	for i, c := range cols {
		if c.binary {
			decs[i] = pgDecoderFor(c, b.field(i))
		} else {
			decs[i] = pgTextDecoder(c, b.field(i))
		}
	}
	r := &copyReader{ctx: ctx, b: b, decs: decs, cols: cols}
	copySQL := pgCopySQL(sql, cols)
	if _, err := conn.PgConn().CopyTo(ctx, r, copySQL); err != nil {
		return o.readError(ctx, scrub, err, copySQL, base)
	}
	if !r.done {
		return errors.New("the COPY stream ended early")
	}
	return b.flush(ctx)
}
