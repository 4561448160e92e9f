package beam

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
)

// The run summary's rows and batches per pipe are counted as data, not
// with Beam's metrics: each pipe's batches are tallied, summed per pipe by
// a combine, and the sums written to files the launcher reads once the
// pipeline has succeeded. Prism (v2.78.0) can lose a counter's value: when
// two bundles report a counter whose short id it has not resolved yet, the
// second payload replaces the first (jobservices/metrics.go,
// unprocessedPayloads[d][short] = payload), so under load a stage's
// rows_out came out as half the rows it wrote. A sum in the pipeline
// itself is exact on every runner and, being written under the pipe's own
// name, the same when a bundle is retried.

func init() {
	register.DoFn2x0[Elem, func(string, int64)](&tallyFn{})
	register.DoFn2x1[string, int64, error](&writeTallyFn{})
	register.Emitter2[string, int64]()
}

// tallyFn emits each batch's rows and one batch under its pipe's keys.
// Every element of a pipe is made by stageBase.send, which sets Rows.
type tallyFn struct{ Pipe string }

func (f *tallyFn) ProcessElement(e Elem, emit func(string, int64)) {
	emit(f.Pipe+"|rows", e.Rows)
	emit(f.Pipe+"|batches", 1)
}

// writeTallyFn writes one pipe's sum to a file named by its key.
type writeTallyFn struct{ Dir string }

func (f *writeTallyFn) ProcessElement(key string, n int64) error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.Dir, ".tally-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(strconv.FormatInt(n, 10))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(f.Dir, hex.EncodeToString([]byte(key))))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// tallies adds the counting of every pipe to the pipeline.
func (b *builder) tallies() {
	s := b.scope.Scope("openstage_tally")
	var cols []beamsdk.PCollection
	for _, p := range b.job.Pipes() {
		col, ok := b.pcols[p.Name()]
		if !ok {
			continue
		}
		cols = append(cols, beamsdk.ParDo(s, &tallyFn{Pipe: p.Name()}, col))
	}
	if len(cols) == 0 {
		return
	}
	beamsdk.ParDo0(s, &writeTallyFn{Dir: tallyDir(b.parts)}, stats.SumPerKey(s, beamsdk.Flatten(s, cols...)))
}

func tallyDir(parts string) string { return filepath.Join(parts, "tally") }

// pipeTally is the rows and batches of each pipe, as the pipeline counted them.
type pipeTally struct{ rows, batches map[string]int64 }

// readTally reads the sums the pipeline wrote; a pipe without a file had
// no batch.
func readTally(parts string) (pipeTally, error) {
	t := pipeTally{rows: map[string]int64{}, batches: map[string]int64{}}
	entries, err := os.ReadDir(tallyDir(parts))
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	for _, e := range entries {
		key, err := hex.DecodeString(e.Name())
		if err != nil {
			continue // a temporary file
		}
		data, err := os.ReadFile(filepath.Join(tallyDir(parts), e.Name()))
		if err != nil {
			return t, err
		}
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return t, fmt.Errorf("the run's count %s: %w", key, err)
		}
		pipe, kind, _ := strings.Cut(string(key), "|")
		switch kind {
		case "rows":
			t.rows[pipe] = n
		case "batches":
			t.batches[pipe] = n
		}
	}
	return t, nil
}
