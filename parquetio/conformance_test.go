package parquetio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

func TestParquetOriginConformance(t *testing.T) {
	dir := t.TempDir()
	full, empty := filepath.Join(dir, "full.parquet"), filepath.Join(dir, "empty.parquet")
	mustWrite(t, full, openstagetest.DefaultSchema, openstagetest.DefaultRows(), 10, func(d *ParquetDestination) { d.RowGroupRows = 10 })
	mustWrite(t, empty, openstagetest.DefaultSchema, nil, 10)
	origin := func(path string) func(*testing.T) any {
		return func(*testing.T) any {
			return openstage.New("", func(o *ParquetOrigin) { o.Path = path; o.BatchRows = 10 }).Component()
		}
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: origin(full), Empty: origin(empty)})
}

func TestParquetDestinationConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.parquet")
	openstagetest.TestDestination(t, openstagetest.DestinationCase{
		New: func(*testing.T) any {
			return openstage.New("", func(d *ParquetDestination) { d.Path = path }).Component()
		},
		Read: func(t *testing.T) ([][]any, bool) {
			if _, err := os.Stat(path); err != nil {
				return nil, false
			}
			return mustRead(t, path).Rows, true
		},
	})
}
