package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
)

// secretValue is what no output of the command may contain.
const secretValue = "hunter2-Zq9-token"

// secretProbe is a test-only origin with a Secret parameter and a plain one
// tagged secret. Fail makes it fail at plan or run time with a message that
// quotes both (as a careless driver would): the engine must scrub them.
type secretProbe struct {
	Token    openstage.Secret `param:"token" required:"true" doc:"A token."`
	Password string           `param:"password" secret:"true" doc:"A password."`
	Fail     string           `param:"fail" enum:"no,plan,run" default:"no" doc:"When to fail."`
}

func (s *secretProbe) Plan(_ context.Context, p *openstage.Plan) error {
	if s.Fail == "plan" {
		return fmt.Errorf("login refused for token %s (password %s)", s.Token.Reveal(), s.Password)
	}
	p.SetOutputs(openstage.NewSchema("id", openstage.Int64))
	return nil
}

func (s *secretProbe) Pump(ctx context.Context, out *openstage.Outputs) error {
	if s.Fail == "run" {
		return errors.New("server said: bad token " + s.Token.Reveal() + " / " + s.Password)
	}
	b := openstage.NewBuilder(out.Allocator(), openstage.NewSchema("id", openstage.Int64))
	defer b.Release()
	if err := b.Append(int64(1)); err != nil {
		return err
	}
	rec := b.Build()
	defer rec.Release()
	return out.Send(ctx, rec)
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type: "SecretProbeTest", Layer: openstage.Extraction, Summary: "test only",
		Example: "- name: probe\n  type: SecretProbeTest\n  token: x",
		New:     func() any { return &secretProbe{} },
	})
}

// TestSecretNeverPrinted drives the command in process (so that it sees
// the test-only component) and checks that neither the Secret nor the
// secret-tagged string appears in what validate, graph, run (summary,
// --verbose log) and their errors print.
func TestSecretNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	job := func(fail string) string {
		path := filepath.Join(dir, "job_"+fail+".yaml")
		body := fmt.Sprintf(`name: secret_job
stages:
  - name: probe
    type: SecretProbeTest
    token: ${env:PROBE_TOKEN}
    password: %s
    fail: %s
  - name: out
    type: Printer
pipes:
  - {name: p, from: probe, to: out}
`, secretValue+"-pw", fail)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("PROBE_TOKEN", secretValue)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"validate", []string{"validate", job("no")}, 0},
		{"validate failing at plan", []string{"validate", job("plan")}, 2},
		{"graph mermaid", []string{"graph", job("no")}, 0},
		{"graph dot", []string{"graph", job("no"), "--format", "dot"}, 0},
		{"run with summary and log", []string{"run", job("no"), "--verbose"}, 0},
		{"run failing at plan", []string{"run", job("plan")}, 2},
		{"run failing while running", []string{"run", job("run"), "--verbose"}, 1},
		{"stages reference", []string{"stages", "SecretProbeTest"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main(c.args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, c.code, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Fatalf("the secret was printed:\n%s", out)
			}
			if len(out) == 0 {
				t.Fatal("no output at all")
			}
			if strings.Contains(c.name, "failing") && !strings.Contains(out, "***") {
				t.Fatalf("the failure should show *** where the secret was:\n%s", out)
			}
		})
	}
}
