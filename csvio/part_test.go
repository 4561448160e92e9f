package csvio

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// plannedOrigin returns a CSVOrigin reading path, planned by a job.
func plannedOrigin(t *testing.T, path string, configure func(*CSVOrigin)) *CSVOrigin {
	t.Helper()
	st := openstage.New("reader", func(o *CSVOrigin) {
		o.Path = openstage.Strings{path}
		if configure != nil {
			configure(o)
		}
	})
	dst := openstage.New[CSVDestination]("writer", func(d *CSVDestination) { d.Path = filepath.Join(t.TempDir(), "out.csv") })
	st.AddOutputPipe(openstage.NewPipe("p")).SetDestination(dst)
	if err := openstage.NewJob("parts", st).Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st.Component().(*CSVOrigin)
}

func readParts(t *testing.T, o *CSVOrigin, parts []Part) string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var b strings.Builder
	for _, p := range parts {
		err := o.ReadPart(context.Background(), mem, p, func(rec arrow.RecordBatch, reject bool) error {
			defer rec.Release()
			if reject {
				t.Fatalf("unexpected reject batch")
			}
			w := NewWriter(&b, rec.Schema(), WriteOptions{})
			if err := w.Write(rec); err != nil {
				return err
			}
			return w.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestPartsReadAsWhole: cut into small parts (quoted newlines and
// delimiters inside fields), the parts read back to the rows of the file,
// in order, and each part starts at a record boundary.
func TestPartsReadAsWhole(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("id,note,amount\n")
	for i := range 500 {
		switch i % 5 {
		case 0:
			src.WriteString(itoa(i) + ",\"two\nlines, and \"\"quotes\"\"\",1.5\n")
		case 1:
			src.WriteString(itoa(i) + ",plain,2\n")
		case 2:
			src.WriteString(itoa(i) + ",\"\n\n\",3\r\n")
		default:
			src.WriteString(itoa(i) + ",\"a,b\",4\n")
		}
	}
	path := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	o := plannedOrigin(t, path, nil)
	whole, err := o.Parts(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 1 || whole[0].Line != 2 {
		t.Fatalf("one big part: got %+v", whole)
	}
	want := readParts(t, o, whole)
	for _, size := range []int64{1, 7, 64, 1000} {
		parts, err := o.Parts(size)
		if err != nil {
			t.Fatal(err)
		}
		if size < 64 && len(parts) < 400 {
			t.Fatalf("size %d: only %d parts", size, len(parts))
		}
		data := []byte(src.String())
		for i, p := range parts {
			if i > 0 && parts[i-1].Offset+parts[i-1].Length != p.Offset {
				t.Fatalf("size %d: part %d does not follow the previous one", size, i)
			}
			if p.Offset > 0 && data[p.Offset-1] != '\n' {
				t.Fatalf("size %d: part %d starts after %q", size, i, data[p.Offset-1])
			}
			if got := int64(strings.Count(string(data[:p.Offset]), "\n")) + 1; got != p.Line {
				t.Fatalf("size %d: part %d starts on line %d, says %d", size, i, got, p.Line)
			}
		}
		if got := readParts(t, o, parts); got != want {
			t.Fatalf("size %d: parts read differently from the whole file", size)
		}
	}
}

// TestPartErrorNamesFileLine: a bad value deep in a later part is reported
// with the file's own line number.
func TestPartErrorNamesFileLine(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("id,v\n")
	for i := range 2000 {
		if i == 1500 {
			src.WriteString("1500,\"multi\nline\"\n")
			continue
		}
		src.WriteString(itoa(i) + "," + itoa(i*2) + "\n")
	}
	src.WriteString("2000,notanumber\n")
	path := filepath.Join(dir, "in.csv")
	os.WriteFile(path, []byte(src.String()), 0o644)
	o2 := plannedOrigin(t, path, func(o *CSVOrigin) { o.SampleRows = 100 })
	parts, err := o2.Parts(1000)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for _, p := range parts {
		if err := o2.ReadPart(context.Background(), memory.DefaultAllocator, p, func(rec arrow.RecordBatch, _ bool) error { rec.Release(); return nil }); err != nil {
			last = err
		}
	}
	// header line 1, 2000 rows of which one spans two lines: the bad row is on line 2003.
	if last == nil || !strings.Contains(last.Error(), "in.csv:2003: column 'v'") {
		t.Fatalf("got %v", last)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
