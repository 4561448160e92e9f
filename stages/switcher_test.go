package stages_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jobfile"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var switcherSchema = openstage.NewSchema("species", openstage.String, "n", openstage.Int64)

var switcherRows = [][]any{
	{"setosa", int64(1)},
	{"versicolor", int64(2)},
	{"virginica", int64(3)},
	{nil, int64(4)},
	{"Ünknown", int64(5)},
	{"setosa", int64(6)},
	{"virginica", int64(7)},
}

var switcherMapping = stages.SwitcherMapping{"setosa": "p1", "versicolor": "p2", "virginica": "p2"}

func switcherInput(batch int, rows [][]any) []openstagetest.Input {
	return []openstagetest.Input{{Pipe: "in", Schema: switcherSchema, Rows: rows, BatchRows: batch}}
}

func TestSwitcherRoutes(t *testing.T) {
	p1 := [][]any{{"setosa", int64(1)}, {"setosa", int64(6)}}
	p2 := [][]any{{"versicolor", int64(2)}, {"virginica", int64(3)}, {"virginica", int64(7)}}
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("default/batch%d", batch), func(t *testing.T) {
			s := &stages.Switcher{Field: "species", Mapping: switcherMapping, Default: "other"}
			res := routeRun(t, s, switcherInput(batch, switcherRows), "p1", "p2", "other")
			routeEqualRows(t, res.Outputs["p1"].Rows, p1)
			routeEqualRows(t, res.Outputs["p2"].Rows, p2)
			routeEqualRows(t, res.Outputs["other"].Rows, [][]any{{nil, int64(4)}, {"Ünknown", int64(5)}})
			if got := fmt.Sprint(routeColumns(res.Outputs["other"].Schema)); got != "[species:string n:int64]" {
				t.Fatalf("columns = %s", got)
			}
			st, _ := res.Summary.Stage("stage")
			if _, ok := st.Counters["unmatched"]; ok {
				t.Fatalf("counters = %v: no unmatched counter with a default pipe", st.Counters)
			}
		})
		t.Run(fmt.Sprintf("unmatched counted/batch%d", batch), func(t *testing.T) {
			s := &stages.Switcher{Field: "species", Mapping: switcherMapping}
			res := routeRun(t, s, switcherInput(batch, switcherRows), "p1", "p2")
			routeEqualRows(t, res.Outputs["p1"].Rows, p1)
			routeEqualRows(t, res.Outputs["p2"].Rows, p2)
			st, _ := res.Summary.Stage("stage")
			if st.Counters["unmatched"] != 2 || st.RowsIn != 7 || st.RowsOut != 5 {
				t.Fatalf("counters %v, rows in %d, out %d; want unmatched=2, 7 in, 5 out", st.Counters, st.RowsIn, st.RowsOut)
			}
		})
		t.Run(fmt.Sprintf("on_unmatched fail/batch%d", batch), func(t *testing.T) {
			s := &stages.Switcher{Field: "species", Mapping: switcherMapping, OnUnmatched: "fail"}
			got := routeErr(t, s, switcherInput(batch, switcherRows), "p1", "p2")
			if want := "Switcher 'stage': row 4: field 'species' is null, which matches no mapping, and there is no default pipe"; got != want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, want)
			}
			got = routeErr(t, s, switcherInput(batch, append(switcherRows[:3:3], switcherRows[4:]...)), "p1", "p2")
			if want := "Switcher 'stage': row 4: value 'Ünknown' of field 'species' matches no mapping and there is no default pipe"; got != want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
	t.Run("empty input", func(t *testing.T) {
		res := routeRun(t, &stages.Switcher{Field: "species", Mapping: switcherMapping}, switcherInput(0, nil), "p1", "p2")
		if len(res.Outputs["p1"].Rows)+len(res.Outputs["p2"].Rows) != 0 {
			t.Fatal("rows out of nothing")
		}
		if st, _ := res.Summary.Stage("stage"); st.Counters["unmatched"] != 0 {
			t.Fatalf("counters = %v", st.Counters)
		}
	})
	t.Run("one row", func(t *testing.T) {
		res := routeRun(t, &stages.Switcher{Field: "species", Mapping: switcherMapping}, switcherInput(0, switcherRows[1:2]), "p1", "p2")
		routeEqualRows(t, res.Outputs["p2"].Rows, switcherRows[1:2])
		routeEqualRows(t, res.Outputs["p1"].Rows, nil)
	})
}

func TestSwitcherFieldTypes(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name    string
		typ     arrow.DataType
		mapping stages.SwitcherMapping
		values  []any
		want    []string // pipe of each value, "" for unmatched
	}{
		{"int64", openstage.Int64, stages.SwitcherMapping{"1": "a", " -2 ": "b"}, []any{int64(1), int64(-2), int64(3), nil}, []string{"a", "b", "", ""}},
		{"float64", openstage.Float64, stages.SwitcherMapping{"1.5": "a", "-0": "b"}, []any{1.5, 0.0, math.Copysign(0, -1), math.NaN(), nil}, []string{"a", "b", "b", "", ""}},
		{"bool", openstage.Bool, stages.SwitcherMapping{"true": "a", "false": "b"}, []any{true, false, nil}, []string{"a", "b", ""}},
		{"date", openstage.Date, stages.SwitcherMapping{"2024-01-02": "a", "2024-01-03": "b"}, []any{day(2), day(3), day(4), nil}, []string{"a", "b", "", ""}},
		{"timestamp", openstage.Timestamp, stages.SwitcherMapping{"2024-01-02T00:00:00Z": "a", "2024-01-03 00:00:00": "b"}, []any{day(2), day(3), day(2).Add(time.Microsecond)}, []string{"a", "b", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := openstage.NewSchema("v", tc.typ, "i", openstage.Int64)
			var rows [][]any
			want := map[string][][]any{}
			for i, v := range tc.values {
				rows = append(rows, []any{v, int64(i)})
				if tc.want[i] != "" {
					want[tc.want[i]] = append(want[tc.want[i]], []any{int64(i)})
				}
			}
			s := &stages.Switcher{Field: "v", Mapping: tc.mapping}
			res := routeRun(t, s, []openstagetest.Input{{Pipe: "in", Schema: schema, Rows: rows, BatchRows: 2}}, "a", "b")
			for _, pipe := range []string{"a", "b"} {
				var got [][]any
				for _, r := range res.Outputs[pipe].Rows {
					got = append(got, r[1:])
				}
				routeEqualRows(t, got, want[pipe])
			}
		})
	}
}

func TestSwitcherValidation(t *testing.T) {
	typed := openstage.NewSchema("species", openstage.String, "n", openstage.Int64, "d", openstage.Date, "b", openstage.Bool, "f", openstage.Float64)
	cases := []struct {
		name     string
		switcher stages.Switcher
		outputs  []string
		want     string
	}{
		{"field not found", stages.Switcher{Field: "specie", Mapping: switcherMapping}, []string{"p1", "p2"},
			"Switcher 'stage': field 'specie' not found; available columns: species, n, d, b, f (did you mean 'species'?)"},
		{"no field", stages.Switcher{Mapping: switcherMapping}, []string{"p1", "p2"},
			"Switcher 'stage': parameter 'field' is required: column whose value chooses the output pipe"},
		{"empty mapping", stages.Switcher{Field: "species"}, []string{"p1", "p2"},
			"Switcher 'stage': parameter 'mapping' is required: value of field -> name of the output pipe for its rows. Several values may map to the same pipe"},
		{"mapping pipe not an output", stages.Switcher{Field: "species", Mapping: stages.SwitcherMapping{"setosa": "p_setosa", "virginica": "p2"}}, []string{"p_setos", "p2"},
			"Switcher 'stage': mapping sends 'setosa' to pipe 'p_setosa', which is not an output of this stage; outputs: 'p_setos', 'p2' (did you mean 'p_setos'?)"},
		{"output never named", stages.Switcher{Field: "species", Mapping: switcherMapping}, []string{"p1", "p2", "p3"},
			"Switcher 'stage': output pipe 'p3' is named in neither mapping nor default, so it would never receive rows; map a value to it or remove it"},
		{"default not an output", stages.Switcher{Field: "species", Mapping: switcherMapping, Default: "rest"}, []string{"p1", "p2"},
			"Switcher 'stage': default pipe 'rest' is not connected to this stage; its outputs are 'p1', 'p2'"},
		{"fail with default", stages.Switcher{Field: "species", Mapping: switcherMapping, Default: "p1", OnUnmatched: "fail"}, []string{"p1", "p2"},
			"Switcher 'stage': on_unmatched: fail has no effect with a default pipe ('p1' receives every unmatched row); remove one of them"},
		{"bad on_unmatched", stages.Switcher{Field: "species", Mapping: switcherMapping, OnUnmatched: "ignore"}, []string{"p1", "p2"},
			"Switcher 'stage': parameter 'on_unmatched': 'ignore' is not one of drop, fail"},
		{"int key", stages.Switcher{Field: "n", Mapping: stages.SwitcherMapping{"1": "p1", "abc": "p2"}}, []string{"p1", "p2"},
			"Switcher 'stage': mapping key 'abc' is not a valid value for field 'n', which is int64"},
		{"same int twice", stages.Switcher{Field: "n", Mapping: stages.SwitcherMapping{"1": "p1", "01": "p2"}}, []string{"p1", "p2"},
			"Switcher 'stage': mapping keys '01' and '1' are the same int64 value 1; keep one"},
		{"date key", stages.Switcher{Field: "d", Mapping: stages.SwitcherMapping{"2024-01-02T10:00:00Z": "p1", "2024-01-03": "p2"}}, []string{"p1", "p2"},
			"Switcher 'stage': mapping key '2024-01-02T10:00:00Z' is not a valid value for field 'd', which is date; write dates as 2006-01-02"},
		{"bool key", stages.Switcher{Field: "b", Mapping: stages.SwitcherMapping{"yes": "p1", "false": "p2"}}, []string{"p1", "p2"},
			"Switcher 'stage': mapping key 'yes' is not a valid value for field 'b', which is bool; write true or false"},
		{"NaN key", stages.Switcher{Field: "f", Mapping: stages.SwitcherMapping{"NaN": "p1", "1": "p2"}}, []string{"p1", "p2"},
			"Switcher 'stage': mapping key 'NaN' is not a valid value for field 'f', which is float64; NaN equals no value; null and NaN rows go to the default pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.switcher
			got := routeErr(t, &s, []openstagetest.Input{{Pipe: "in", Schema: typed}}, tc.outputs...)
			if got != tc.want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// Job files give the mapping as YAML decodes it: map[string]any, or
// map[any]any when a key is not a string.
func TestSwitcherMappingDecode(t *testing.T) {
	spec, ok := openstage.DefaultRegistry().Lookup("Switcher")
	if !ok {
		t.Fatal("Switcher is not registered")
	}
	cases := []struct {
		name  string
		value any
		want  string
		err   string
	}{
		{name: "strings", value: map[string]any{"setosa": "p1", "virginica": "p2"}, want: "map[setosa:p1 virginica:p2]"},
		{name: "numbers and bools", value: map[any]any{1: "p1", 2.5: "p2", true: "p3"}, want: "map[1:p1 2.5:p2 true:p3]"},
		{name: "null key", value: map[any]any{nil: "p1"}, err: "parameter 'mapping': a key is null; null values go to the default pipe"},
		{name: "pipe not a string", value: map[string]any{"a": 3}, err: "parameter 'mapping': key 'a': must be the name of an output pipe, got 3"},
		{name: "not a mapping", value: []any{"a"}, err: "parameter 'mapping': must be a mapping of value to output pipe, got []interface {}"},
		{name: "same text twice", value: map[any]any{1: "p1", "1": "p2"}, err: "parameter 'mapping': key '1' appears twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &stages.Switcher{}
			err := spec.Set(s, "mapping", tc.value)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(map[string]string(s.Mapping)); got != tc.want {
				t.Fatalf("mapping = %s, want %s", got, tc.want)
			}
		})
	}
	if p, _ := spec.Param("mapping"); p.Type != "map of value to output pipe" {
		t.Fatalf("mapping's type is shown as %q", p.Type)
	}
}

func TestNewSwitcher(t *testing.T) {
	s := stages.NewSwitcher("router", "species", map[string]string{"setosa": "p1"})
	sw := s.Component().(*stages.Switcher)
	if s.Type() != "Switcher" || sw.Field != "species" || sw.Mapping["setosa"] != "p1" || sw.OnUnmatched != "drop" {
		t.Fatalf("NewSwitcher gave %s %+v", s.Type(), *sw)
	}
}

// The parameters of the routing and joining stages as a YAML job file
// gives them.
func TestRouteJobFileParams(t *testing.T) {
	f, err := jobfile.Parse([]byte(`name: params
stages:
  - name: router
    type: Switcher
    field: size
    mapping:
      1: small
      2: small
      10: big
      true: odd
    default: rest
    on_unmatched: fail
  - name: join
    type: Joiner
    left: a
    right: b
    key: [country, year]
    join_type: outer
    suffixes: [_l, _r]
    build: left
  - name: lookup
    type: Lookup
    reference: users
    key: user_id
    reference_key: id
    columns: [name]
    on_miss: reject
    reject: missing
  - name: combine
    type: Funnel
    mode: sequence
  - name: copy
    type: Copy
pipes: []
`), "params.yaml", jobfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	comp := func(name string) any { return f.Job.Stage(name).Component() }
	sw := comp("router").(*stages.Switcher)
	j := comp("join").(*stages.Joiner)
	l := comp("lookup").(*stages.Lookup)
	fn := comp("combine").(*stages.Funnel)
	got := []string{
		fmt.Sprint(sw.Field, " ", map[string]string(sw.Mapping), " ", sw.Default, " ", sw.OnUnmatched),
		fmt.Sprint(j.Left, " ", j.Right, " ", j.Key, " ", j.JoinType, " ", j.Suffixes, " ", j.Build),
		fmt.Sprint(l.Reference, " ", l.Key, " ", l.ReferenceKey, " ", l.Columns, " ", l.OnMiss, " ", l.Reject),
		fn.Mode,
		f.Job.Stage("copy").Type(),
	}
	want := []string{
		"size map[1:small 10:big 2:small true:odd] rest fail",
		"a b [country year] outer [_l _r] left",
		"users [user_id] [id] [name] reject missing",
		"sequence",
		"Copy",
	}
	routeEqualRows(t, [][]any{{strings.Join(got, "\n")}}, [][]any{{strings.Join(want, "\n")}})
}
