package stages_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var filterSchema = openstage.NewSchema(
	"id", openstage.Int64, "name", openstage.String, "age", openstage.Int64,
	"score", openstage.Float64, "born", openstage.Date, "seen", openstage.Timestamp, "vip", openstage.Bool)

var filterRows = [][]any{
	{int64(1), "Ana", int64(25), 7.5, "1999-01-01", "2024-01-01T10:00:00Z", true},
	{int64(2), "Bob", int64(17), nil, "2007-06-15", nil, false},
	{int64(3), nil, nil, 9.25, nil, "2024-01-02T00:00:00Z", nil},
	{int64(4), "Zoë", int64(18), -1.0, "2006-03-01", "2024-01-01T00:00:00Z", true},
	{int64(5), "Émile", int64(65), 0.0, "1959-12-31", "2023-12-31T23:59:59.5Z", false},
	{int64(6), "李", int64(40), math.NaN(), "1984-02-29", "2024-01-01T10:00:00.000001Z", nil},
}

// filterIDs runs f over filterRows in batches of batchRows and returns the
// ids of the rows kept.
func filterIDs(t *testing.T, f *stages.Filter, batchRows int) []int64 {
	t.Helper()
	rows, s := ktRun(t, f, filterSchema, filterRows, batchRows)
	if !s.Equal(filterSchema) {
		t.Fatalf("output schema %v, want the input's", ktColumns(s))
	}
	ids := []int64{}
	for _, r := range rows {
		ids = append(ids, r[0].(int64))
	}
	return ids
}

func TestFilterConditions(t *testing.T) {
	tests := []struct {
		field, cond string
		value       any
		want        []int64
	}{
		// int64, with a null in row 3
		{"age", ">=", 18, []int64{1, 4, 5, 6}},
		{"age", ">", 18, []int64{1, 5, 6}},
		{"age", "<", 18, []int64{2}},
		{"age", "<=", 18, []int64{2, 4}},
		{"age", "=", 18, []int64{4}},
		{"age", "!=", 18, []int64{1, 2, 5, 6}}, // the null is not kept
		{"age", "in", []any{17, 65, 99}, []int64{2, 5}},
		{"age", "not in", []any{17, 65}, []int64{1, 4, 6}},
		{"age", "between", []any{18, 40}, []int64{1, 4, 6}},
		{"age", "between", []any{40, 18}, []int64{}},
		{"age", "is null", nil, []int64{3}},
		{"age", "is not null", nil, []int64{1, 2, 4, 5, 6}},
		// a fraction against an int column compares numerically
		{"age", ">", 17.5, []int64{1, 4, 5, 6}},
		{"age", ">=", 17.5, []int64{1, 4, 5, 6}},
		{"age", "<", 17.5, []int64{2}},
		{"age", "<=", 17.5, []int64{2}},
		{"age", "=", 17.5, []int64{}},
		{"age", "!=", 17.5, []int64{1, 2, 4, 5, 6}},
		{"age", "between", []any{17.5, 25.5}, []int64{1, 4}},
		{"age", "in", []any{17.5, 18}, []int64{4}},
		{"age", "not in", []any{17.5}, []int64{1, 2, 4, 5, 6}},
		{"age", ">", "18", []int64{1, 5, 6}},
		{"age", ">", 1e30, []int64{}},
		{"age", "<", 1e30, []int64{1, 2, 4, 5, 6}},
		{"age", ">", -1e30, []int64{1, 2, 4, 5, 6}},
		{"age", "<", math.MinInt64, []int64{}},
		{"age", ">", math.MaxInt64, []int64{}},
		{"age", ">=", math.MinInt64, []int64{1, 2, 4, 5, 6}},
		{"id", "in", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int64{1, 2, 3, 4, 5, 6}}, // a hashed set
		// float64, null in row 2 and NaN in row 6 (NaN counts as null)
		{"score", ">", 0, []int64{1, 3}},
		{"score", ">=", 0, []int64{1, 3, 5}},
		{"score", "<", 0, []int64{4}},
		{"score", "<=", -1, []int64{4}},
		{"score", "=", 7.5, []int64{1}},
		{"score", "=", "7.5", []int64{1}},
		{"score", "!=", 7.5, []int64{3, 4, 5}},
		{"score", "in", []any{0, 9.25}, []int64{3, 5}},
		{"score", "not in", []any{0}, []int64{1, 3, 4}},
		{"score", "between", []any{0, 9.25}, []int64{1, 3, 5}},
		{"score", "between", []any{9.25, 0}, []int64{}},
		{"score", ">", math.Inf(1), []int64{}},
		{"score", "<", math.Inf(-1), []int64{}},
		{"score", "<", math.Inf(1), []int64{1, 3, 4, 5}},
		{"score", "is null", nil, []int64{2, 6}},
		{"score", "is not null", nil, []int64{1, 3, 4, 5}},
		// strings, bytewise UTF-8 order
		{"name", "=", "Zoë", []int64{4}},
		{"name", "!=", "Ana", []int64{2, 4, 5, 6}},
		{"name", ">", "Bob", []int64{4, 5, 6}},
		{"name", ">=", "Bob", []int64{2, 4, 5, 6}},
		{"name", "<", "Bob", []int64{1}},
		{"name", "<=", "Bob", []int64{1, 2}},
		{"name", "in", []string{"Ana", "李"}, []int64{1, 6}},
		{"name", "not in", []any{"Ana"}, []int64{2, 4, 5, 6}},
		{"name", "between", []any{"B", "Zz"}, []int64{2, 4}},
		{"name", "is null", nil, []int64{3}},
		// dates
		{"born", ">=", "2006-03-01", []int64{2, 4}},
		{"born", "<", "1990-01-01", []int64{5, 6}},
		{"born", "between", []any{"1980-01-01", "2000-01-01"}, []int64{1, 6}},
		{"born", ">", "2006-03-01T12:00:00Z", []int64{2}},
		{"born", "<=", "2006-03-01T12:00:00Z", []int64{1, 4, 5, 6}},
		{"born", "=", "2006-03-01T12:00:00", []int64{}},
		{"born", "in", []any{"1999-01-01", "1984-02-29"}, []int64{1, 6}},
		{"born", "!=", ktDate("1999-01-01"), []int64{2, 4, 5, 6}},
		// timestamps (microseconds)
		{"seen", ">=", "2024-01-01", []int64{1, 3, 4, 6}},
		{"seen", "<", "2024-01-01", []int64{5}},
		{"seen", "=", "2024-01-01T10:00:00Z", []int64{1}},
		{"seen", ">", "2024-01-01 10:00:00", []int64{3, 6}},
		{"seen", "between", []any{"2024-01-01T00:00:00Z", "2024-01-01T10:00:00.0000005Z"}, []int64{1, 4}},
		{"seen", "is null", nil, []int64{2}},
		// bools
		{"vip", "=", true, []int64{1, 4}},
		{"vip", "!=", true, []int64{2, 5}},
		{"vip", "=", "false", []int64{2, 5}},
		{"vip", "in", []any{true}, []int64{1, 4}},
		{"vip", ">", false, []int64{1, 4}},
		{"vip", "is null", nil, []int64{3, 6}},
	}
	for _, tc := range tests {
		name := tc.field + " " + tc.cond + " " + fmt.Sprint(tc.value)
		t.Run(name, func(t *testing.T) {
			for _, batch := range []int{0, 1, 4} {
				got := filterIDs(t, &stages.Filter{Field: tc.field, Condition: tc.cond, Value: tc.value}, batch)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("batch rows %d: kept %v, want %v", batch, got, tc.want)
				}
			}
		})
	}
}

func TestFilterExpr(t *testing.T) {
	tests := []struct {
		expr string
		want []int64
	}{
		{`age >= 18`, []int64{1, 4, 5, 6}},
		{`age >= 18 and name != nil`, []int64{1, 4, 5, 6}},
		{`age >= 18 or name == "Bob"`, []int64{1, 2, 4, 5, 6}}, // row 3: null age makes the row null
		{`name == nil`, []int64{3}},
		{`(age ?? 0) < 18`, []int64{2, 3}},
		{`score > 5`, []int64{1, 3}}, // NaN > 5 is false
		{`born < date("1990-01-01")`, []int64{5, 6}},
		{`upper(name) == "ZOË"`, []int64{4}},
		{`vip`, []int64{1, 4}},
		{`not vip`, []int64{2, 5}},
		{`seen > date("2024-01-01T05:00:00Z")`, []int64{1, 3, 6}},
		{`name in ["Ana", "李"] && age < 30`, []int64{1}},
		{`len(name) == 1`, []int64{6}}, // len counts runes
		{`id % 2 == 0`, []int64{2, 4, 6}},
		{`$env["age"] == 25`, []int64{1}}, // the row as a map
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			for _, batch := range []int{0, 2} {
				got := filterIDs(t, &stages.Filter{Expr: tc.expr}, batch)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("batch rows %d: kept %v, want %v", batch, got, tc.want)
				}
			}
		})
	}
}

func TestFilterExprRuntimeError(t *testing.T) {
	_, err := openstagetest.RunNode(t, &stages.Filter{Expr: `age % (age - 25) == 0`},
		[]openstagetest.Input{{Pipe: "in", Schema: filterSchema, Rows: filterRows}}, "out")
	want := `Filter 'stage': expr "age % (age - 25) == 0" failed on the row where age=25: runtime error: integer divide by zero (at character 5)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if openstage.IsValidation(err) {
		t.Fatal("a runtime error is reported as a validation error")
	}
}

func TestFilterValidation(t *testing.T) {
	cols := "id, name, age, score, born, seen, vip"
	tests := []struct {
		name string
		f    stages.Filter
		want string
	}{
		{"both forms", stages.Filter{Field: "age", Condition: ">", Value: 1, Expr: "true"}, "field/condition/value and expr are mutually exclusive; use one form"},
		{"neither form", stages.Filter{}, "set field, condition and value, or expr"},
		{"unknown field", stages.Filter{Field: "Age", Condition: ">", Value: 1}, "field 'Age' not found; available columns: " + cols + " (did you mean 'age'?)"},
		{"no condition", stages.Filter{Field: "age", Value: 1}, "condition is required with field; use one of <, >, <=, >=, !=, =, in, not in, between, is null, is not null"},
		{"unknown condition", stages.Filter{Field: "age", Condition: "==", Value: 1}, `parameter 'condition': '==' is not one of <, >, <=, >=, !=, =, in, not in, between, is null, is not null (equality is =)`},
		{"not an int", stages.Filter{Field: "age", Condition: ">", Value: "abc"}, `value "abc" is not a valid int64 for column 'age'`},
		{"bool for int", stages.Filter{Field: "age", Condition: ">", Value: true}, `value true is not a valid int64 for column 'age'`},
		{"list item not an int", stages.Filter{Field: "age", Condition: "in", Value: []any{1, "x"}}, `value "x" (item 2) is not a valid int64 for column 'age'`},
		{"in without list", stages.Filter{Field: "age", Condition: "in", Value: 5}, "condition 'in' needs a list value, such as [a, b]; got 5"},
		{"not in without list", stages.Filter{Field: "name", Condition: "not in", Value: "Ana"}, `condition 'not in' needs a list value, such as [a, b]; got "Ana"`},
		{"between one value", stages.Filter{Field: "age", Condition: "between", Value: []any{1}}, "condition 'between' needs a list of exactly 2 values [low, high]; got [1]"},
		{"between three values", stages.Filter{Field: "age", Condition: "between", Value: []int{1, 2, 3}}, "condition 'between' needs a list of exactly 2 values [low, high]; got [1, 2, 3]"},
		{"between scalar", stages.Filter{Field: "age", Condition: "between", Value: 3}, "condition 'between' needs a list of exactly 2 values [low, high]; got 3"},
		{"list for comparison", stages.Filter{Field: "age", Condition: ">", Value: []any{1, 2}}, "condition '>' needs a single value, not a list (use in for a list of values)"},
		{"missing value", stages.Filter{Field: "age", Condition: ">"}, "condition '>' needs a value"},
		{"missing value for =", stages.Filter{Field: "age", Condition: "="}, "condition '=' needs a value (to test for nulls use is null or is not null)"},
		{"value for is null", stages.Filter{Field: "age", Condition: "is null", Value: 5}, "condition 'is null' takes no value, got 5"},
		{"null in list", stages.Filter{Field: "age", Condition: "in", Value: []any{1, nil}}, "value item 2 is null; nulls never match, use is null or is not null"},
		{"bad date", stages.Filter{Field: "born", Condition: ">", Value: "yesterday"}, `value "yesterday" is not a valid date for column 'born' (write dates as 2024-01-31)`},
		{"number for date", stages.Filter{Field: "born", Condition: ">", Value: 2024}, `value 2024 is not a valid date for column 'born' (write dates as 2024-01-31)`},
		{"bad timestamp", stages.Filter{Field: "seen", Condition: "between", Value: []any{"2024-01-01", "noon"}}, `value "noon" (item 2) is not a valid timestamp for column 'seen' (write timestamps as 2024-01-31T12:00:00Z)`},
		{"NaN", stages.Filter{Field: "score", Condition: ">", Value: "NaN"}, `value "NaN" is not a valid float64 for column 'score'`},
		{"bool for float", stages.Filter{Field: "score", Condition: ">", Value: true}, `value true is not a valid float64 for column 'score'`},
		{"float for string", stages.Filter{Field: "name", Condition: ">", Value: 1.5}, `value 1.5 is not a valid string for column 'name' (quote it)`},
		{"int for bool", stages.Filter{Field: "vip", Condition: "=", Value: 1}, `value 1 is not a valid bool for column 'vip'`},
		{"expr unknown column", stages.Filter{Expr: "agee > 1"}, "expr: field 'agee' not found; available columns: " + cols + " (did you mean 'age'?)"},
		{"expr not bool", stages.Filter{Expr: "age + 1"}, `expr must return a bool (true keeps the row), but "age + 1" returns int`},
		{"expr type error", stages.Filter{Expr: `name > 5`}, "expr: invalid operation: > (mismatched types string and int) (at character 6)"},
		{"expr syntax error", stages.Filter{Expr: `age >`}, "expr: unexpected token EOF (at character 5)"},
		{"expr no env access", stages.Filter{Expr: `os.Getenv("HOME") != ""`}, "expr: field 'os' not found; available columns: " + cols + " (did you mean 'id'?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			got := ktErr(t, &f, filterSchema)
			if want := "Filter 'stage': " + tc.want; got != want {
				t.Fatalf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestFilterEmptyOneRowUnicode(t *testing.T) {
	// Empty input: no rows, the schema is still declared.
	rows, s := ktRun(t, &stages.Filter{Field: "age", Condition: ">", Value: 1}, filterSchema, nil, 0)
	if len(rows) != 0 || !s.Equal(filterSchema) {
		t.Fatalf("empty input: %d rows, schema %v", len(rows), s)
	}
	// One row, kept and not kept.
	one := [][]any{{int64(7), "Łódź ☃", int64(30), 1.0, "2000-01-01", "2000-01-01T00:00:00Z", true}}
	rows, _ = ktRun(t, &stages.Filter{Field: "name", Condition: "=", Value: "Łódź ☃"}, filterSchema, one, 0)
	ktEqualRows(t, rows, [][]any{{int64(7), "Łódź ☃", int64(30), 1.0, ktDate("2000-01-01"), ktDate("2000-01-01"), true}})
	rows, _ = ktRun(t, &stages.Filter{Field: "name", Condition: "<", Value: "Łódź ☃"}, filterSchema, one, 0)
	if len(rows) != 0 {
		t.Fatalf("kept %v", rows)
	}
}

func TestFilterManyBatchesKeepsOrder(t *testing.T) {
	s := openstage.NewSchema("n", openstage.Int64, "label", openstage.String)
	var rows, want [][]any
	for i := range 10000 {
		var label any = "x" + strings.Repeat("é", i%5)
		if i%7 == 0 {
			label = nil
		}
		rows = append(rows, []any{int64(i), label})
		if i%3 == 0 && label != nil {
			want = append(want, []any{int64(i), label})
		}
	}
	got, _ := ktRun(t, &stages.Filter{Expr: `n % 3 == 0 and label != nil`}, s, rows, 97)
	ktEqualRows(t, got, want)
	got, _ = ktRun(t, &stages.Filter{Field: "n", Condition: ">=", Value: 0}, s, rows, 97)
	ktEqualRows(t, got, rows)
}

func TestNewFilter(t *testing.T) {
	st := stages.NewFilter("adults", "age", ">=", 18)
	f := st.Component().(*stages.Filter)
	if st.Name() != "adults" || st.Type() != "Filter" || f.Field != "age" || f.Condition != ">=" || f.Value != 18 {
		t.Fatalf("NewFilter gave %s %+v", st, f)
	}
	st = stages.NewFilterExpr("big", "amount > 1000")
	if st.Component().(*stages.Filter).Expr != "amount > 1000" {
		t.Fatal("NewFilterExpr did not set Expr")
	}
	spec, ok := openstage.DefaultRegistry().Lookup("Filter")
	if !ok {
		t.Fatal("Filter is not registered")
	}
	// The job-file path: the enum of condition is checked when set.
	if err := spec.Set(&stages.Filter{}, "condition", "=>"); err == nil || err.Error() != "parameter 'condition': '=>' is not one of <, >, <=, >=, !=, =, in, not in, between, is null, is not null (did you mean '>='?)" {
		t.Fatalf("Set condition: %v", err)
	}
}

// ktZeroCopyOrigin sends one batch and remembers the address of the values
// of its first column.
type ktZeroCopyOrigin struct {
	schema *arrow.Schema
	rows   [][]any
	addr   uintptr
}

func (o *ktZeroCopyOrigin) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(o.schema)
	return nil
}

func (o *ktZeroCopyOrigin) Pump(ctx context.Context, out *openstage.Outputs) error {
	b := openstage.NewBuilder(out.Allocator(), o.schema)
	defer b.Release()
	for _, r := range o.rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	rec := b.Build()
	defer rec.Release()
	o.addr = ktBufAddr(rec.Column(0))
	return out.Send(ctx, rec)
}

// ktZeroCopySink records the addresses of the first column of each batch.
type ktZeroCopySink struct{ addrs []uintptr }

func (s *ktZeroCopySink) Plan(context.Context, *openstage.Plan) error { return nil }

func (s *ktZeroCopySink) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.addrs = append(s.addrs, ktBufAddr(dp.Batch.Column(0)))
		dp.Batch.Release()
	}
}

func ktBufAddr(arr arrow.Array) uintptr {
	b := arr.Data().Buffers()[1].Bytes()
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// ktZeroCopy runs origin -> c -> sink and reports whether the sink saw the
// origin's buffer.
func ktZeroCopy(t *testing.T, c any) bool {
	t.Helper()
	o := &ktZeroCopyOrigin{schema: filterSchema, rows: filterRows}
	sink := &ktZeroCopySink{}
	src := openstage.NewStage("src", o)
	src.AddOutputPipe(openstage.NewPipe("a")).SetDestination(openstage.NewStage("stage", c)).
		AddOutputPipe(openstage.NewPipe("b")).SetDestination(openstage.NewStage("sink", sink))
	if err := openstage.NewJob("zc", src).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.addrs) != 1 {
		t.Fatalf("sink got %d batches", len(sink.addrs))
	}
	return sink.addrs[0] == o.addr
}

func TestFilterPassesFullBatchesWithoutCopy(t *testing.T) {
	if !ktZeroCopy(t, &stages.Filter{Field: "id", Condition: ">", Value: 0}) {
		t.Fatal("a batch whose rows all match was copied")
	}
	if ktZeroCopy(t, &stages.Filter{Field: "id", Condition: ">", Value: 1}) {
		t.Fatal("a filtered batch shares the input buffer (expected a Take)")
	}
}

func TestFilterTimestampUnits(t *testing.T) {
	// Timestamps in seconds and nanoseconds (as other origins may produce)
	// compare exactly too.
	for _, unit := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Nanosecond} {
		s := openstage.NewSchema("id", openstage.Int64, "ts", &arrow.TimestampType{Unit: unit, TimeZone: "UTC"})
		rows := [][]any{
			{int64(1), "2024-01-01T00:00:00Z"},
			{int64(2), "2024-01-01T00:00:01Z"},
			{int64(3), nil},
			{int64(4), "1969-12-31T23:59:59Z"},
		}
		for _, tc := range []struct {
			cond  string
			value any
			want  []int64
		}{
			{">", "2024-01-01T00:00:00.5Z", []int64{2}},
			{"<=", "2024-01-01T00:00:00.5Z", []int64{1, 4}},
			{"=", "2024-01-01T00:00:01Z", []int64{2}},
			{"<", "1970-01-01", []int64{4}},
			{"between", []any{"1969-12-31T23:59:59.9Z", "2024-01-01T00:00:01Z"}, []int64{1, 2}},
		} {
			got, _ := ktRun(t, &stages.Filter{Field: "ts", Condition: tc.cond, Value: tc.value}, s, rows, 0)
			if ids := ktIDs(got); !slices.Equal(ids, tc.want) {
				t.Errorf("unit %s: ts %s %v kept %v, want %v", unit, tc.cond, tc.value, ids, tc.want)
			}
		}
	}
}
