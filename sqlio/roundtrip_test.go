package sqlio

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/openstagetest"
)

// roundTripCSV holds every column type with NULLs (empty fields), unicode,
// quotes, commas, newlines and tabs.
const roundTripCSV = `id,name,amount,ok,day,at
1,Ana,-100.5,true,2024-02-29,2024-01-31T12:34:56.123456Z
2,"José, ""el"" grande",0.1,false,1970-01-01,1970-01-01T00:00:00Z
3,日本語 🚀,12345.678,,2038-01-19,2038-01-19T03:14:07.999999Z
4,"line
break",,true,,
5,,0,false,1999-12-31,
6,"tab	here",1e-7,true,2000-01-01,2000-01-01T00:00:00.000001Z
7,Zoë,-0.25,,,1900-06-15T23:59:59Z
`

var roundTripTypes = map[string]string{"id": "int64", "name": "string", "amount": "float64", "ok": "bool", "day": "date", "at": "timestamp"}

type roundTripCase struct {
	write func(schema *arrow.Schema) any // the destination, creating its table
	read  func() any                     // an origin reading it back ordered by id
	// client returns the database's own client's view of the table: one
	// line per row, tab-separated, NULL for nulls, timestamps as
	// 2006-01-02T15:04:05.000000Z; clientBool is how it writes true and false.
	client     func() string
	clientBool [2]string
	// clientFloat writes a float as the client does (nil: strconv's 'g').
	clientFloat func(float64) string
}

func roundTrip(t *testing.T, c roundTripCase) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(roundTripCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	csvOrigin := func() *csvio.CSVOrigin {
		return openstage.New("", func(o *csvio.CSVOrigin) { o.Path = openstage.Strings{in}; o.ColumnTypes = roundTripTypes }).Component().(*csvio.CSVOrigin)
	}
	csvDest := func(path string) *openstage.Stage {
		return openstage.New("csv_writer", func(d *csvio.CSVDestination) { d.Path = path })
	}
	runJob := func(origin any, dest *openstage.Stage) {
		t.Helper()
		src := openstage.NewStage("reader", origin)
		src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(dest)
		job := openstage.NewJob("round_trip", src)
		job.Allocator = checked(t)
		if err := job.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// What CSVDestination writes of the input, unchanged.
	want := filepath.Join(dir, "want.csv")
	runJob(csvOrigin(), csvDest(want))
	// CSV → database.
	probe, err := openstagetest.RunOrigin(t, csvOrigin())
	if err != nil {
		t.Fatal(err)
	}
	runJob(csvOrigin(), openstage.NewStage("db_writer", c.write(probe.Outputs["out"].Schema)))
	// database → CSV.
	got := filepath.Join(dir, "got.csv")
	runJob(c.read(), csvDest(got))
	w, _ := os.ReadFile(want)
	g, _ := os.ReadFile(got)
	if string(w) != string(g) {
		t.Fatalf("the round trip changed the data:\nwant\n%s\ngot\n%s", w, g)
	}
	// The database's own client reads the same values.
	var lines []string
	for _, r := range probe.Outputs["out"].Rows {
		f := make([]string, len(r))
		for i, v := range r {
			switch x := v.(type) {
			case nil:
				f[i] = "NULL"
			case bool:
				f[i] = c.clientBool[0]
				if !x {
					f[i] = c.clientBool[1]
				}
			case float64:
				f[i] = strconv.FormatFloat(x, 'g', -1, 64)
				if c.clientFloat != nil {
					f[i] = c.clientFloat(x)
				}
			case interface {
				Format(string) string
			}:
				if i == 4 {
					f[i] = x.Format("2006-01-02")
				} else {
					f[i] = x.Format("2006-01-02T15:04:05.000000Z")
				}
			case string:
				f[i] = strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(x)
			default:
				f[i] = strconv.FormatInt(x.(int64), 10)
			}
		}
		lines = append(lines, strings.Join(f, "\t"))
	}
	if got, want := c.client(), strings.Join(lines, "\n")+"\n"; got != want {
		t.Fatalf("the database's client reads:\n%s\nwant\n%s", got, want)
	}
}
