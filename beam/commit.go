package beam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// commit runs each destination of the job on its parts, in order, then
// commits them all (in topological order), as the local engine does after
// its stages: a failure aborts every destination.
func commit(ctx context.Context, job *openstage.Job, order []*openstage.Stage, parts string) error {
	var dests []*openstage.Stage
	for _, s := range order {
		if s.Kind() == openstage.KindDestination {
			dests = append(dests, s)
		}
	}
	var firstErr error
	for _, s := range dests {
		inputs := map[string]openstage.BatchSource{}
		for _, in := range s.Inputs() {
			src, err := partSource(partDir(parts, s.Name(), in.Name()))
			if err != nil {
				firstErr = err
				break
			}
			inputs[in.Name()] = src
		}
		if firstErr != nil {
			break
		}
		if _, err := job.RunStage(ctx, s.Name(), inputs, func(string, arrow.RecordBatch) error { return nil }); err != nil {
			firstErr = err
			break
		}
	}
	for _, s := range dests {
		c, ok := s.Component().(openstage.Committer)
		if !ok {
			continue
		}
		if firstErr != nil {
			if err := c.Abort(); err != nil {
				firstErr = errors.Join(firstErr, &openstage.StageError{Stage: s, Err: fmt.Errorf("removing partial output: %w", err)})
			}
			continue
		}
		if err := c.Commit(ctx); err != nil {
			firstErr = &openstage.StageError{Stage: s, Err: fmt.Errorf("commit: %w", err)}
		}
	}
	closeAll(order)
	return firstErr
}

// abort tells the destinations that nothing will be committed (they have
// written nothing: the launcher writes only at commit).
func abort(job *openstage.Job, order []*openstage.Stage) {
	closeAll(order)
}

func closeAll(order []*openstage.Stage) {
	for _, s := range order {
		if c, ok := s.Component().(openstage.Closer); ok {
			c.Close()
		}
	}
}

// partSource reads the part files of dir in the order of their names (the
// batches' positions).
func partSource(dir string) (openstage.BatchSource, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".arrow") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return func() (arrow.RecordBatch, error) {
		if len(names) == 0 {
			return nil, io.EOF
		}
		data, err := os.ReadFile(filepath.Join(dir, names[0]))
		names = names[1:]
		if err != nil {
			return nil, err
		}
		return decode(data, memory.DefaultAllocator)
	}, nil
}
