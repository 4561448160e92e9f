package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunnerWithoutBeam: this binary has no Beam runners, so --runner
// prism (run or validate) says exactly which command builds one, with exit
// status 2; --beam-option needs a Beam runner.
func TestRunnerWithoutBeam(t *testing.T) {
	job := "../../examples/01_simple_filter.yaml"
	for _, args := range [][]string{
		{"run", job, "--runner", "prism"},
		{"run", "--runner", "dataflow", job, "--beam-option", "project=p"},
		{"validate", job, "--runner", "spark"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr); code != ExitInvalid {
			t.Fatalf("%v: exit %d, want %d; stderr: %s", args, code, ExitInvalid, stderr.String())
		}
		if !strings.Contains(stderr.String(), "\n  "+BeamBuildCommand+"\n") {
			t.Fatalf("%v: stderr lacks the build command:\n%s", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"run", job, "--beam-option", "project=p"}, &stdout, &stderr); code != ExitInvalid || !strings.Contains(stderr.String(), "--beam-option needs --runner prism, dataflow, flink or spark") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := Main([]string{"run", job, "--runner", "mars"}, &stdout, &stderr); code != ExitInvalid || !strings.Contains(stderr.String(), `unknown --runner "mars"; use one of local, prism, dataflow, flink, spark`) {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
