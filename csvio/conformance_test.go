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

// TestCSVDestinationShardsConformance: with shards: 3 the three files
// (Beam's names) hold every row between them, each with the header, and
// are written atomically together.
func TestCSVDestinationShardsConformance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	shards := []string{filepath.Join(dir, "out-00000-of-00003.csv"), filepath.Join(dir, "out-00001-of-00003.csv"), filepath.Join(dir, "out-00002-of-00003.csv")}
	for i, want := range shards {
		if got := csvio.ShardPath(path, i, 3); got != want {
			t.Fatalf("ShardPath(%s, %d, 3) = %s, want %s", path, i, got, want)
		}
	}
	openstagetest.TestDestination(t, openstagetest.DestinationCase{
		New: func(*testing.T) any {
			return openstage.New("", func(d *csvio.CSVDestination) { d.Path = path; d.Shards = 3 }).Component()
		},
		Unordered: true,
		Read: func(t *testing.T) ([][]any, bool) {
			n := 0
			for _, s := range shards {
				if _, err := os.Stat(s); err == nil {
					n++
				}
			}
			if n == 0 {
				return nil, false
			}
			if n != 3 {
				t.Fatalf("%d of the 3 shards exist", n)
			}
			if _, err := os.Stat(path); err == nil {
				t.Fatalf("%s was written besides its shards", path)
			}
			types := map[string]string{"id": "int64", "name": "string", "amount": "float64", "ok": "bool", "day": "date", "at": "timestamp"}
			res, err := openstagetest.RunOrigin(t, openstage.New("", func(o *csvio.CSVOrigin) { o.Path = openstage.Strings(shards); o.ColumnTypes = types }).Component())
			if err != nil {
				t.Fatalf("reading the shards back: %v", err)
			}
			return res.Outputs["out"].Rows, true
		},
	})
	// Suffixes after the first dot stay at the end; a leading dot is the name's.
	for _, c := range [][2]string{{"a/orders.csv.gz", "a/orders-00001-of-00004.csv.gz"}, {".hidden", ".hidden-00001-of-00004"}, {"noext", "noext-00001-of-00004"}} {
		if got := csvio.ShardPath(c[0], 1, 4); got != c[1] {
			t.Errorf("ShardPath(%s, 1, 4) = %s, want %s", c[0], got, c[1])
		}
	}
}
