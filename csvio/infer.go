package csvio

import (
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// TimestampType is the arrow type of timestamp columns: microseconds, UTC.
var TimestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// inference state of one column. A type is a candidate while every
// sampled value is of that type and written the way CSVDestination would
// write it back (in one form for the whole column): inference never
// changes a value's text.
type colGuess struct {
	seen      bool // a non-null value was seen
	canInt    bool // canonical integers within int64
	anyInt    bool // every value parses as an integer (a declared int64 column)
	allIntSyn bool // every value is [+-]?digits (some may overflow int64 or have leading zeros)
	canFloat  bool // parses as float64
	shortest  bool // ... and every value is the shortest text of its float
	repr      bool // ... or every value is as Python's repr writes it
	decimals  int  // ... or every value has this many decimals (-1: not so)
	canBool   bool
	boolCase  int // boolLower, boolUpper, boolTitle; -1: mixed or other
	canDate   bool
	canTS     bool
	tsSet     bool
	ts        tsForm
	tsFrac    int  // fraction digits common to all values; -1: they differ
	tsTrim    bool // every fraction has no trailing zero
}

func (g *colGuess) observe(v []byte) {
	if !g.seen {
		*g = colGuess{seen: true, canInt: true, anyInt: true, allIntSyn: true, canFloat: true, shortest: true, repr: true, decimals: -2,
			canBool: true, boolCase: -2, canDate: true, canTS: true, tsTrim: true}
	}
	if g.canInt || g.anyInt || g.allIntSyn {
		_, ok, _ := parseInt64(v)
		if !ok {
			g.canInt, g.anyInt = false, false
			if g.allIntSyn && !isIntSyntax(v) {
				g.allIntSyn = false
			}
		} else if !canonicalInt(v) {
			g.canInt = false
		}
	}
	if g.canFloat {
		if f, ok := parseFloat64(v); !ok {
			g.canFloat = false
		} else {
			var buf [40]byte
			if g.shortest && string(appendFloat(buf[:0], f)) != string(v) {
				g.shortest = false
			}
			if g.repr && string(appendRepr(buf[:0], f)) != string(v) {
				g.repr = false
			}
			if g.decimals != -1 {
				d := plainDecimals(v)
				if d <= 0 || g.decimals >= 0 && d != g.decimals || string(appendFixed(buf[:0], f, d)) != string(v) {
					g.decimals = -1
				} else {
					g.decimals = d
				}
			}
			if !g.shortest && !g.repr && g.decimals == -1 {
				g.canFloat = false
			}
		}
	}
	if g.canBool {
		c := boolSpelling(v)
		if c < 0 || g.boolCase >= 0 && c != g.boolCase {
			g.canBool = false
		} else {
			g.boolCase = c
		}
	}
	if g.canDate {
		if _, ok := parseDate32(v); !ok {
			g.canDate = false
		}
	}
	if g.canTS {
		t, ok := parseTimestampParts(v)
		switch {
		case !ok || t.dateOnly:
			g.canTS = false
		case !g.tsSet:
			g.tsSet = true
			g.ts = tsForm{sep: t.sep, seconds: t.seconds, zone: t.zone, offset: t.offset}
			g.tsFrac = t.frac
			g.tsTrim = t.fracTrim
		case t.sep != g.ts.sep || t.seconds != g.ts.seconds || t.zone != g.ts.zone || t.offset != g.ts.offset:
			g.canTS = false
		default:
			if t.frac != g.tsFrac {
				g.tsFrac = -1
			}
			g.tsTrim = g.tsTrim && t.fracTrim
			if g.tsFrac == -1 && !g.tsTrim {
				g.canTS = false // neither one width nor the shortest digits
			}
		}
	}
}

// plainDecimals returns the number of digits after the point of a plain
// decimal -?(0|[1-9][0-9]*)\.[0-9]+, or 0.
func plainDecimals(v []byte) int {
	i := 0
	if len(v) > 0 && v[0] == '-' {
		i = 1
	}
	s := i
	for i < len(v) && v[i]-'0' <= 9 {
		i++
	}
	if i == s || i-s > 1 && v[s] == '0' || i >= len(v) || v[i] != '.' {
		return 0
	}
	i++
	f := i
	for i < len(v) && v[i]-'0' <= 9 {
		i++
	}
	if i != len(v) {
		return 0
	}
	return i - f
}

// boolSpelling returns the case of a true/false value, -1 for anything else.
func boolSpelling(v []byte) int {
	switch string(v) {
	case "true", "false":
		return boolLower
	case "TRUE", "FALSE":
		return boolUpper
	case "True", "False":
		return boolTitle
	}
	return -1
}

func (g *colGuess) dataType() arrow.DataType {
	switch {
	case !g.seen:
		return arrow.BinaryTypes.String
	case g.canInt:
		return arrow.PrimitiveTypes.Int64
	case g.allIntSyn:
		// Integers beyond int64 or with leading zeros: keep the digits.
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

// form returns the text form the sample shows for a column of kind k
// (inferred when inferred is set, declared otherwise).
func (g *colGuess) form(k colKind, inferred bool) form {
	var f form
	if !g.seen {
		return f
	}
	switch k {
	case kInt64:
		f.strictInt = inferred && g.canInt
	case kFloat64:
		switch {
		case !g.canFloat || g.shortest:
		case g.repr:
			f.repr = true
		case g.decimals > 0:
			f.decimals = g.decimals
		}
	case kBool:
		if g.canBool && g.boolCase > 0 {
			f.boolCase = uint8(g.boolCase)
		}
	case kTimestamp:
		if g.canTS {
			f.hasTS = true
			f.ts = g.ts
			f.ts.frac = g.tsFrac // one width for all, or -1: the digits each needs
		}
	}
	return f
}

// InferSchema reads the header and samples up to sampleRows data rows
// (sampleRows <= 0: all rows) to pick each column's type. Inference never
// changes a value's text: a column gets a type only when every non-null
// sampled value is of that type and CSVDestination would write it back
// exactly as it is written, in one form for the whole column (see
// FormKey). The first type that qualifies wins, in this order:
//
//   - int64: -?digits within the int64 range, without a plus sign or a
//     leading zero (0 itself is fine; 00501 and +34 stay strings, -0 too).
//     A column of integers that do not all fit int64, or that have leading
//     zeros, is string (not float64), so that identifiers keep their digits.
//   - float64: every value the shortest decimal of its float64 (1.5, 0.25,
//     1e+21, NaN, Inf, -Inf); or every value as Python's repr writes it,
//     which is how pandas, Polars and DuckDB write floats (1977.0, 915.1,
//     1e-05, nan); or every value a plain decimal with the same number of
//     decimals (12.50, 3.10: written back with two). A column mixing these
//     (1.5 and 2.50), or with 1e5, .5, 00.5 or +1.5, is string.
//   - bool: true/false, TRUE/FALSE or True/False, one spelling for the
//     column (1/0 stay int64).
//   - date32: YYYY-MM-DD.
//   - timestamp (arrow.Microsecond, "UTC"): YYYY-MM-DD, T or a space,
//     HH:MM, optional :SS, optional fraction, optional zone Z, ±HH:MM or
//     ±HHMM. Every value must have the same separator, seconds or not, and
//     zone (the same offset too; values are stored in UTC and written back
//     in that offset), and the same number of fraction digits or each the
//     digits it needs. A column mixing dates and timestamps is string.
//   - string otherwise.
//
// The forms go into the schema's metadata. A value later in the file that
// is of the column's type in another form is converted (2.5 in a column of
// 12.50 is written 2.50), except integers: a leading zero or a plus sign in
// an inferred int64 column is an error, as a value that does not convert.
// Columns in overrides get the sample's form when it has one, and no
// integer check.
//
// Nulls (NullValues, quoted or not) are ignored; a column with no non-null
// value is string. overrides maps column names to types that replace the
// inferred ones (an override naming no column is an error). Values are not
// trimmed: " 1" is a string. The reader r is consumed: reopen or seek the
// input before NewReader.
func InferSchema(r io.Reader, opts ReadOptions, sampleRows int, overrides map[string]arrow.DataType) (*arrow.Schema, error) {
	inf, err := NewInference(opts, sampleRows)
	if err != nil {
		return nil, err
	}
	if _, err := inf.Sample(r, opts.Path); err != nil {
		return nil, err
	}
	return inf.Schema(overrides)
}

// An Inference is InferSchema over several files with one header: Sample
// each in turn (it reads a file's header, and rows while the sample is not
// full), then Schema.
type Inference struct {
	cfg       *readConfig
	names     []string
	guesses   []colGuess
	all       bool
	remaining int
}

// NewInference starts an inference of sampleRows rows (<= 0: every row).
func NewInference(opts ReadOptions, sampleRows int) (*Inference, error) {
	cfg, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	return &Inference{cfg: cfg, all: sampleRows <= 0, remaining: sampleRows}, nil
}

// Full reports whether the sample has all its rows.
func (inf *Inference) Full() bool { return !inf.all && inf.remaining <= 0 }

// Sample reads the header of r (path names it in errors) and, while the
// sample is not full, its rows. It returns the file's column names; the
// first file's are the schema's, and a later file with other names is the
// caller's to report.
func (inf *Inference) Sample(r io.Reader, path string) ([]string, error) {
	cfg := *inf.cfg
	cfg.Path = path
	rr := newRecordReader(&cfg, cfg.enc.wrapReader(r), 64<<10)
	names, hline, err := rr.header()
	if err != nil {
		return nil, err
	}
	if inf.names == nil {
		inf.names = names
		inf.guesses = make([]colGuess, len(names))
	} else if len(names) != len(inf.names) {
		return names, nil
	}
	rr.names = names
	guesses := inf.guesses
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
	if !cfg.Header && !inf.Full() {
		// The header call consumed the first data row: its fields are
		// still in the buffer.
		if err := observe(rr.fields, hline); err != nil {
			return nil, err
		}
		inf.remaining--
	}
	for ; !inf.Full(); inf.remaining-- {
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
	return names, nil
}

// Schema returns the schema the sample shows, with overrides applied (see
// InferSchema).
func (inf *Inference) Schema(overrides map[string]arrow.DataType) (*arrow.Schema, error) {
	cfg := inf.cfg
	names, guesses := inf.names, inf.guesses
	if names == nil {
		return nil, errors.New("csvio: no file sampled")
	}
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		fields[i] = arrow.Field{Name: name, Type: guesses[i].dataType(), Nullable: true}
	}
	used := 0
	var mdKeys, mdValues []string
	for i := range fields {
		inferred := true
		if t, ok := overrides[fields[i].Name]; ok {
			if _, ok := kindOf(t); !ok {
				return nil, cfg.errf(0, fields[i].Name, "unsupported override type %s", t)
			}
			fields[i].Type = t
			used++
			inferred = false
		}
		k, _ := kindOf(fields[i].Type)
		if text := formText(k, guesses[i].form(k, inferred)); text != "" {
			mdKeys = append(mdKeys, FormKey+fields[i].Name)
			mdValues = append(mdValues, text)
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
	if len(mdKeys) == 0 {
		return arrow.NewSchema(fields, nil), nil
	}
	md := arrow.NewMetadata(mdKeys, mdValues)
	return arrow.NewSchema(fields, &md), nil
}
