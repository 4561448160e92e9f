package parquetio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

func TestDestinationErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.parquet")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "no", "such")
	for _, tt := range []struct {
		name      string
		schema    *arrow.Schema
		configure func(*ParquetDestination)
		want      string
	}{
		{"missing output folder", abc, func(d *ParquetDestination) { d.Path = filepath.Join(missingDir, "out.parquet") },
			"ParquetDestination 'writer': output folder '" + missingDir + "' does not exist; create it (mkdir -p " + missingDir + ") or change 'path'"},
		{"if_exists fail", abc, func(d *ParquetDestination) { d.Path = existing; d.IfExists = "fail" },
			"ParquetDestination 'writer': '" + existing + "' already exists and if_exists is fail; remove it or use if_exists: replace"},
		{"path is a folder", abc, func(d *ParquetDestination) { d.Path = dir },
			"ParquetDestination 'writer': '" + dir + "' is a folder; 'path' must name a file"},
		{"append", abc, func(d *ParquetDestination) { d.Path = existing; d.IfExists = "append" },
			"ParquetDestination 'writer': parameter 'if_exists': 'append' is not one of replace, fail (append is not possible for Parquet: a Parquet file ends with a footer describing all its rows, so adding rows means rewriting it; use replace, or write one file per run)"},
		{"unknown compression", abc, func(d *ParquetDestination) { d.Path = existing; d.Compression = "lz4" },
			"ParquetDestination 'writer': parameter 'compression': 'lz4' is not one of snappy, zstd, gzip, none"},
		{"negative row groups", abc, func(d *ParquetDestination) { d.Path = existing; d.RowGroupRows = -1 },
			"ParquetDestination 'writer': row_group_rows must be 1 or more (or 0 for the default), got -1"},
		{"type parquet cannot hold", openstage.NewSchema("id", openstage.Int64, "wait", arrow.FixedWidthTypes.Duration_s), func(d *ParquetDestination) { d.Path = existing },
			"ParquetDestination 'writer': column 'wait' has type duration[s], which Parquet cannot hold"},
		{"empty path", abc, func(d *ParquetDestination) {},
			"ParquetDestination 'writer': parameter 'path' is required: the Parquet file to write"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := writeFile(t, "", tt.schema, nil, 0, tt.configure)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("\ngot  %v\nwant %s", err, tt.want)
			}
			if !openstage.IsValidation(err) {
				t.Fatalf("not a validation error: %v", err)
			}
			if got, _ := os.ReadFile(existing); string(got) != "old" {
				t.Fatalf("the existing file changed: %q", got)
			}
		})
	}
	if got, want := dirEntries(t, dir), []string{"existing.parquet"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("files left: %v, want %v", got, want)
	}
}

func TestIfExistsReplace(t *testing.T) {
	path := tempPath(t, "out.parquet")
	mustWrite(t, path, abc, abcRows(10), 0)
	mustWrite(t, path, abc, abcRows(3), 0)
	if got := len(mustRead(t, path).Rows); got != 3 {
		t.Fatalf("rows after replace: got %d, want 3", got)
	}
	// fail with no file there writes it.
	other := filepath.Join(filepath.Dir(path), "new.parquet")
	mustWrite(t, other, abc, abcRows(2), 0, func(d *ParquetDestination) { d.IfExists = "fail" })
	if got := len(mustRead(t, other).Rows); got != 2 {
		t.Fatalf("rows: got %d, want 2", got)
	}
}

// TestFailedJob: when the upstream stage fails after sending rows, the
// target is not created, or left as it was, and no temporary file remains.
func TestFailedJob(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := "new file"
		if existing {
			name = "existing file"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.parquet")
			if existing {
				mustWrite(t, path, abc, abcRows(7), 0)
			}
			before, _ := os.ReadFile(path)

			src := openstage.NewStage("source", &failingSource{openstagetest.Source{Schema: abc, Rows: abcRows(50_000), BatchRows: 10_000}})
			// Small row groups so that complete row groups were written
			// to the temporary file before the failure.
			dst := openstage.New("writer", func(d *ParquetDestination) { d.Path = path; d.RowGroupRows = 10_000 })
			src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(dst)
			err := runJob(t, src)
			if !errors.Is(err, errBoom) || err.Error() != "failingSource 'source': boom" {
				t.Fatalf("got %v, want the source's failure", err)
			}

			want := []string(nil)
			if existing {
				want = []string{"out.parquet"}
			}
			if got := dirEntries(t, dir); !reflect.DeepEqual(got, want) {
				t.Fatalf("files: got %v, want %v", got, want)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Fatalf("the target changed")
			}
			if existing {
				if got := len(mustRead(t, path).Rows); got != 7 {
					t.Fatalf("rows of the old file: got %d, want 7", got)
				}
			}
		})
	}
}

// TestNothingVisibleBeforeCommit: while the job runs, the target does not
// exist yet; it appears whole at commit.
func TestNothingVisibleBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.parquet")
	src := openstage.NewStage("source", &openstagetest.Source{Schema: abc, Rows: abcRows(1000), BatchRows: 100})
	d := &ParquetDestination{Path: path}
	dst := openstage.NewStage("writer", d)
	src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(dst)
	probe := &commitProbe{path: path}
	// A committer placed before the writer in the job's order runs its
	// Commit first: the target must not exist then.
	probeStage := openstage.NewStage("probe", probe)
	src2 := openstage.NewStage("source2", &openstagetest.Source{Schema: abc, Rows: abcRows(1)})
	src2.AddOutputPipe(openstage.NewPipe("rows2")).SetDestination(probeStage)
	if err := runJob(t, src2, src); err != nil {
		t.Fatal(err)
	}
	if !probe.committed || probe.existed {
		t.Fatalf("probe: committed %v, target existed before the writer's commit %v", probe.committed, probe.existed)
	}
	if got := len(mustRead(t, path).Rows); got != 1000 {
		t.Fatalf("rows: got %d, want 1000", got)
	}
}

// commitProbe is a committer that records whether path exists when its
// Commit runs.
type commitProbe struct {
	counter
	path               string
	committed, existed bool
}

func (p *commitProbe) Commit(context.Context) error {
	p.committed = true
	_, err := os.Stat(p.path)
	p.existed = err == nil
	return nil
}

func (p *commitProbe) Abort() error { return nil }

// lyingSource declares one schema and sends batches of another.
type lyingSource struct {
	declared, sent *arrow.Schema
	rows           [][]any
}

func (s *lyingSource) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(s.declared)
	return nil
}

func (s *lyingSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	src := openstagetest.Source{Schema: s.sent, Rows: s.rows}
	return src.Pump(ctx, out)
}

func TestBatchSchemaChecked(t *testing.T) {
	withMeta := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: openstage.Int64, Nullable: true, Metadata: arrow.NewMetadata([]string{"k"}, []string{"v"})},
		{Name: "b", Type: openstage.String, Nullable: true},
		{Name: "c", Type: openstage.String, Nullable: false},
	}, nil)
	wrongType := openstage.NewSchema("a", openstage.Int64, "b", openstage.Int64, "c", openstage.String)
	for _, tt := range []struct {
		name string
		sent *arrow.Schema
		rows [][]any
		want string // "" for success
	}{
		{"same types, other metadata", withMeta, abcRows(3), ""},
		{"another type", wrongType, [][]any{{int64(1), int64(2), "x"}}, "ParquetDestination 'writer': writing '%s': column 'b' of a batch has type int64, the planned schema utf8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.parquet")
			src := openstage.NewStage("source", &lyingSource{declared: abc, sent: tt.sent, rows: tt.rows})
			src.AddOutputPipe(openstage.NewPipe("rows")).SetDestination(NewParquetDestination("writer", path))
			err := runJob(t, src)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := mustRead(t, path).Rows; !reflect.DeepEqual(got, tt.rows) {
					t.Fatalf("got %v, want %v", got, tt.rows)
				}
				return
			}
			if want := fmt.Sprintf(tt.want, path); err == nil || err.Error() != want {
				t.Fatalf("\ngot  %v\nwant %s", err, want)
			}
			if got := dirEntries(t, dir); len(got) != 0 {
				t.Fatalf("files left: %v", got)
			}
		})
	}
}
