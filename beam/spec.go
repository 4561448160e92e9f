package beam

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/jobfile"
)

// JobSpec is what a worker needs to rebuild the job: its text and the
// command's settings. It travels inside every DoFn (JSON), so the workers
// need neither the job file nor the command line.
type JobSpec struct {
	Text        string            // the job file
	Path        string            // its absolute path: its folder anchors relative paths
	Params      map[string]string // --param
	ParamFile   string
	ParamSet    string
	Workers     int
	MemoryLimit int64
	TempDir     string
	Overwrite   bool
	// Schemas are the pipes' schemas as the launcher planned them; a
	// worker that plans differently (the input files changed) fails.
	Schemas map[string]string
}

// load rebuilds and validates the job.
func (s *JobSpec) load(ctx context.Context) (*openstage.Job, error) {
	f, err := jobfile.Parse([]byte(s.Text), s.Path, jobfile.Options{Params: s.Params, ParamFile: s.ParamFile, ParamSet: s.ParamSet})
	if err != nil {
		return nil, fmt.Errorf("loading the job on a worker: %w", err)
	}
	job := f.Job
	job.Workers = s.Workers
	job.MemoryLimit = s.MemoryLimit
	job.TempDir = s.TempDir
	if s.Overwrite {
		cli.Overwrite(job, nil, nil)
	}
	if err := job.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating the job on a worker: %w", err)
	}
	for pipe, want := range s.Schemas {
		got, _ := job.PipeSchema(pipe)
		if got == nil || schemaString(got) != want {
			return nil, fmt.Errorf("pipe '%s' has another schema on this worker than when the pipeline was built (did an input file change?): %v, not %s", pipe, got, want)
		}
	}
	return job, nil
}

func schemaString(s any) string { return fmt.Sprint(s) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
