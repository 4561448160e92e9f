package serve_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/graph"
	"github.com/open-stage/openstage/internal/serve"
)

// rowOf returns the jobs page's table row of a job path.
func rowOf(t *testing.T, page, job string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr data-search="[^"]*" data-job="` + regexp.QuoteMeta(job) + `">.*?</tr>`)
	row := re.FindString(page)
	if row == "" {
		t.Fatalf("the jobs page has no row for %s", job)
	}
	return row
}

func text(s string) string {
	s = regexp.MustCompile(`<[^>]+>`).ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func TestJobsPage(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	page := s.getOK(t, "/")
	for _, job := range []string{"examples/02_split_merge_iris.yaml", "slow.yaml", "failing.yaml", "broken.yaml", "secret.yaml", "nested/deeper/params.yml"} {
		rowOf(t, page, job)
	}
	if strings.Contains(page, "params-prod.yaml") {
		t.Error("a parameter file (no stages) is listed as a job")
	}
	if n := strings.Count(page, "data-job="); n != 6 {
		t.Errorf("%d jobs listed, want 6", n)
	}
	iris := text(rowOf(t, page, "examples/02_split_merge_iris.yaml"))
	if !strings.Contains(iris, "iris_split_merge") || !strings.Contains(iris, "valid") || !strings.Contains(iris, "never run") {
		t.Errorf("Example 2's row: %s", iris)
	}
	// The invalid job: its problems with file:line.
	broken := text(rowOf(t, page, "broken.yaml"))
	if !strings.Contains(broken, "invalid") || !strings.Contains(broken, "broken.yaml:4") || !strings.Contains(broken, "unknown stage type 'Filterr'") {
		t.Errorf("the invalid job's row does not show its problem with file:line: %s", broken)
	}
	if !strings.Contains(page, "6 job files") || !strings.Contains(page, "1 invalid") {
		t.Errorf("the page's counts are wrong: %s", text(regexp.MustCompile(`(?s)<p class="sub">.*?</p>`).FindString(page)))
	}
	// The filter box without the script: ?q= filters on the server.
	filtered := s.getOK(t, "/?q=invalid")
	if n := strings.Count(filtered, "data-job="); n != 1 || !strings.Contains(filtered, `data-job="broken.yaml"`) {
		t.Errorf("?q=invalid shows %d jobs, want only broken.yaml", n)
	}
	filtered = s.getOK(t, "/?q=nested+params")
	if n := strings.Count(filtered, "data-job="); n != 1 || !strings.Contains(filtered, `data-job="nested/deeper/params.yml"`) {
		t.Errorf("?q=nested params shows %d jobs", n)
	}
	if !strings.Contains(filtered, `id="filter"`) || !strings.Contains(filtered, `<label for="filter">`) {
		t.Error("no labelled filter box")
	}

	// After a run, the job's row shows its last run: status, when, duration.
	r := s.startRun(t, map[string]any{"job": "examples/02_split_merge_iris.yaml"})
	s.waitEnd(t, r.ID)
	iris = text(rowOf(t, s.getOK(t, "/"), "examples/02_split_merge_iris.yaml"))
	if !strings.Contains(iris, "succeeded") || strings.Contains(iris, "never run") || !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d+(\.\d+)?m?s`).MatchString(iris) {
		t.Errorf("after a run, Example 2's row is: %s", iris)
	}
	if !strings.Contains(s.getOK(t, "/?q=succeeded"), `data-job="examples/02_split_merge_iris.yaml"`) {
		t.Error("the filter does not find the job by its last run's status")
	}
}

func TestJobPage(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	page := s.getOK(t, "/jobs/examples/02_split_merge_iris.yaml")
	// The graph: inline SVG, every stage in its layer's colour, every pipe.
	svg := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindString(page)
	if svg == "" {
		t.Fatal("no SVG graph on the job page")
	}
	for stage, layer := range map[string]string{"iris_reader": "extraction", "router": "routing", "combiner": "routing", "counter": "transformation", "writer": "load"} {
		re := regexp.MustCompile(`<g class="stage" data-stage="` + stage + `" data-layer="` + layer + `">.*?fill="` + graph.Colours[openstage.Layer(layer)] + `"`)
		if !re.MatchString(svg) {
			t.Errorf("stage %s is not drawn in the %s colour", stage, layer)
		}
	}
	for _, pipe := range []string{"pipe1", "p_setosa", "p_versicolor", "p_virginica", "combined", "to_csv", "to_agg", "count_pipe"} {
		if !strings.Contains(svg, `data-pipe="`+pipe+`"`) {
			t.Errorf("pipe %s is not drawn", pipe)
		}
	}
	// Stages with their types and parameters.
	body := text(page)
	for _, want := range []string{"iris_reader CSVOrigin", "router Switcher", "combiner Funnel", "counter Aggregator", "agg_type count", "mode sequence", "field species"} {
		if !strings.Contains(body, want) {
			t.Errorf("the job page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`data-param="path"><th[^>]*>path</th><td><code>[^<]*examples/data/iris.csv</code>`).MatchString(page) {
		t.Error("the reader's path parameter is not shown")
	}
	// A character parameter (a CSV delimiter) as the character, at its
	// default ",", not as its byte value.
	if !regexp.MustCompile(`data-param="delimiter"><th[^>]*>delimiter</th><td><code>,</code>`).MatchString(page) || strings.Contains(page, "<code>44</code>") {
		t.Errorf("the delimiter is not shown as ',': %s", regexp.MustCompile(`data-param="delimiter">.{0,120}`).FindString(page))
	}
	// Pipes with their columns and types.
	pipes := text(regexp.MustCompile(`(?s)<h2 id="pipes-h">.*?</section>`).FindString(page))
	for _, want := range []string{"pipe1 iris_reader → router · 5 columns", "sepal_length float64", "species string", "count_pipe counter → count_writer · 2 columns", "count int64"} {
		if !strings.Contains(pipes, want) {
			t.Errorf("the pipes section lacks %q: %s", want, pipes)
		}
	}
	// Declared parameters, and the run form filled with their defaults.
	if !strings.Contains(page, `name="p.out_dir" type="text" value="out"`) {
		t.Error("the run form has no out_dir field filled with its default")
	}
	if !strings.Contains(page, `name="csrf_token"`) {
		t.Error("the run form has no CSRF token")
	}

	// A job with parameter sets: the set is selectable; its values are shown.
	page = s.getOK(t, "/jobs/nested/deeper/params.yml")
	if !strings.Contains(page, `<option value="big">big</option>`) {
		t.Error("the parameter set is not offered in the run form")
	}
	if !strings.Contains(page, `name="p.rows" type="text" value="20"`) || !strings.Contains(page, `name="p.label" type="text" value="plain"`) {
		t.Error("the parameters' defaults are not filled in")
	}
	if !strings.Contains(page, "&#34;big&#34;:{&#34;label&#34;:&#34;plain&#34;,&#34;rows&#34;:&#34;40&#34;}") {
		t.Errorf("the form does not carry the set's values for the script: %s", regexp.MustCompile(`data-sets="[^"]*"`).FindString(page))
	}

	// An invalid job: its problems, no run form.
	code, page := s.get(t, "/jobs/broken.yaml")
	if code != http.StatusOK || !strings.Contains(text(page), "broken.yaml:4 Filterr 'f': unknown stage type 'Filterr'") && !strings.Contains(text(page), "broken.yaml:4") {
		t.Errorf("the invalid job's page: %d %s", code, text(page))
	}
	if strings.Contains(page, `id="run-form"`) {
		t.Error("an invalid job offers a run form")
	}
	if code, _ := s.get(t, "/jobs/nothere.yaml"); code != http.StatusNotFound {
		t.Errorf("a missing job: %d, want 404", code)
	}
}

func TestRunFromFormAndRunPage(t *testing.T) {
	dir := jobDir(t)
	s := start(t, dir, serve.Options{})
	tok := s.csrf(t, "/jobs/nested/deeper/params.yml")
	// Choose the set "big" and leave the fields as the form showed them:
	// the set's rows (40) apply, not the default shown (20); change label.
	code, loc, body := s.postForm(t, "/runs", url.Values{"csrf_token": {tok}, "job": {"nested/deeper/params.yml"}, "param_set": {"big"},
		"p.rows": {"20"}, "p.label": {"special"}}, nil)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") {
		t.Fatalf("POST /runs: %d %s\n%s", code, loc, body)
	}
	var id int64
	fmt.Sscanf(loc, "/runs/%d", &id)
	r := s.waitEnd(t, id)
	if r.Status != "succeeded" || r.ParamSet != "big" || r.Params["rows"] != float64(40) || r.Params["label"] != "special" {
		t.Fatalf("run: %+v", r)
	}
	if r.pipeRows("p") != 40 {
		t.Errorf("pipe p: %d rows, want 40", r.pipeRows("p"))
	}
	if !exists(filepath.Join(dir, "nested/deeper/out/special.csv")) {
		t.Error("the run did not write its output next to the job file")
	}
	page := s.getOK(t, loc)
	body = text(page)
	for _, want := range []string{"Run 1 of with_params", "succeeded", "Parameter set big", "rows 40", "label special", "job finished"} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	// The run's graph with its counts, and the stage table.
	if !regexp.MustCompile(`(?s)<g class="pipe-label" data-pipe="p">.*?<text[^>]*>p</text><text[^>]*>40 rows</text>`).MatchString(page) {
		t.Error("the run page's graph does not show 40 rows on pipe p")
	}
	if !regexp.MustCompile(`(?s)<tr data-stage="src"[^>]*>.*?<td data-f="state">done</td><td data-f="rows_in">0</td><td data-f="rows_out">40</td>`).MatchString(page) {
		t.Error("the stage table does not show src's counts")
	}
	if strings.Contains(page, `id="cancel-form"`) || strings.Contains(page, "data-events=") {
		t.Error("an ended run offers Cancel or opens an event stream")
	}
	// The runs page lists it; the job page's history too.
	if !strings.Contains(s.getOK(t, "/runs"), `<tr data-run="1">`) || !strings.Contains(s.getOK(t, "/jobs/nested/deeper/params.yml"), `<tr data-run="1">`) {
		t.Error("the run is not in the history lists")
	}
	if code, _ := s.get(t, "/runs/99"); code != http.StatusNotFound {
		t.Errorf("GET /runs/99: %d, want 404", code)
	}
	if code, _ := s.get(t, "/runs/x"); code != http.StatusNotFound {
		t.Errorf("GET /runs/x: %d, want 404", code)
	}

	// An invalid parameter value makes an invalid run, recorded with its problem.
	tok = s.csrf(t, "/jobs/nested/deeper/params.yml")
	_, loc, _ = s.postForm(t, "/runs", url.Values{"csrf_token": {tok}, "job": {"nested/deeper/params.yml"}, "p.rows": {"many"}}, nil)
	fmt.Sscanf(loc, "/runs/%d", &id)
	r = s.waitEnd(t, id)
	if r.Status != "invalid" || !strings.Contains(r.Error, "rows") {
		t.Errorf("a run with rows=many: %s %q", r.Status, r.Error)
	}
	if !strings.Contains(text(s.getOK(t, loc)), "invalid") {
		t.Error("the invalid run's page does not say so")
	}
}

func TestStaticAssetsAndHeaders(t *testing.T) {
	s := start(t, jobDir(t), serve.Options{})
	for path, want := range map[string]string{"/static/app.js": "EventSource", "/static/style.css": "@media (max-width: 640px)"} {
		body := s.getOK(t, path)
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	_, body, h := s.do(t, "GET", "/", nil, nil)
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", h)
	}
	// Nothing comes from elsewhere: no CDN, no external font.
	for _, ext := range []string{"http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, ""), ext) {
			t.Errorf("the jobs page refers to %s", ext)
		}
	}
	if !strings.Contains(body, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
		t.Error("no viewport meta: not usable at phone width")
	}
	if !strings.Contains(body, `class="skip" href="#main"`) {
		t.Error("no skip link for keyboard users")
	}
}

func TestDirectoryMustExist(t *testing.T) {
	if _, err := serve.New(serve.Options{Dir: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "cannot serve") {
		t.Errorf("a missing folder: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := serve.New(serve.Options{Dir: f}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a file as the folder: %v", err)
	}
}
