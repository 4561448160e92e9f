package csvio

import (
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// TimestampType is the arrow type of timestamp columns: microseconds, UTC.
var TimestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// inference state of one column.
type colGuess struct {
	seen      bool // a non-null value was seen
	canInt    bool
	allIntSyn bool // every value is [+-]?digits (some may overflow int64)
	canFloat  bool
	canBool   bool
	canDate   bool
	canTS     bool
}

func (g *colGuess) observe(v []byte) {
	if !g.seen {
		*g = colGuess{seen: true, canInt: true, allIntSyn: true, canFloat: true, canBool: true, canDate: true, canTS: true}
	}
	if g.canInt || g.allIntSyn {
		_, ok, _ := parseInt64(v)
		if !ok {
			g.canInt = false
			if g.allIntSyn && !isIntSyntax(v) {
				g.allIntSyn = false
			}
		}
	}
	if g.canFloat {
		if _, ok := parseFloat64(v); !ok {
			g.canFloat = false
		}
	}
	if g.canBool {
		if _, ok := parseBool(v, false); !ok {
			g.canBool = false
		}
	}
	if g.canDate {
		if _, ok := parseDate32(v); !ok {
			g.canDate = false
		}
	}
	if g.canTS {
		if _, ok := parseTimestamp(v); !ok {
			g.canTS = false
		}
	}
}

func (g *colGuess) dataType() arrow.DataType {
	switch {
	case !g.seen:
		return arrow.BinaryTypes.String
	case g.canInt:
		return arrow.PrimitiveTypes.Int64
	case g.allIntSyn:
		// Integers beyond int64: keep the digits rather than round them.
		return arrow.BinaryTypes.String
	case g.canFloat:
		return arrow.PrimitiveTypes.Float64
	case g.canBool:
		return arrow.FixedWidthTypes.Boolean
	case g.canDate:
		return arrow.FixedWidthTypes.Date32
	case g.canTS:
		return TimestampType
	}
	return arrow.BinaryTypes.String
}

// InferSchema reads the header and samples up to sampleRows data rows
// (sampleRows <= 0: all rows) to pick each column's type. The first type that
// every non-null sampled value parses as wins, in this order:
//
//   - int64: [+-]?digits within the int64 range. A column of integers some
//     of which do not fit int64 is string (not float64), so that large
//     identifiers keep their digits.
//   - float64: anything strconv.ParseFloat accepts (including NaN, Inf).
//   - bool: true/false, any case (1/0 stay int64).
//   - date32: YYYY-MM-DD.
//   - timestamp (arrow.Microsecond, "UTC"): YYYY-MM-DD[T ]HH:MM:SS[.ffffff]
//     [Z|±HH:MM]; a column mixing dates and timestamps is timestamp.
//   - string otherwise.
//
// Nulls (NullValues, quoted or not) are ignored; a column with no non-null
// value is string. overrides maps column names to types that replace the
// inferred ones (an override naming no column is an error). Values are not
// trimmed: " 1" is a string. The reader r is consumed: reopen or seek the
// input before NewReader.
func InferSchema(r io.Reader, opts ReadOptions, sampleRows int, overrides map[string]arrow.DataType) (*arrow.Schema, error) {
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	rr := newRecordReader(cfg, r, 64<<10)
	names, hline, err := rr.header()
	if err != nil {
		return nil, err
	}
	rr.names = names
	guesses := make([]colGuess, len(names))
	observe := func(fields []fieldRef, line int64) error {
		if len(fields) != len(names) {
			w := "header has"
			if !cfg.Header {
				w = "first row has"
			}
			return cfg.errf(line, "", "row has %d fields, %s %d", len(fields), w, len(names))
		}
		for i, f := range fields {
			v := rr.value(f)
			if cfg.isNull(v) {
				continue
			}
			guesses[i].observe(v)
		}
		return nil
	}
	all, remaining := sampleRows <= 0, sampleRows
	if !cfg.Header {
		// The header call consumed the first data row: its fields are
		// still in the buffer.
		if err := observe(rr.fields, hline); err != nil {
			return nil, err
		}
		remaining--
	}
	for ; all || remaining > 0; remaining-- {
		fields, line, err := rr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := observe(fields, line); err != nil {
			return nil, err
		}
	}
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		fields[i] = arrow.Field{Name: name, Type: guesses[i].dataType(), Nullable: true}
	}
	used := 0
	for i := range fields {
		if t, ok := overrides[fields[i].Name]; ok {
			if _, ok := kindOf(t); !ok {
				return nil, cfg.errf(0, fields[i].Name, "unsupported override type %s", t)
			}
			fields[i].Type = t
			used++
		}
	}
	if used < len(overrides) {
		for name := range overrides {
			found := false
			for _, n := range names {
				found = found || n == name
			}
			if !found {
				return nil, cfg.errf(0, "", "type override for unknown column '%s'", name)
			}
		}
	}
	return arrow.NewSchema(fields, nil), nil
}
