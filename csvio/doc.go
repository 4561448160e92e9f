// Package csvio reads CSV into Apache Arrow record batches and writes
// record batches as CSV, using all cores.
//
// # Reading
//
// NewReader (or NewReaderContext) reads an io.Reader with a given schema.
// One goroutine reads the input in large chunks (up to 4 MiB) and cuts each
// chunk after the last complete row, tracking the quote state from the start
// of the input so that a newline inside a quoted field never cuts a row. A
// chunk also ends after BatchRows rows. Workers (GOMAXPROCS by default; CSVOrigin uses the job's --workers) parse
// chunks in parallel straight into arrow buffers (no per-field allocation),
// one batch per chunk, and Next returns the batches in input order. At most
// Workers+1 chunks wait in the queue, so memory stays flat whatever the size
// of the input.
//
// A worker first indexes its chunk: the positions of all separators outside
// quotes, found 8 bytes at a time (SWAR) without branching on the data. Runs
// of well-formed rows are then converted column by column with type-specific
// loops (8-byte digit parsing for short integers, decimals and dates, with
// strconv as the reference for anything else). Rows that are not plain
// (empty lines, ragged rows, bad quotes or values, the last row without a
// newline) go through a row-at-a-time parser, which produces the errors.
//
// Syntax (RFC 4180, strict):
//   - fields are separated by Delimiter (',' by default); records end with
//     LF or CRLF; the last record may lack a newline; a lone CR at the very
//     end of the input is dropped;
//   - empty lines (LF, CRLF) are skipped, anywhere, as encoding/csv does;
//   - a field that starts with Quote ('"' by default) is quoted: it ends at
//     a quote not followed by another quote; a doubled quote inside stands
//     for one quote; delimiters, CR and LF inside are data (CRLF inside a
//     quoted field is kept as is, unlike encoding/csv which turns it into
//     LF); the closing quote must be followed by the delimiter, a newline or
//     the end of the input;
//   - a quote inside an unquoted field is an error ("bare quote"), as with
//     encoding/csv without LazyQuotes. NoQuoting makes the quote an ordinary
//     character (and then no field is quoted);
//   - a UTF-8 byte order mark at the start of the input is dropped. Fields
//     are not trimmed and not checked for valid UTF-8.
//
// Header: with Header, the first record holds the column names (ReadHeader
// returns them); an input without any record is then an error. Without
// Header, columns are named column_1..column_n and an empty input gives no
// batch. Columns are matched to the schema by position: a row with a
// different number of fields is an error ("row has 3 fields, header has 4").
// An input with a header and no rows gives no batch (Next returns io.EOF at
// once); the schema is Reader.Schema.
//
// Nulls: a field is null when it equals one of NullValues (nil means {""},
// i.e. an empty field is null; an empty non-nil slice means nothing is null).
// In a string column only an unquoted field can be null: "" (quoted, empty)
// is the empty string, and "NA" quoted is the string NA. In other columns the
// quotes do not matter.
//
// Types: int64 ([+-]digits, as strconv.ParseInt), float64 (exactly what
// strconv.ParseFloat returns, including NaN and Inf; out-of-range values such
// as 1e400 are errors), bool (true/false in any case, 1/0), string
// (arrow.BinaryTypes.String), date32 (YYYY-MM-DD) and timestamp in
// microseconds (YYYY-MM-DD, optionally followed by T or a space, HH:MM:SS, a
// fraction of up to 6 digits (or 9 with zeros past the sixth) and Z or
// ±HH:MM; no zone means UTC; stored as UTC). Other arrow types are refused.
// InferSchema documents how types are inferred.
//
// Batches: at most BatchRows rows (16384 by default), fewer at chunk ends.
// The string data of a batch is bounded by the chunk size, far from the 2 GiB
// limit of arrow String offsets. The caller owns each batch and releases it.
//
// Errors are *ParseError values: "path:line: column 'name': message", with
// the 1-based physical line of the file (counting newlines inside quoted
// fields, and correct whatever the chunking). A bad value names the line on
// which its field starts, the column and the value:
//
//	orders.csv:1234: column 'age': cannot parse "abc" as int64
//	orders.csv:17: column 'note': unclosed quote (the quoted field starts on this line)
//	orders.csv:5: row has 3 fields, header has 4
//
// Next returns the rows that precede a bad row, then the error (and the same
// error on every later call). With CollectRejects, rows with a value that
// does not convert or with the wrong number of fields are left out of the
// batch and returned by Rejects (Line is the line on which the row starts);
// syntax errors (quotes) still stop the reader.
//
// A quoted field or row longer than 256 MiB is an error (this bounds the
// memory used on an unclosed quote).
//
// Close stops the workers and releases every batch not handed out; it must
// always be called. Cancelling the context of NewReaderContext makes Next
// return ctx.Err().
//
// # Writing
//
// NewWriter formats batches in parallel blocks of rows and writes them in
// order; see Writer for the formatting rules. What the writer writes reads
// back to the same values.
package csvio
