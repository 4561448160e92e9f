package excelio_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/excelio"
	"github.com/open-stage/openstage/openstagetest"
)

func origin(path string, conf ...func(*excelio.ExcelOrigin)) any {
	return openstage.New("", append([]func(*excelio.ExcelOrigin){func(o *excelio.ExcelOrigin) { o.Path = path; o.BatchRows = 10 }}, conf...)...).Component()
}

// workbook writes a workbook with excelize: a title row, a header in row 3
// and typed rows, on a sheet "data".
func workbook(t *testing.T, path string, rows int) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", "data")
	date, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	f.SetCellValue("data", "A1", "Report")
	for c, h := range []string{"id", "name", "amount", "ok", "day"} {
		cell, _ := excelize.CoordinatesToCellName(c+1, 3)
		f.SetCellValue("data", cell, h)
	}
	for i := range rows {
		r := strconv.Itoa(4 + i)
		f.SetCellValue("data", "A"+r, i+1)
		f.SetCellValue("data", "B"+r, "n"+strconv.Itoa(i))
		f.SetCellValue("data", "C"+r, float64(i)+0.25)
		f.SetCellValue("data", "D"+r, i%2 == 0)
		f.SetCellValue("data", "E"+r, time.Date(2025, 1, 1+i%28, 0, 0, 0, 0, time.UTC))
		f.SetCellStyle("data", "E"+r, "E"+r, date)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func TestExcelOriginConformance(t *testing.T) {
	dir := t.TempDir()
	workbook(t, filepath.Join(dir, "full.xlsx"), 35)
	workbook(t, filepath.Join(dir, "empty.xlsx"), 0)
	conf := func(o *excelio.ExcelOrigin) { o.Sheet = "data"; o.HeaderRow = 3 }
	openstagetest.TestOrigin(t, openstagetest.OriginCase{
		New:   func(*testing.T) any { return origin(filepath.Join(dir, "full.xlsx"), conf) },
		Empty: func(*testing.T) any { return origin(filepath.Join(dir, "empty.xlsx"), conf) },
	})
}

func TestExcelOriginTypesRangeAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.xlsx")
	workbook(t, path, 5)
	res, err := openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) { o.Range = "A3:E8" }))
	if err != nil {
		t.Fatal(err)
	}
	out := res.Outputs["out"]
	var types []string
	for _, f := range out.Schema.Fields() {
		types = append(types, f.Name+":"+openstage.TypeName(f.Type))
	}
	if got := strings.Join(types, ","); got != "id:int64,name:string,amount:float64,ok:bool,day:date" {
		t.Fatalf("schema %s", got)
	}
	if len(out.Rows) != 5 || out.Rows[0][0] != int64(1) || out.Rows[4][2] != 4.25 || out.Rows[1][3] != false {
		t.Fatalf("rows %v", out.Rows)
	}
	if d := out.Rows[2][4].(time.Time); !d.Equal(time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("day %v", d)
	}
	// A narrower range; a mixed column is text.
	res, err = openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) { o.Range = "B3:C5" }))
	if err != nil || strings.Join(openstage.ColumnNames(res.Outputs["out"].Schema), ",") != "name,amount" || len(res.Outputs["out"].Rows) != 2 {
		t.Fatalf("%v %v", err, res)
	}
	res, err = openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) { o.Range = "A1:A6"; o.Header = false }))
	if err != nil || openstage.TypeName(res.Outputs["out"].Schema.Field(0).Type) != "string" || res.Outputs["out"].Rows[0][0] != "Report" || res.Outputs["out"].Rows[2][0] != "1" {
		t.Fatalf("%v %v", err, res.Outputs["out"].Rows)
	}
	_, err = openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) { o.Sheet = "dat" }))
	if err == nil || !strings.Contains(err.Error(), "sheet 'dat' is not in") || !strings.Contains(err.Error(), "did you mean 'data'?") {
		t.Fatalf("err = %v", err)
	}
	_, err = openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) { o.Range = "A3-E8" }))
	if err == nil || !strings.Contains(err.Error(), "range 'A3-E8' is not a range of cells") {
		t.Fatalf("err = %v", err)
	}
}

func TestExcelDestinationConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	openstagetest.TestDestination(t, openstagetest.DestinationCase{
		New: func(*testing.T) any {
			return openstage.New("", func(d *excelio.ExcelDestination) { d.Path = path; d.Sheet = "rows" }).Component()
		},
		Read: func(t *testing.T) ([][]any, bool) {
			if _, err := os.Stat(path); err != nil {
				return nil, false
			}
			res, err := openstagetest.RunOrigin(t, origin(path, func(o *excelio.ExcelOrigin) {
				o.ColumnTypes = map[string]string{"id": "int64", "name": "string", "amount": "float64", "ok": "bool", "day": "date", "at": "timestamp"}
			}))
			if err != nil {
				t.Fatalf("reading %s back: %v", path, err)
			}
			return res.Outputs["out"].Rows, true
		},
	})
}

func pandas(t *testing.T, script string, args ...string) string {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import pandas, openpyxl").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pandas or openpyxl is not installed: %v", err)
		}
		t.Skip("pandas or openpyxl not installed (Debian: python3-pandas python3-openpyxl)")
	}
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pandas: %v\n%s", err, out)
	}
	return string(out)
}

// TestPandasReadsWhatExcelDestinationWrites: pandas (openpyxl) reads the
// sheet written, and every value and type is compared.
func TestPandasReadsWhatExcelDestinationWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	rows := openstagetest.DefaultRows()
	d := openstage.New("", func(d *excelio.ExcelDestination) { d.Path = path; d.Sheet = "rows" }).Component()
	if _, err := openstagetest.RunDestination(t, d, []openstagetest.Input{{Pipe: "in", Schema: openstagetest.DefaultSchema, Rows: rows, BatchRows: 7}}); err != nil {
		t.Fatal(err)
	}
	got := pandas(t, `
import sys, pandas as pd, math, datetime, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])["rows"]
print(",".join(type(c.value).__name__ for c in ws[3]))
df = pd.read_excel(sys.argv[1], sheet_name="rows", engine="openpyxl")
print(",".join(str(df[c].dtype) for c in df.columns))
for _, r in df.iterrows():
    out = []
    for c in df.columns:
        v = r[c]
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            out.append("null")
        elif isinstance(v, (pd.Timestamp, datetime.datetime)):
            out.append(pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S.%f"))
        elif isinstance(v, float):
            out.append(repr(v))
        else:
            out.append(str(v).replace("\n", "\\n"))
    print("|".join(out))
`, path)
	lines := strings.SplitN(got, "\n", 3)
	// The cells as openpyxl sees them: typed.
	if want := "int,str,float,bool,datetime,datetime"; lines[0] != want {
		t.Errorf("openpyxl cell types %s, want %s", lines[0], want)
	}
	// pandas: a bool column with an empty cell comes out as 0.0/1.0.
	if want := "int64,object,float64,float64,datetime64[ns],datetime64[ns]"; lines[1] != want {
		t.Errorf("pandas dtypes %s, want %s", lines[1], want)
	}
	var want strings.Builder
	for _, r := range rows {
		parts := make([]string, 6)
		for c, v := range r {
			switch x := v.(type) {
			case nil:
				parts[c] = "null"
			case int64:
				parts[c] = strconv.FormatInt(x, 10)
			case float64:
				parts[c] = strconv.FormatFloat(x, 'f', -1, 64)
				if !strings.Contains(parts[c], ".") {
					parts[c] += ".0"
				}
			case bool:
				parts[c] = map[bool]string{true: "1.0", false: "0.0"}[x]
			case string:
				parts[c] = strings.ReplaceAll(x, "\n", "\\n")
				if x == "" {
					parts[c] = "null" // pandas reads an empty text as NaN
				}
			case time.Time:
				// openpyxl turns serials into datetimes to the millisecond.
				parts[c] = x.Round(time.Millisecond).Format("2006-01-02T15:04:05.000000")
			}
		}
		want.WriteString(strings.Join(parts, "|") + "\n")
	}
	if lines[2] != want.String() {
		t.Errorf("pandas read\n%s\nwant\n%s", lines[2], want.String())
	}
}

// TestExcelOriginReadsWhatPandasWrites: pandas writes every type with
// openpyxl; ExcelOrigin types the columns from the cells.
func TestExcelOriginReadsWhatPandasWrites(t *testing.T) {
	dir := t.TempDir()
	pandas(t, `
import sys, pandas as pd, datetime
df = pd.DataFrame({
    "id": [1, -2, 3],
    "name": ["Ana", "José \"el\" grande", "日本語"],
    "amount": [1.5, -0.25, 1e300],
    "ok": [True, False, True],
    "day": [datetime.date(2025, 1, 31), datetime.date(1999, 12, 31), datetime.date(2024, 2, 29)],
    "at": [datetime.datetime(2025, 1, 31, 10, 0, 0), datetime.datetime(2025, 6, 30, 23, 59, 58), datetime.datetime(2000, 1, 1, 0, 0, 1)],
})
df.to_excel(sys.argv[1] + "/p.xlsx", sheet_name="frame", index=False, engine="openpyxl")
`, dir)
	res, err := openstagetest.RunOrigin(t, origin(filepath.Join(dir, "p.xlsx"), func(o *excelio.ExcelOrigin) { o.Sheet = "frame" }))
	if err != nil {
		t.Fatal(err)
	}
	out := res.Outputs["out"]
	var types []string
	for _, f := range out.Schema.Fields() {
		types = append(types, f.Name+":"+openstage.TypeName(f.Type))
	}
	// openpyxl writes a date with a date format: a date column.
	if got := strings.Join(types, ","); got != "id:int64,name:string,amount:float64,ok:bool,day:date,at:timestamp" {
		t.Fatalf("schema %s", got)
	}
	day := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	want := [][]any{
		{int64(1), "Ana", 1.5, true, day(2025, 1, 31, 0, 0, 0), day(2025, 1, 31, 10, 0, 0)},
		{int64(-2), "José \"el\" grande", -0.25, false, day(1999, 12, 31, 0, 0, 0), day(2025, 6, 30, 23, 59, 58)},
		{int64(3), "日本語", 1e300, true, day(2024, 2, 29, 0, 0, 0), day(2000, 1, 1, 0, 0, 1)},
	}
	for i := range want {
		for c := range want[i] {
			g := out.Rows[i][c]
			if gt, ok := g.(time.Time); ok {
				g = gt.UTC()
			}
			if g != want[i][c] {
				t.Errorf("row %d column %d: %#v, want %#v", i, c, g, want[i][c])
			}
		}
	}
}
