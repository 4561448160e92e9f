package csvio_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/csvio"
	"github.com/open-stage/openstage/openstagetest"
)

func TestCSVOriginConformance(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,name,amount,ok,day\n")
	for i := range 95 {
		b.WriteString(strings.Join([]string{itoa(i), []string{"a", "\"b, c\"", "日本", ""}[i%4], itoa(i*3) + ".5", []string{"true", "false"}[i%2], "2025-01-" + itoa(10+i%20)}, ",") + "\n")
	}
	full := filepath.Join(dir, "full.csv")
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(full, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("id,name,amount,ok,day\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	origin := func(path string) func(*testing.T) any {
		return func(*testing.T) any {
			return openstage.New("", func(o *csvio.CSVOrigin) { o.Path = openstage.Strings{path}; o.BatchRows = 10 }).Component()
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(full), Empty: origin(empty)})
}

func TestCSVDestinationConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	openstagetest.TestDestination(t, openstagetest.DestinationCase{
		New: func(*testing.T) any {
			return openstage.New("", func(d *csvio.CSVDestination) { d.Path = path }).Component()
		},
		Read: func(t *testing.T) ([][]any, bool) {
			if _, err := os.Stat(path); err != nil {
				return nil, false
			}
			types := map[string]string{"id": "int64", "name": "string", "amount": "float64", "ok": "bool", "day": "date", "at": "timestamp"}
			res, err := openstagetest.RunOrigin(t, openstage.New("", func(o *csvio.CSVOrigin) { o.Path = openstage.Strings{path}; o.ColumnTypes = types }).Component())
			if err != nil {
				t.Fatalf("reading %s back: %v", path, err)
			}
			return res.Outputs["out"].Rows, true
		},
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
