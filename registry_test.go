package openstage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jobfile"
	"github.com/open-stage/openstage/openstagetest"
)

// Conn is a shared parameter block, as a connector family declares it once
// and embeds it in its origin and destination.
type Conn struct {
	Host     string           `param:"host" default:"localhost" doc:"Server host."`
	Port     int              `param:"port" default:"5432" doc:"Server port."`
	Password openstage.Secret `param:"password" doc:"Password."`
}

// counter is a custom origin: it sends Rows integers and, if Fail is set,
// fails quoting its password, as a careless driver would.
type counter struct {
	Conn
	Rows int    `param:"rows" required:"true" doc:"How many rows."`
	Mode string `param:"mode" default:"plain" enum:"plain,fancy" doc:"A mode."`
	Fail bool   `param:"fail" doc:"Fail while running, quoting the password."`
}

func (c *counter) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(openstage.NewSchema("n", openstage.Int64))
	return nil
}

func (c *counter) Pump(ctx context.Context, out *openstage.Outputs) error {
	if c.Fail {
		return fmt.Errorf("connecting to %s:%d with password %s: refused", c.Host, c.Port, c.Password.Reveal())
	}
	b := openstage.NewBuilder(out.Allocator(), openstage.NewSchema("n", openstage.Int64))
	defer b.Release()
	for i := range c.Rows {
		b.Append(int64(i))
	}
	rec := b.Build()
	defer rec.Release()
	return out.Send(ctx, rec)
}

func ownRegistry(t *testing.T) *openstage.Registry {
	t.Helper()
	r := openstage.NewRegistry()
	for _, spec := range []openstage.Spec{
		{Type: "Counter", Layer: openstage.Extraction, Summary: "Counts.", New: func() any { return &counter{} }},
		{Type: "Collect", Layer: openstage.Load, Summary: "Keeps rows.", New: func() any { return &openstagetest.Sink{} }},
	} {
		if err := r.Register(spec); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func writeJob(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOwnRegistry(t *testing.T) {
	r := ownRegistry(t)
	if got := strings.Join(r.Types(), ","); got != "Collect,Counter" {
		t.Fatalf("Types() = %s", got)
	}
	path := writeJob(t, `name: own
stages:
  - {name: src, type: Counter, rows: 5, host: db.example, port: 6000}
  - {name: dst, type: Collect}
pipes:
  - {name: p, from: src, to: dst}
`)
	f, err := jobfile.Load(path, jobfile.Options{Registry: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := f.Job.Stage("src")
	if src.Type() != "Counter" {
		t.Fatalf("stage type %q, want Counter", src.Type())
	}
	c := src.Component().(*counter)
	if c.Host != "db.example" || c.Port != 6000 || c.Mode != "plain" {
		t.Fatalf("embedded block decoded as %+v", c.Conn)
	}
	if rows := f.Job.Stage("dst").Component().(*openstagetest.Sink).Rows; len(rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(rows))
	}

	// The default registry's components are not in this one, and this
	// one's are not in the default registry.
	other := writeJob(t, `name: other
stages:
  - {name: src, type: Generator, rows: 5}
  - {name: dst, type: Collect}
pipes:
  - {name: p, from: src, to: dst}
`)
	if _, err := jobfile.Load(other, jobfile.Options{Registry: r}); err == nil || !strings.Contains(err.Error(), "unknown stage type 'Generator'") {
		t.Fatalf("a type outside the registry was accepted: %v", err)
	}
	if _, ok := openstage.DefaultRegistry().Lookup("Counter"); ok {
		t.Fatal("a component of a private registry leaked into the default registry")
	}
}

func TestRegisterErrors(t *testing.T) {
	r := ownRegistry(t)
	err := r.Register(openstage.Spec{Type: "Counter", New: func() any { return &counter{} }})
	if err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Fatalf("duplicate type: %v", err)
	}
	type badEnum struct {
		Mode int `param:"mode" enum:"a,b"`
	}
	err = r.Register(openstage.Spec{Type: "BadEnum", New: func() any { return &badEnum{} }})
	if err == nil || !strings.Contains(err.Error(), "enum needs a string field") {
		t.Fatalf("enum on an int: %v", err)
	}
	type twice struct {
		Conn
		Host string `param:"host"`
	}
	err = r.Register(openstage.Spec{Type: "Twice", New: func() any { return &twice{} }})
	if err == nil || !strings.Contains(err.Error(), "parameter 'host' is declared twice") {
		t.Fatalf("a parameter declared by the block and the component: %v", err)
	}
	if err := r.RegisterFunction("f", func() {}); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterFunction("f", func() {}); err == nil {
		t.Fatal("a function registered twice was accepted")
	}
}

func TestEmbeddedBlockParams(t *testing.T) {
	spec, ok := ownRegistry(t).Lookup("Counter")
	if !ok {
		t.Fatal("no Counter")
	}
	var names []string
	for _, p := range spec.Params() {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "host,port,password,rows,mode,fail" {
		t.Fatalf("params = %s", got)
	}
	if p, _ := spec.Param("password"); !p.Secret || p.Type != "secret string" {
		t.Fatalf("password param = %+v", p)
	}
}

// A job built in Go gets the same required and enum checks as a job file.
func TestRequiredAndEnumAtPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *counter
		want string
	}{
		{"required", &counter{Mode: "plain"}, "counter 'src': parameter 'rows' is required: how many rows"},
		{"enum", &counter{Rows: 1, Mode: "fancy!"}, "counter 'src': parameter 'mode': 'fancy!' is not one of plain, fancy (did you mean 'fancy'?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := openstage.NewStage("src", tc.c)
			src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("dst", &openstagetest.Sink{}))
			err := openstage.NewJob("j", src).Validate(context.Background())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
			if !openstage.IsValidation(err) {
				t.Fatalf("not a validation error: %v", err)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2-very-secret"
	s := openstage.NewSecret(pw)
	type holder struct {
		Password openstage.Secret
		hidden   openstage.Secret
	}
	h := holder{Password: s, hidden: s}
	js, _ := json.Marshal(h)
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "password", s)
	for _, shown := range []string{
		s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", h, h, h), string(js), logged.String(),
	} {
		if strings.Contains(shown, pw) || !strings.Contains(shown, "***") {
			t.Fatalf("secret shown: %s", shown)
		}
	}
	if s.Reveal() != pw {
		t.Fatal("Reveal lost the value")
	}
	if openstage.NewSecret("").String() != "" {
		t.Fatal("an empty secret should print as empty")
	}

	// A component that quotes its secret in an error: the job masks it.
	src := openstage.NewStage("src", &counter{Conn: Conn{Host: "h", Port: 1, Password: s}, Rows: 1, Mode: "plain", Fail: true})
	src.AddOutputPipe(openstage.NewPipe("p")).SetDestination(openstage.NewStage("dst", &openstagetest.Sink{}))
	job := openstage.NewJob("j", src)
	err := job.Run(context.Background())
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "password ***: refused") {
		t.Fatalf("run error: %v", err)
	}
	var se *openstage.StageError
	if !errorsAs(err, &se) || se.Stage.Name() != "src" {
		t.Fatalf("the masked error lost its type: %T", err)
	}
	if strings.Contains(fmt.Sprintf("%+v", job.Summary()), pw) {
		t.Fatal("secret in the run summary")
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
