// Package excelio holds the Excel stages, on github.com/xuri/excelize/v2:
// ExcelOrigin reads one sheet of an .xlsx workbook (or a range of it) with
// the column types its cells have, ExcelDestination writes a sheet,
// atomically.
package excelio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/xuri/excelize/v2"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/atomicfile"
	"github.com/open-stage/openstage/internal/fileio"
)

// ExcelOrigin reads one sheet of an .xlsx workbook. Column types come from
// the cells: numbers are int64 when every one is a whole number, float64
// otherwise; numbers with a date format are date (or timestamp when a time
// of day is shown or present); booleans bool; text string. A column whose
// cells mix kinds is string, holding each cell's text as Excel shows it.
// Formulas give their cached result. Empty cells are null.
type ExcelOrigin struct {
	Path        string            `param:"path" path:"true" required:"true" doc:"The .xlsx workbook to read."`
	Sheet       string            `param:"sheet" doc:"The sheet to read (default: the first)."`
	Range       string            `param:"range" doc:"The cells to read, as A1:F200 (default: the sheet's used area)."`
	Header      bool              `param:"header" default:"true" doc:"Whether the header row holds the column names (otherwise columns are column_1, column_2, ...)."`
	HeaderRow   int               `param:"header_row" default:"0" doc:"Sheet row number of the header; the data starts below it (0: the first row of range, or of the sheet)."`
	ColumnTypes map[string]string `param:"column_types" doc:"Column name → type (int64, float64, bool, string, date, timestamp), overriding the types of the cells."`
	BatchRows   int               `param:"batch_rows" default:"65536" doc:"Rows per batch."`

	schema *arrow.Schema
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "ExcelOrigin",
		Layer:   openstage.Extraction,
		Summary: "Reads a sheet of an Excel workbook (.xlsx), with the column types of its cells.",
		New:     func() any { return &ExcelOrigin{} },
		Example: `- name: budget_reader
  type: ExcelOrigin
  path: data/budget.xlsx
  sheet: "2025"
  range: A3:F200`,
	})
	openstage.MustRegister(openstage.Spec{
		Type:    "ExcelDestination",
		Layer:   openstage.Load,
		Summary: "Writes a sheet of an Excel workbook (.xlsx) atomically, with typed cells.",
		New:     func() any { return &ExcelDestination{} },
		Example: `- name: report_writer
  type: ExcelDestination
  path: out/report.xlsx
  sheet: totals`,
	})
}

// Connectivity implements openstage's optional interface: one output.
func (o *ExcelOrigin) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinOut: 1, MaxOut: 1}
}

// cellKind is what a cell holds, for inference.
type cellKind uint8

const (
	ckEmpty cellKind = iota
	ckInt
	ckFloat
	ckBool
	ckDate
	ckTimestamp
	ckString
)

// cell is one cell read: its kind, its raw value and its text as shown.
type cell struct {
	kind cellKind
	raw  string
	text string
}

// sheetData is the cells of the range, a row per slice.
type sheetData struct {
	names []string
	rows  [][]cell
	lines []int // sheet row number of each row
}

func (o *ExcelOrigin) read() (*sheetData, error) {
	f, err := excelize.OpenFile(o.Path)
	if err != nil {
		if _, serr := fileio.OpenFile(o.Path); serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("'%s' is not an .xlsx workbook excelize can read: %v", o.Path, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	sheet := o.Sheet
	if sheet == "" {
		if len(sheets) == 0 {
			return nil, fmt.Errorf("'%s' has no sheet", o.Path)
		}
		sheet = sheets[0]
	} else if !slices.Contains(sheets, sheet) {
		msg := fmt.Sprintf("sheet '%s' is not in '%s'; its sheets: %s", sheet, o.Path, strings.Join(sheets, ", "))
		if s := openstage.Suggest(sheet, sheets); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return nil, errors.New(msg)
	}
	props, _ := f.GetWorkbookProps()
	date1904 := props.Date1904 != nil && *props.Date1904
	c0, r0, c1, r1 := 1, 1, math.MaxInt32, math.MaxInt32
	if o.Range != "" {
		a, b, ok := strings.Cut(o.Range, ":")
		var e1, e2, e3 error
		c0, r0, e1 = excelize.CellNameToCoordinates(a)
		if ok {
			c1, r1, e2 = excelize.CellNameToCoordinates(b)
		} else {
			e3 = errors.New("no ':'")
		}
		if e1 != nil || e2 != nil || e3 != nil || c1 < c0 || r1 < r0 {
			return nil, fmt.Errorf("range '%s' is not a range of cells such as A1:F200", o.Range)
		}
	}
	header := r0
	if o.HeaderRow > 0 {
		if o.HeaderRow < r0 || o.HeaderRow > r1 {
			return nil, fmt.Errorf("header_row %d is outside range %s", o.HeaderRow, o.Range)
		}
		header = o.HeaderRow
	}
	raw, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, fmt.Errorf("reading sheet '%s' of '%s': %v", sheet, o.Path, err)
	}
	shown, err := f.GetRows(sheet)
	if err != nil {
		return nil, fmt.Errorf("reading sheet '%s' of '%s': %v", sheet, o.Path, err)
	}
	styles := map[int]cellKind{} // style → ckDate, ckTimestamp or ckEmpty (no date)
	width := 0
	for r := header - 1; r < min(len(raw), r1); r++ {
		width = max(width, min(len(raw[r]), c1)-(c0-1))
	}
	d := &sheetData{}
	kindOf := func(r, c int) (cell, error) {
		var v, s string
		if r < len(raw) && c < len(raw[r]) {
			v = raw[r][c]
		}
		if r < len(shown) && c < len(shown[r]) {
			s = shown[r][c]
		}
		name, _ := excelize.CoordinatesToCellName(c+1, r+1)
		if v == "" {
			// An empty cell is null; a cell holding an empty text is "".
			if t, err := f.GetCellType(sheet, name); err == nil && (t == excelize.CellTypeInlineString || t == excelize.CellTypeSharedString) {
				return cell{kind: ckString}, nil
			}
			return cell{kind: ckEmpty}, nil
		}
		t, err := f.GetCellType(sheet, name)
		if err != nil {
			return cell{}, err
		}
		switch t {
		case excelize.CellTypeBool:
			return cell{kind: ckBool, raw: v, text: s}, nil
		case excelize.CellTypeInlineString, excelize.CellTypeSharedString, excelize.CellTypeError:
			return cell{kind: ckString, raw: s, text: s}, nil
		case excelize.CellTypeDate:
			return cell{kind: ckTimestamp, raw: v, text: s}, nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return cell{kind: ckString, raw: s, text: s}, nil // a formula's text result
		}
		style, _ := f.GetCellStyle(sheet, name)
		dk, ok := styles[style]
		if !ok {
			dk = dateKind(f, style)
			styles[style] = dk
		}
		if dk == ckDate || dk == ckTimestamp {
			tm := serialTime(x, date1904)
			if dk == ckDate && (tm.Hour() != 0 || tm.Minute() != 0 || tm.Second() != 0 || tm.Nanosecond() != 0) {
				dk = ckTimestamp
			}
			return cell{kind: dk, raw: tm.Format(time.RFC3339Nano), text: s}, nil
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 && !strings.ContainsAny(v, ".eE") {
			return cell{kind: ckInt, raw: v, text: s}, nil
		}
		return cell{kind: ckFloat, raw: v, text: s}, nil
	}
	for r := header - 1; r < min(len(raw), r1); r++ {
		row := make([]cell, width)
		empty := true
		for c := range width {
			ce, err := kindOf(r, c0-1+c)
			if err != nil {
				return nil, err
			}
			row[c] = ce
			empty = empty && ce.kind == ckEmpty
		}
		if r == header-1 {
			d.names = make([]string, width)
			for c := range width {
				if o.Header {
					d.names[c] = row[c].text
					if d.names[c] == "" {
						col, _ := excelize.ColumnNumberToName(c0 + c)
						d.names[c] = col
					}
				} else {
					d.names[c] = "column_" + strconv.Itoa(c+1)
				}
			}
			if o.Header {
				continue
			}
		}
		if empty {
			continue
		}
		d.rows = append(d.rows, row)
		d.lines = append(d.lines, r+1)
	}
	if d.names == nil {
		return nil, fmt.Errorf("sheet '%s' of '%s' has no cells in %s", sheet, o.Path, orWhole(o.Range))
	}
	seen := map[string]int{}
	for i, n := range d.names {
		if j, dup := seen[n]; dup {
			return nil, fmt.Errorf("the header names column '%s' twice, in columns %d and %d of the range; rename one", n, j+1, i+1)
		}
		seen[n] = i
	}
	return d, nil
}

// serialTime converts an Excel date serial to a time, to the microsecond
// (excelize's ExcelDateToTime keeps whole seconds).
func serialTime(x float64, date1904 bool) time.Time {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	switch {
	case date1904:
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case x < 60:
		// Serials before Excel's phantom 1900-02-29.
		epoch = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	days := math.Floor(x)
	us := math.Round((x - days) * 86400e6)
	// A serial holds a time of day to about a microsecond: a value within
	// 2 µs of a whole millisecond is that millisecond (10:00:00 stays
	// 10:00:00, not 09:59:59.999999).
	if ms := math.Round(us/1000) * 1000; math.Abs(us-ms) <= 2 {
		us = ms
	}
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(us) * time.Microsecond)
}

func orWhole(r string) string {
	if r == "" {
		return "the sheet"
	}
	return "range " + r
}

// dateKind tells whether a style shows a number as a date, a date and
// time, or neither.
func dateKind(f *excelize.File, style int) cellKind {
	st, err := f.GetStyle(style)
	if err != nil || st == nil {
		return ckEmpty
	}
	switch {
	case st.NumFmt >= 14 && st.NumFmt <= 17:
		return ckDate
	case st.NumFmt == 22 || st.NumFmt >= 18 && st.NumFmt <= 21 || st.NumFmt >= 45 && st.NumFmt <= 47:
		return ckTimestamp
	}
	if st.CustomNumFmt == nil {
		return ckEmpty
	}
	// Leave out quoted text and [colour] or [$-locale] parts.
	var code strings.Builder
	inQuote, inBracket := false, false
	for _, r := range strings.ToLower(*st.CustomNumFmt) {
		switch {
		case r == '"':
			inQuote = !inQuote
		case inQuote:
		case r == '[':
			inBracket = true
		case r == ']':
			inBracket = false
		case !inBracket:
			code.WriteRune(r)
		}
	}
	c := code.String()
	hasDate := strings.ContainsAny(c, "yd") || strings.Contains(c, "mmm")
	hasTime := strings.ContainsAny(c, "hs")
	switch {
	case hasDate && hasTime:
		return ckTimestamp
	case hasDate:
		return ckDate
	}
	return ckEmpty
}

func (o *ExcelOrigin) types(d *sheetData) ([]arrow.DataType, error) {
	declared := map[string]arrow.DataType{}
	for _, name := range slices.Sorted(maps.Keys(o.ColumnTypes)) {
		t, err := openstage.ParseType(o.ColumnTypes[name])
		if err != nil {
			return nil, fmt.Errorf("column_types: column '%s': %w", name, err)
		}
		if !slices.Contains(d.names, name) {
			return nil, fmt.Errorf("column_types: column '%s' is not in the header; columns: %s", name, strings.Join(d.names, ", "))
		}
		declared[name] = t
	}
	out := make([]arrow.DataType, len(d.names))
	for c, name := range d.names {
		if t, ok := declared[name]; ok {
			out[c] = t
			continue
		}
		k := ckEmpty
		for _, row := range d.rows {
			ck := row[c].kind
			switch {
			case ck == ckEmpty || ck == k:
			case k == ckEmpty:
				k = ck
			case k == ckInt && ck == ckFloat || k == ckFloat && ck == ckInt:
				k = ckFloat
			case k == ckDate && ck == ckTimestamp || k == ckTimestamp && ck == ckDate:
				k = ckTimestamp
			default:
				k = ckString
			}
		}
		out[c] = map[cellKind]arrow.DataType{ckEmpty: openstage.String, ckInt: openstage.Int64, ckFloat: openstage.Float64,
			ckBool: openstage.Bool, ckDate: openstage.Date, ckTimestamp: openstage.Timestamp, ckString: openstage.String}[k]
	}
	return out, nil
}

// Plan implements openstage.Origin: it reads the sheet to type its columns.
func (o *ExcelOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	d, err := o.read()
	if err != nil {
		return err
	}
	types, err := o.types(d)
	if err != nil {
		return err
	}
	fields := make([]arrow.Field, len(types))
	for i, t := range types {
		fields[i] = arrow.Field{Name: d.names[i], Type: t, Nullable: true}
	}
	o.schema = arrow.NewSchema(fields, nil)
	p.SetOutputs(o.schema)
	return nil
}

// Pump implements openstage.Origin.
func (o *ExcelOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	d, err := o.read()
	if err != nil {
		return err
	}
	batch := o.BatchRows
	if batch <= 0 {
		batch = 65536
	}
	b := openstage.NewBuilder(out.Allocator(), o.schema)
	defer b.Release()
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		rec := b.Build()
		defer rec.Release()
		n = 0
		return out.Send(ctx, rec)
	}
	for i, row := range d.rows {
		for c, ce := range row {
			if ce.kind == ckEmpty {
				b.Field(c).AppendNull()
				continue
			}
			var v any
			t := o.schema.Field(c).Type
			switch {
			case t.ID() == arrow.STRING:
				v = ce.text
				if ce.kind == ckInt || ce.kind == ckFloat || ce.kind == ckBool {
					v = ce.raw // the value, not a rounded display ("0.333333")
					if ce.kind == ckBool {
						v = map[string]string{"1": "TRUE", "0": "FALSE"}[ce.raw]
					}
				}
			case ce.kind == ckInt:
				v, _ = strconv.ParseInt(ce.raw, 10, 64)
			case ce.kind == ckFloat:
				v, _ = strconv.ParseFloat(ce.raw, 64)
			case ce.kind == ckBool:
				v = ce.raw == "1" || strings.EqualFold(ce.raw, "true")
			case ce.kind == ckDate || ce.kind == ckTimestamp:
				tm, err := time.Parse(time.RFC3339Nano, ce.raw)
				if err != nil {
					v = ce.text
				} else {
					v = tm.Round(time.Microsecond)
				}
			default:
				v = ce.text
			}
			if err := openstage.AppendValue(b.Field(c), v); err != nil {
				col, _ := excelize.ColumnNumberToName(c + 1)
				return fmt.Errorf("'%s' row %d (column %s, '%s'): %v; declare another type in column_types", o.Path, d.lines[i], col, o.schema.Field(c).Name, err)
			}
		}
		n++
		if n >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// ExcelDestination writes its input to one sheet of a new .xlsx workbook,
// atomically: the workbook takes the target's place only when the whole job
// has succeeded. Cells are typed: numbers, booleans, text, dates (format
// yyyy-mm-dd) and timestamps (yyyy-mm-dd hh:mm:ss.000, in UTC); nulls are
// empty cells. Excel holds at most 1,048,576 rows a sheet: more is an error.
type ExcelDestination struct {
	Path     string `param:"path" path:"true" required:"true" doc:"The .xlsx workbook to write."`
	Sheet    string `param:"sheet" default:"Sheet1" doc:"Name of the sheet."`
	Header   bool   `param:"header" default:"true" doc:"Whether to write the column names in the first row."`
	IfExists string `param:"if_exists" default:"replace" enum:"replace,fail" doc:"What to do when the file exists: replace it, or fail."`

	schema *arrow.Schema
	file   *fileio.Output
}

// Connectivity implements openstage's optional interface: one input.
func (d *ExcelDestination) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1}
}

// Plan implements openstage.Destination.
func (d *ExcelDestination) Plan(_ context.Context, p *openstage.Plan) error {
	d.schema = p.InputSchema()
	if d.Sheet == "" || len([]rune(d.Sheet)) > 31 || strings.ContainsAny(d.Sheet, `:\/?*[]`) {
		return fmt.Errorf("sheet '%s' is not a valid sheet name (1 to 31 characters, none of : \\ / ? * [ ])", d.Sheet)
	}
	if err := fileio.CheckTypes(d.schema, "ExcelDestination cannot write"); err != nil {
		return err
	}
	_, err := atomicfile.PlanTarget(d.Path, d.IfExists, "replace")
	return err
}

const maxExcelRows = 1048576

// Sink implements openstage.Destination.
func (d *ExcelDestination) Sink(ctx context.Context, in *openstage.Inputs) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", d.Sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(d.Sheet)
	if err != nil {
		return err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14, CustomNumFmt: ptr("yyyy-mm-dd")})
	if err != nil {
		return err
	}
	tsStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm:ss.000")})
	if err != nil {
		return err
	}
	row := 1
	ncols := d.schema.NumFields()
	values := make([]any, ncols)
	if d.Header {
		for i, fl := range d.schema.Fields() {
			values[i] = fl.Name
		}
		if err := sw.SetRow("A1", values); err != nil {
			return err
		}
		row++
	}
	err = in.ForEach(ctx, func(dp openstage.DataPackage) error {
		v := openstage.View(dp.Batch)
		for r := 0; r < v.Len(); r++ {
			if row > maxExcelRows {
				return fmt.Errorf("more than %d rows: an Excel sheet holds no more; write CSV or Parquet, or split the rows over several destinations", maxExcelRows-1)
			}
			for c := range ncols {
				col := v.ColAt(c)
				if col.IsNull(r) {
					values[c] = nil
					continue
				}
				switch d.schema.Field(c).Type.ID() {
				case arrow.INT64:
					values[c] = col.Int64(r)
				case arrow.FLOAT64:
					x := col.Float64(r)
					if math.IsNaN(x) || math.IsInf(x, 0) {
						values[c] = strconv.FormatFloat(x, 'g', -1, 64) // Excel has no NaN or Inf: their text
					} else {
						values[c] = x
					}
				case arrow.BOOL:
					values[c] = col.Bool(r)
				case arrow.DATE32:
					values[c] = excelize.Cell{StyleID: dateStyle, Value: col.Time(r)}
				case arrow.TIMESTAMP:
					values[c] = excelize.Cell{StyleID: tsStyle, Value: col.Time(r)}
				default:
					values[c] = col.Str(r)
				}
			}
			name, _ := excelize.CoordinatesToCellName(1, row)
			if err := sw.SetRow(name, values); err != nil {
				return fmt.Errorf("writing row %d of '%s': %v", row, d.Path, err)
			}
			row++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	out, err := fileio.Create(d.Path, fileio.None)
	if err != nil {
		return err
	}
	d.file = out
	if _, err := f.WriteTo(out); err != nil {
		return fmt.Errorf("writing '%s': %w", d.Path, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// Commit implements openstage.Committer.
func (d *ExcelDestination) Commit(context.Context) error { return d.file.Publish(d.IfExists == "fail") }

// Abort implements openstage.Committer.
func (d *ExcelDestination) Abort() error { return d.file.Abort() }
