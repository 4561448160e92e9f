package cli

import (
	"log/slog"

	"github.com/open-stage/openstage"
)

// Overwrite is DataStage's APT_CLOBBER_OUTPUT for a run (--overwrite):
// every file destination of the job whose if_exists is fail is set to
// replace, so the run replaces existing files. A file destination is a
// destination type with a path parameter (path:"true") and an if_exists
// parameter that allows replace; append is left as the job says (it is a
// request, not a protection), and so are database destinations. It returns
// the names of the stages changed, and logs each on logger (if not nil).
func Overwrite(job *openstage.Job, reg *openstage.Registry, logger *slog.Logger) []string {
	if reg == nil {
		reg = openstage.DefaultRegistry()
	}
	var changed []string
	for _, s := range job.Stages() {
		spec, ok := reg.Lookup(s.Type())
		if !ok || s.Kind() != openstage.KindDestination || !isFileDestination(spec) {
			continue
		}
		if v, ok := spec.Value(s.Component(), "if_exists"); !ok || v != "fail" {
			continue
		}
		if err := spec.Set(s.Component(), "if_exists", "replace"); err != nil {
			continue
		}
		changed = append(changed, s.Name())
		if logger != nil {
			logger.Info("if_exists: fail replaced by replace (--overwrite)", "job", job.Name, "stage", s.Name(), "type", s.Type())
		}
	}
	return changed
}

func isFileDestination(spec *openstage.Spec) bool {
	hasPath := false
	for _, p := range spec.Params() {
		if p.Path {
			hasPath = true
		}
	}
	p, ok := spec.Param("if_exists")
	if !ok || !hasPath {
		return false
	}
	for _, e := range p.Enum {
		if e == "replace" {
			return true
		}
	}
	return false
}
