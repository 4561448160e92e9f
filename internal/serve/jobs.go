package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/report"
	"github.com/open-stage/openstage/jobfile"
)

// Errors of Catalog.Resolve; the handlers answer 400, 403 and 404.
var (
	ErrBadPath    = errors.New("not a job file path: give the path of a job file under the folder served, with / between folders and no '..'")
	ErrOutside    = errors.New("the job file is a link to a file outside the folder served")
	ErrNoJob      = errors.New("no such job file under the folder served")
	errNotJobFile = errors.New("not a job file (a YAML file with a 'stages' list)")
)

// Problem is one validation problem of a job, for pages and the API.
type Problem struct {
	File    string `json:"file,omitempty"` // relative to the folder served when inside it
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"` // with the stage ("Filter 'high_value': ...") when it has one
}

// Where is "file:line" (or "file", or "").
func (p Problem) Where() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

func (p Problem) String() string {
	if w := p.Where(); w != "" {
		return w + ": " + p.Message
	}
	return p.Message
}

// JobInfo is a job file as the jobs page lists it.
type JobInfo struct {
	Path        string    `json:"path"` // relative to the folder served, with /
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Valid       bool      `json:"valid"`
	Problems    []Problem `json:"problems"`
	Checked     time.Time `json:"validated_at"`
}

// Catalog is the job files under one folder.
type Catalog struct {
	root     string // absolute, symlinks resolved
	registry *openstage.Registry
	timeout  time.Duration // of one job's validation

	mu    sync.Mutex
	cache map[string]*cached // by relative path
}

type cached struct {
	mod   time.Time
	size  int64
	isJob bool
	info  JobInfo
}

// NewCatalog returns the catalog of the job files under dir.
func NewCatalog(dir string, registry *openstage.Registry, validateTimeout time.Duration) (*Catalog, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("cannot serve '%s': %w", dir, errors.Unwrap(err))
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("cannot serve '%s': not a folder", dir)
	}
	if validateTimeout <= 0 {
		validateTimeout = 20 * time.Second
	}
	return &Catalog{root: root, registry: registry, timeout: validateTimeout, cache: map[string]*cached{}}, nil
}

// Root is the folder served (absolute, symlinks resolved).
func (c *Catalog) Root() string { return c.root }

func isYAML(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// skipDir reports whether the catalog leaves a folder out: hidden ones
// (.git, .openstage) and package folders.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor"
}

// checkRel checks the form of a job path from a URL (already unescaped):
// relative, with /, no empty, "." or ".." segment, no hidden folder, a
// .yaml or .yml file.
func checkRel(rel string) error {
	if rel == "" || len(rel) > 4096 || strings.ContainsAny(rel, "\x00\\") || strings.HasPrefix(rel, "/") {
		return ErrBadPath
	}
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." || (i < len(segs)-1 && skipDir(s)) || strings.HasPrefix(s, ".") {
			return ErrBadPath
		}
	}
	if !isYAML(rel) {
		return ErrBadPath
	}
	return nil
}

// within reports whether p is root or under it.
func within(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// Resolve returns the absolute path (inside the folder, as the user names
// it) and the content of the job file at rel. A path that leaves the
// folder, names a hidden folder or is not a .yaml file is ErrBadPath; a
// symlink to a file outside the folder (or through a linked folder that
// leaves it) is ErrOutside; a missing file or one that is not a job file
// is ErrNoJob.
func (c *Catalog) Resolve(rel string) (string, []byte, error) {
	if err := checkRel(rel); err != nil {
		return "", nil, err
	}
	abs := filepath.Join(c.root, filepath.FromSlash(rel))
	if !within(c.root, abs) {
		return "", nil, ErrBadPath
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", nil, ErrNoJob
	}
	if !within(c.root, real) {
		return "", nil, ErrOutside
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return "", nil, ErrNoJob
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return "", nil, ErrNoJob
	}
	if !looksLikeJob(data) {
		return "", nil, ErrNoJob
	}
	return abs, data, nil
}

// looksLikeJob reports whether a YAML file is a job file: a mapping with
// a stages key, or (when it does not parse) a file with a line starting
// "stages:", so that a job file with a YAML error is listed with it.
func looksLikeJob(data []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		for _, line := range bytes.Split(data, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("stages:")) {
				return true
			}
		}
		return false
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "stages" {
			return true
		}
	}
	return false
}

// Load builds the job at rel with parameter overrides (as --param) and a
// parameter set. It returns the File (nil when the file cannot be read or
// parsed) and the load problems, as jobfile.Load does.
func (c *Catalog) Load(rel string, params map[string]string, paramSet string) (*jobfile.File, error) {
	abs, data, err := c.Resolve(rel)
	if err != nil {
		return nil, err
	}
	return jobfile.Parse(data, abs, jobfile.Options{Params: params, ParamSet: paramSet, Registry: c.registry})
}

// validate checks a loaded job as `openstage validate` does: the file's
// problems and, when the file built a job, every problem its planning finds.
func (c *Catalog) validate(ctx context.Context, f *jobfile.File, loadErr error) []Problem {
	if loadErr != nil && (f == nil || !openstage.IsValidation(loadErr)) {
		return c.problems(loadErr)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := f.Job.Validate(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, fmt.Errorf("validation took longer than %s (a server the job connects to does not answer?)", c.timeout))
	}
	var ve *openstage.ValidationError
	if loadErr != nil && errors.As(err, &ve) {
		// A stage the file could not build is reported by the file's
		// problems; planning only adds that it was marked invalid.
		var keep []openstage.Problem
		for _, p := range ve.Problems {
			if !strings.HasSuffix(p.Err.Error(), "(MarkInvalid)") {
				keep = append(keep, p)
			}
		}
		err = nil
		if len(keep) > 0 {
			err = &openstage.ValidationError{Problems: keep}
		}
	}
	return c.problems(loadErr, err)
}

// problems merges the problems of errs, sorted by file and line (those
// without a line first), each once.
func (c *Catalog) problems(errs ...error) []Problem {
	out := []Problem{}
	seen := map[string]bool{}
	add := func(p Problem) {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var ve *openstage.ValidationError
		if !errors.As(err, &ve) {
			add(Problem{Message: err.Error()})
			continue
		}
		for _, p := range ve.Problems {
			msg := p.Err.Error()
			if p.Stage != nil {
				msg = p.Stage.String() + ": " + msg
			}
			add(Problem{File: c.relFile(p.Pos.File), Line: p.Pos.Line, Message: msg})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// relFile is a problem's file relative to the folder served when it is
// inside it.
func (c *Catalog) relFile(p string) string {
	if p == "" || !filepath.IsAbs(p) {
		return p
	}
	if r, err := filepath.Rel(c.root, p); err == nil && within(c.root, p) {
		return filepath.ToSlash(r)
	}
	return p
}

// candidate is a YAML file found by the walk.
type candidate struct {
	rel  string
	mod  time.Time
	size int64
}

// walk finds the YAML files under the folder, sorted by path. Symlinked
// files are followed when they stay in the folder; linked folders are not
// entered.
func (c *Catalog) walk() ([]candidate, error) {
	var out []candidate
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == c.root {
				return err
			}
			return nil // an unreadable folder is left out
		}
		if d.IsDir() {
			if p != c.root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || !isYAML(d.Name()) {
			return nil
		}
		real := p
		if d.Type()&fs.ModeSymlink != 0 {
			if real, err = filepath.EvalSymlinks(p); err != nil || !within(c.root, real) {
				return nil
			}
		}
		fi, err := os.Stat(real)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(c.root, p)
		out = append(out, candidate{rel: filepath.ToSlash(rel), mod: fi.ModTime(), size: fi.Size()})
		return nil
	})
	return out, err
}

// Jobs lists the job files under the folder with their validation, by
// path. A file's validation is kept until the file changes (its
// modification time or size), so a listing validates only new and changed
// files, several at once.
func (c *Catalog) Jobs(ctx context.Context) ([]JobInfo, error) {
	cands, err := c.walk()
	if err != nil {
		return nil, err
	}
	entries := make([]*cached, len(cands))
	var todo []int
	c.mu.Lock()
	for i, cd := range cands {
		if e := c.cache[cd.rel]; e != nil && e.mod.Equal(cd.mod) && e.size == cd.size {
			entries[i] = e
		} else {
			todo = append(todo, i)
		}
	}
	c.mu.Unlock()
	if len(todo) > 0 {
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for _, i := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				entries[i] = c.check(ctx, cands[i])
			}(i)
		}
		wg.Wait()
		c.mu.Lock()
		for _, i := range todo {
			c.cache[cands[i].rel] = entries[i]
		}
		c.mu.Unlock()
	}
	out := []JobInfo{}
	for _, e := range entries {
		if e.isJob {
			out = append(out, e.info)
		}
	}
	return out, nil
}

// check reads and validates one candidate.
func (c *Catalog) check(ctx context.Context, cd candidate) *cached {
	e := &cached{mod: cd.mod, size: cd.size}
	abs, data, err := c.Resolve(cd.rel)
	if err != nil {
		return e // not a job file (or gone): left out
	}
	e.isJob = true
	e.info = c.info(ctx, cd.rel, abs, data)
	return e
}

func (c *Catalog) info(ctx context.Context, rel, abs string, data []byte) JobInfo {
	f, err := jobfile.Parse(data, abs, jobfile.Options{Registry: c.registry})
	info := JobInfo{Path: rel, Name: strings.TrimSuffix(path.Base(rel), path.Ext(rel)), Checked: time.Now()}
	if f != nil {
		info.Name, info.Description = f.Name, f.Description
	}
	info.Problems = c.validate(ctx, f, err)
	info.Valid = len(info.Problems) == 0
	return info
}

// Validate validates the job at rel now (and refreshes the cached result).
func (c *Catalog) Validate(ctx context.Context, rel string) (JobInfo, error) {
	abs, data, err := c.Resolve(rel)
	if err != nil {
		return JobInfo{}, err
	}
	fi, _ := os.Stat(abs)
	info := c.info(ctx, rel, abs, data)
	if fi != nil {
		c.mu.Lock()
		c.cache[rel] = &cached{mod: fi.ModTime(), size: fi.Size(), isJob: true, info: info}
		c.mu.Unlock()
	}
	return info, nil
}

// JobDetail is what the job page and GET /api/jobs/PATH show of a job.
type JobDetail struct {
	JobInfo
	Params    []JobParam          `json:"parameters"`
	ParamSets []ParamSet          `json:"param_sets"`
	Stages    []StageInfo         `json:"stages"`
	Pipes     []report.PipeSchema `json:"pipes"`

	file *jobfile.File // the job as loaded and validated (for the graph)
}

// JobParam is a declared job parameter with its default value.
type JobParam struct {
	Name   string `json:"name"`
	Value  string `json:"value"`            // as text; "***" for a secret one
	Secret bool   `json:"secret,omitempty"` // its value goes into a secret stage parameter
	// Scalar is false for a list or mapping, which a run form cannot
	// override (--param takes a scalar).
	Scalar bool `json:"scalar"`
}

// ParamSet is one of the job file's parameter sets with the value each
// parameter has under it.
type ParamSet struct {
	Name   string            `json:"name"`
	Values map[string]string `json:"values"` // secret ones "***"
}

// StageInfo is a stage of the job with its parameters.
type StageInfo struct {
	Name   string       `json:"name"`
	Type   string       `json:"type"`
	Layer  string       `json:"layer"`
	Kind   string       `json:"kind"` // origin, node, destination
	Line   int          `json:"line,omitempty"`
	Params []StageParam `json:"parameters"`
}

// StageParam is one parameter of a stage with its value.
type StageParam struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Value     string `json:"value"` // as text; "***" for a secret one that is set
	Secret    bool   `json:"secret,omitempty"`
	AtDefault bool   `json:"at_default,omitempty"`
	Doc       string `json:"doc,omitempty"`
}

// Detail loads and validates the job at rel (its declared parameters, no
// parameter set) and describes it.
func (c *Catalog) Detail(ctx context.Context, rel string) (*JobDetail, error) {
	abs, data, err := c.Resolve(rel)
	if err != nil {
		return nil, err
	}
	opts := jobfile.Options{Registry: c.registry}
	f, loadErr := jobfile.Parse(data, abs, opts)
	d := &JobDetail{JobInfo: JobInfo{Path: rel, Name: strings.TrimSuffix(path.Base(rel), path.Ext(rel)), Checked: time.Now()},
		Params: []JobParam{}, ParamSets: []ParamSet{}, Stages: []StageInfo{}, Pipes: []report.PipeSchema{}, file: f}
	if f != nil {
		d.Name, d.Description = f.Name, f.Description
	}
	d.Problems = c.validate(ctx, f, loadErr)
	d.Valid = len(d.Problems) == 0
	if fi, err := os.Stat(abs); err == nil {
		c.mu.Lock()
		c.cache[rel] = &cached{mod: fi.ModTime(), size: fi.Size(), isJob: true, info: d.JobInfo}
		c.mu.Unlock()
	}
	if f == nil {
		return d, nil
	}
	for _, name := range sortedKeys(f.Params) {
		v := f.Params[name]
		p := JobParam{Name: name, Secret: f.IsSecretParam(name), Scalar: isScalar(v)}
		p.Value = paramText(v)
		if p.Secret {
			p.Value = report.Masked
		}
		d.Params = append(d.Params, p)
	}
	for _, set := range f.ParamSets() {
		ps := ParamSet{Name: set, Values: map[string]string{}}
		if sf, _ := jobfile.Parse(data, abs, jobfile.Options{ParamSet: set, Registry: c.registry}); sf != nil {
			for name, v := range sf.Params {
				if f.IsSecretParam(name) || sf.IsSecretParam(name) {
					ps.Values[name] = report.Masked
				} else {
					ps.Values[name] = paramText(v)
				}
			}
		}
		d.ParamSets = append(d.ParamSets, ps)
	}
	reg := c.registry
	if reg == nil {
		reg = openstage.DefaultRegistry()
	}
	for _, s := range f.Job.Stages() {
		si := StageInfo{Name: s.Name(), Type: s.Type(), Layer: string(graph.LayerOf(s)), Kind: kindName(s.Kind()), Line: s.Position().Line, Params: []StageParam{}}
		if spec, ok := reg.Lookup(s.Type()); ok {
			for _, p := range spec.Params() {
				v, ok := spec.Value(s.Component(), p.Name)
				if !ok {
					continue
				}
				sp := StageParam{Name: p.Name, Type: p.Type, Doc: p.Doc, Secret: p.Secret || strings.Contains(p.Type, "secret")}
				zero := v == nil || reflect.ValueOf(v).IsZero()
				switch {
				case sp.Secret && zero:
					sp.Value = ""
				case sp.Secret:
					sp.Value = report.Masked
				default:
					sp.Value = valueText(v)
				}
				sp.AtDefault = (p.Default != "" && sp.Value == p.Default) || (p.Default == "" && zero)
				si.Params = append(si.Params, sp)
			}
		}
		d.Stages = append(d.Stages, si)
	}
	if d.Valid {
		d.Pipes = report.Schemas(f.Job)
	}
	return d, nil
}

func kindName(k openstage.Kind) string {
	switch k {
	case openstage.KindOrigin:
		return "origin"
	case openstage.KindDestination:
		return "destination"
	}
	return "node"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any, map[any]any:
		return false
	}
	return true
}

// paramText is a job parameter's value as a run form shows it and as
// --param would give it.
func paramText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339)
	}
	if !isScalar(v) {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

// valueText is a stage parameter's value as text: strings as they are,
// lists, mappings and blocks as JSON, the rest with fmt.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	case time.Duration:
		return x.String()
	case uint8: // a "character" parameter (a CSV delimiter, quote)
		if r := rune(x); r > ' ' && r < 0x7f {
			return string(r)
		}
		return strings.Trim(strconv.QuoteRune(rune(x)), "'") // \t, \x00
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.String {
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = rv.Index(i).String()
		}
		return strings.Join(parts, ", ")
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Struct, reflect.Array, reflect.Pointer:
		b, err := json.Marshal(v)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
