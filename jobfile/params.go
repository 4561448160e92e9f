package jobfile

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/open-stage/openstage"
)

// Parameter values come, lowest precedence first, from the job's `params:`,
// the parameter set chosen with Options.ParamSet (`param_sets:` in the job
// file), the parameter file Options.ParamFile, and Options.Params (--param).
// Each layer may only set parameters the job declares.

// readParamSets keeps the `param_sets:` mapping: set name → mapping of
// parameter values.
func (l *loader) readParamSets(n *yaml.Node) {
	l.paramSets = map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			l.errorf(n.Line, "'param_sets' must be a mapping of set names to mappings of parameter values, e.g. param_sets: {prod: {min_amount: 5000}}")
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.MappingNode {
			l.errorf(v.Line, "parameter set '%s' must be a mapping of parameter names to values", k.Value)
			continue
		}
		l.paramSets[k.Value] = v
		l.setNames = append(l.setNames, k.Value)
	}
}

// applySetAndFile applies the chosen parameter set, then the parameter
// file, over the declared parameters.
func (l *loader) applySetAndFile() {
	if l.params == nil {
		l.params = map[string]*yaml.Node{}
	}
	for _, name := range l.setNames {
		// Every set is checked, not only the one chosen: a typo in the prod
		// set should not wait for the day prod runs.
		set := l.paramSets[name]
		for i := 0; i+1 < len(set.Content); i += 2 {
			if k := set.Content[i]; l.params[k.Value] == nil {
				l.errorf(k.Line, "parameter set '%s': the job declares no parameter '%s'%s", name, k.Value, declared(l.params))
			}
		}
	}
	if name := l.opts.ParamSet; name != "" {
		set, ok := l.paramSets[name]
		if !ok {
			msg := fmt.Sprintf("--param-set %s: the job has no parameter set '%s'", name, name)
			switch {
			case len(l.setNames) == 0:
				msg += " (it declares none under 'param_sets')"
			case openstage.Suggest(name, l.setNames) != "":
				msg += fmt.Sprintf(" (did you mean '%s'?)", openstage.Suggest(name, l.setNames))
			default:
				msg += "; its sets: " + strings.Join(slices.Sorted(slices.Values(l.setNames)), ", ")
			}
			l.probs = append(l.probs, openstage.Problem{Err: errors.New(msg)})
		} else {
			for i := 0; i+1 < len(set.Content); i += 2 {
				if k := set.Content[i]; l.params[k.Value] != nil {
					l.params[k.Value] = set.Content[i+1]
				}
			}
		}
	}
	if path := l.opts.ParamFile; path != "" {
		l.applyParamFile(path)
	}
}

func (l *loader) applyParamFile(path string) {
	fail := func(line int, format string, args ...any) {
		l.probs = append(l.probs, openstage.Problem{Pos: openstage.Position{File: path, Line: line}, Err: fmt.Errorf(format, args...)})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fail(0, "cannot read parameter file (--param-file): %v", errors.Unwrap(err))
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fail(yamlErrLine(err), "invalid YAML in parameter file: %s", yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), ""))
		return
	}
	if len(doc.Content) == 0 {
		return // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		fail(root.Line, "a parameter file is a mapping of parameter names to values, e.g. min_amount: 5000")
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if l.params[k.Value] == nil {
			fail(k.Line, "the job declares no parameter '%s'%s", k.Value, declared(l.params))
			continue
		}
		l.params[k.Value] = v
	}
}

// secretParam reports whether values of p must never be shown: a Secret,
// a parameter tagged secret, or a list or mapping of secrets.
func secretParam(p openstage.Param) bool {
	return p.Secret || strings.Contains(p.Type, "secret")
}

// markSecret records that job parameter name is used in a secret
// component parameter.
func (l *loader) markSecret(name string) {
	if l.secretRefs == nil {
		l.secretRefs = map[string]bool{}
	}
	l.secretRefs[name] = true
}

// SecretParams returns the names of the job parameters whose values go into
// a secret component parameter (a password, a token; a Secret-typed or
// secret-tagged parameter), sorted. A report or a log shows their values as
// ***.
func (f *File) SecretParams() []string {
	return slices.Sorted(maps.Keys(f.secretParams))
}

// IsSecretParam reports whether job parameter name goes into a secret
// component parameter.
func (f *File) IsSecretParam(name string) bool { return f.secretParams[name] }

// ParamSets returns the names of the job file's parameter sets, in file order.
func (f *File) ParamSets() []string { return f.paramSets }
