package beam

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-stage/openstage/internal/benchdata"
)

// TestExamples: the seed's Examples 1, 2 and 4 (examples/, on their CSV
// data) give on Prism the files the local engine writes. Example 4's
// join output is compared as sorted lines (see TestShuffleStages).
func TestExamples(t *testing.T) {
	for _, c := range []struct {
		file      string
		unordered []string
	}{
		{"01_simple_filter.yaml", nil},
		{"02_split_merge_iris.yaml", nil},
		{"04_users_orders_join.yaml", []string{"high_value_orders.csv"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("..", "examples", c.file)
			dir := t.TempDir()
			local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
			runLocal(t, path, local, nil)
			if _, err := runPrism(context.Background(), t, path, prism, nil, 256); err != nil {
				t.Fatal(err)
			}
			sameFiles(t, local, prism, c.unordered...)
		})
	}
}

// TestBenchWorkloads: the peer benchmark's jobs W1-W4 (bench/jobs) on a
// small orders file and users file give on Prism the local engine's
// output; W2's join is compared as sorted lines.
func TestBenchWorkloads(t *testing.T) {
	// Data shaped like the shared benchmark's generator (gen.py, outside
	// the repository), written by internal/benchdata.
	data := t.TempDir()
	if err := benchdata.Write(data, 20000); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		job       string
		unordered []string
	}{
		{"w1.yaml", nil}, {"w2.yaml", []string{"w2.csv"}}, {"w3.yaml", nil}, {"w4.yaml", nil},
	} {
		t.Run(c.job, func(t *testing.T) {
			path := filepath.Join("..", "bench", "jobs", c.job)
			dir := t.TempDir()
			local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
			params := map[string]string{"in_dir": data}
			runLocal(t, path, local, params)
			if _, err := runPrism(context.Background(), t, path, prism, params, 64<<10); err != nil {
				t.Fatal(err)
			}
			sameFiles(t, local, prism, c.unordered...)
		})
	}
}
