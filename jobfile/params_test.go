package jobfile_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jobfile"
)

// login is an origin with secret parameters, to check which job
// parameters jobfile marks secret.
type login struct {
	User     string            `param:"user"`
	Password openstage.Secret  `param:"password"`
	Token    string            `param:"token" secret:"true"`
	Headers  map[string]string `param:"headers"`
}

func (*login) Plan(context.Context, *openstage.Plan) error    { return nil }
func (*login) Pump(context.Context, *openstage.Outputs) error { return nil }
func loginRegistry(t *testing.T) *openstage.Registry {
	r := openstage.NewRegistry()
	if err := r.Register(openstage.Spec{Type: "Login", Layer: openstage.Extraction, Summary: "test", New: func() any { return &login{} }}); err != nil {
		t.Fatal(err)
	}
	return r
}

const withSets = `name: sets
params:
  min_amount: 1000
  label: default
  pw: hunter22
  tok: abc
  user: ana
param_sets:
  prod: {min_amount: 5000, label: production}
  test:
    min_amount: 1
stages:
  - name: src
    type: Login
    user: ${user}
    password: ${pw}
    token: "Bearer ${tok}"
`

func TestParamSetsAndFile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "params.yaml")
	os.WriteFile(pf, []byte("label: \"007\"\nuser: bo\n"), 0o644)
	reg := loginRegistry(t)
	cases := []struct {
		name string
		opts jobfile.Options
		want map[string]any
	}{
		{"declared", jobfile.Options{}, map[string]any{"min_amount": 1000, "label": "default", "user": "ana"}},
		{"set", jobfile.Options{ParamSet: "prod"}, map[string]any{"min_amount": 5000, "label": "production"}},
		{"set then file", jobfile.Options{ParamSet: "prod", ParamFile: pf}, map[string]any{"min_amount": 5000, "label": "007", "user": "bo"}},
		{"set, file, then --param", jobfile.Options{ParamSet: "test", ParamFile: pf, Params: map[string]string{"label": "x", "min_amount": "2"}}, map[string]any{"min_amount": 2, "label": "x", "user": "bo"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Registry = reg
			f, err := jobfile.Parse([]byte(withSets), "sets.yaml", c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.want {
				if f.Params[k] != v {
					t.Errorf("%s = %#v, want %#v", k, f.Params[k], v)
				}
			}
			if got := strings.Join(f.ParamSets(), ","); got != "prod,test" {
				t.Errorf("ParamSets = %s", got)
			}
			if got := strings.Join(f.SecretParams(), ","); got != "pw,tok" {
				t.Errorf("SecretParams = %s, want pw,tok", got)
			}
			if got := f.Job.Stage("src").Component().(*login).User; got != c.want["user"] && c.want["user"] != nil {
				t.Errorf("user = %s", got)
			}
		})
	}
}

func TestParamSetAndFileProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("label: x\nmin_amout: 3\n"), 0o644)
	list := filepath.Join(dir, "list.yaml")
	os.WriteFile(list, []byte("- a\n- b\n"), 0o644)
	typo := strings.Replace(withSets, "test:\n    min_amount: 1", "test:\n    min_amont: 1", 1)
	cases := []struct {
		name string
		data string
		opts jobfile.Options
		want string
	}{
		{"unknown set", withSets, jobfile.Options{ParamSet: "prdo"}, "--param-set prdo: the job has no parameter set 'prdo' (did you mean 'prod'?)"},
		{"no sets", good, jobfile.Options{ParamSet: "prod"}, "--param-set prod: the job has no parameter set 'prod' (it declares none under 'param_sets')"},
		{"undeclared in a set", typo, jobfile.Options{}, "sets.yaml:11: parameter set 'test': the job declares no parameter 'min_amont'; declared: label, min_amount, pw, tok, user"},
		{"undeclared in the file", withSets, jobfile.Options{ParamFile: bad}, bad + ":2: the job declares no parameter 'min_amout'; declared: label, min_amount, pw, tok, user"},
		{"file is a list", withSets, jobfile.Options{ParamFile: list}, list + ":1: a parameter file is a mapping of parameter names to values"},
		{"missing file", withSets, jobfile.Options{ParamFile: filepath.Join(dir, "nope.yaml")}, "nope.yaml: cannot read parameter file (--param-file): no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Registry = loginRegistry(t)
			if c.data == good {
				c.opts.Registry = nil
			}
			_, err := jobfile.Parse([]byte(c.data), "sets.yaml", c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
