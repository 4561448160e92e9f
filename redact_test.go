package openstage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/open-stage/openstage/jobfile"
)

// Job.Redact masks the secrets the last Validate found in the stages'
// parameters, for text the engine never sees (a front end's stored log).
func TestJobRedact(t *testing.T) {
	path := writeJob(t, `name: redact
stages:
  - {name: src, type: Counter, rows: 1, password: s3cr3t-pw}
  - {name: dst, type: Collect}
pipes:
  - {name: p, from: src, to: dst}
`)
	f, err := jobfile.Load(path, jobfile.Options{Registry: ownRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	line := "level=INFO msg=connecting dsn=postgres://u:s3cr3t-pw@db/x"
	if got := f.Job.Redact(line); got != line {
		t.Fatalf("before Validate, Redact changed %q to %q", line, got)
	}
	if err := f.Job.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.Job.Redact(line)
	if strings.Contains(got, "s3cr3t-pw") || !strings.Contains(got, "postgres://u:***@db/x") {
		t.Fatalf("Redact(%q) = %q", line, got)
	}
}
