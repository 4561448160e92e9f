package stages_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var (
	joinUsersSchema  = openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String, "city", openstage.String)
	joinOrdersSchema = openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "amount", openstage.Float64, "city", openstage.String)
)

// Users: key 2 twice, a null key; orders: key 2 twice, a key (4) no user
// has, a null key. Unicode everywhere.
var joinUsers = [][]any{
	{int64(1), "Ana", "Madrid"},
	{int64(2), "Bjørn", "Oslo"},
	{int64(2), "Bjørn2", "Bergen"},
	{int64(3), "Chloé", nil},
	{nil, "Nobody", "東京"},
}

var joinOrders = [][]any{
	{int64(10), int64(2), 5.5, "Oslo"},
	{int64(11), int64(1), 7.0, nil},
	{int64(12), int64(2), 1.25, "Tromsø"},
	{int64(13), int64(4), 9.0, "Paris"},
	{int64(14), nil, 3.0, "Rome"},
}

func joinInputs(batch int) []openstagetest.Input {
	return []openstagetest.Input{
		{Pipe: "users", Schema: joinUsersSchema, Rows: joinUsers, BatchRows: batch},
		{Pipe: "orders", Schema: joinOrdersSchema, Rows: joinOrders, BatchRows: batch},
	}
}

// Expected rows, in the order the default build side produces them.
var (
	joinInner = [][]any{
		{int64(1), "Ana", "Madrid", int64(11), 7.0, nil},
		{int64(2), "Bjørn", "Oslo", int64(10), 5.5, "Oslo"},
		{int64(2), "Bjørn", "Oslo", int64(12), 1.25, "Tromsø"},
		{int64(2), "Bjørn2", "Bergen", int64(10), 5.5, "Oslo"},
		{int64(2), "Bjørn2", "Bergen", int64(12), 1.25, "Tromsø"},
	}
	joinLeft = [][]any{
		{int64(1), "Ana", "Madrid", int64(11), 7.0, nil},
		{int64(2), "Bjørn", "Oslo", int64(10), 5.5, "Oslo"},
		{int64(2), "Bjørn", "Oslo", int64(12), 1.25, "Tromsø"},
		{int64(2), "Bjørn2", "Bergen", int64(10), 5.5, "Oslo"},
		{int64(2), "Bjørn2", "Bergen", int64(12), 1.25, "Tromsø"},
		{int64(3), "Chloé", nil, nil, nil, nil},
		{nil, "Nobody", "東京", nil, nil, nil},
	}
	// A right join builds the left side and streams the orders.
	joinRight = [][]any{
		{int64(2), "Bjørn", "Oslo", int64(10), 5.5, "Oslo"},
		{int64(2), "Bjørn2", "Bergen", int64(10), 5.5, "Oslo"},
		{int64(1), "Ana", "Madrid", int64(11), 7.0, nil},
		{int64(2), "Bjørn", "Oslo", int64(12), 1.25, "Tromsø"},
		{int64(2), "Bjørn2", "Bergen", int64(12), 1.25, "Tromsø"},
		{int64(4), nil, nil, int64(13), 9.0, "Paris"},
		{nil, nil, nil, int64(14), 3.0, "Rome"},
	}
	joinOuter = append(append([][]any{}, joinLeft...),
		[]any{int64(4), nil, nil, int64(13), 9.0, "Paris"},
		[]any{nil, nil, nil, int64(14), 3.0, "Rome"},
	)
)

func TestJoinerJoinTypes(t *testing.T) {
	cases := []struct {
		joinType string
		want     [][]any
	}{
		{"inner", joinInner},
		{"left", joinLeft},
		{"right", joinRight},
		{"outer", joinOuter},
	}
	for _, tc := range cases {
		for _, batch := range []int{0, 1, 2} {
			t.Run(fmt.Sprintf("%s/batch%d", tc.joinType, batch), func(t *testing.T) {
				j := &stages.Joiner{Left: "users", Right: "orders", Key: openstage.Strings{"user_id"}, JoinType: tc.joinType}
				res := routeRun(t, j, joinInputs(batch), "out")
				out := res.Outputs["out"]
				want := []string{"user_id:int64", "name:string", "city_x:string", "order_id:int64", "amount:float64", "city_y:string"}
				if got := routeColumns(out.Schema); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("columns = %v, want %v", got, want)
				}
				routeEqualRows(t, out.Rows, tc.want)
			})
			// Building the other side gives the same rows in another order.
			for _, build := range []string{"left", "right"} {
				t.Run(fmt.Sprintf("%s/batch%d/build_%s", tc.joinType, batch, build), func(t *testing.T) {
					j := &stages.Joiner{Left: "users", Right: "orders", Key: openstage.Strings{"user_id"}, JoinType: tc.joinType, Build: build}
					res := routeRun(t, j, joinInputs(batch), "out")
					routeSameRows(t, res.Outputs["out"].Rows, tc.want)
				})
			}
		}
	}
}

// With a tiny memory limit the Joiner partitions both sides to disk and
// joins partition by partition: the same rows, in another order.
func TestJoinerSpill(t *testing.T) {
	cases := []struct {
		joinType string
		want     [][]any
	}{
		{"inner", joinInner},
		{"left", joinLeft},
		{"right", joinRight},
		{"outer", joinOuter},
	}
	for _, tc := range cases {
		for _, build := range []string{"left", "right"} {
			t.Run(tc.joinType+"/build_"+build, func(t *testing.T) {
				j := &stages.Joiner{Left: "users", Right: "orders", Key: openstage.Strings{"user_id"}, JoinType: tc.joinType, Build: build}
				res := routeRunLimited(t, j, 1, joinInputs(2), "out")
				routeSameRows(t, res.Outputs["out"].Rows, tc.want)
				st, _ := res.Summary.Stage("stage")
				if st.Counters["spilled_rows"] != int64(len(joinUsers)+len(joinOrders)) {
					t.Fatalf("counters = %v, want spilled_rows=%d", st.Counters, len(joinUsers)+len(joinOrders))
				}
			})
		}
	}
	t.Run("within the limit nothing spills", func(t *testing.T) {
		j := &stages.Joiner{Left: "users", Right: "orders", Key: openstage.Strings{"user_id"}}
		res := routeRunLimited(t, j, 1<<30, joinInputs(2), "out")
		routeEqualRows(t, res.Outputs["out"].Rows, joinInner)
		if st, _ := res.Summary.Stage("stage"); st.Counters["spilled_rows"] != 0 {
			t.Fatalf("counters = %v, want nothing spilled", st.Counters)
		}
	})
}

func TestJoinerEmptyAndOneRow(t *testing.T) {
	one := [][]any{{int64(7), "Zoë", "Zürich"}}
	oneOrder := [][]any{{int64(70), int64(7), 1.5, "Genève"}}
	cases := []struct {
		name           string
		joinType       string
		users, orders  [][]any
		want           [][]any
		build          string
		wantRowsInPipe int
	}{
		{name: "both empty inner", joinType: "inner"},
		{name: "both empty outer", joinType: "outer"},
		{name: "empty build left join", joinType: "left", users: one,
			want: [][]any{{int64(7), "Zoë", "Zürich", nil, nil, nil}}},
		{name: "empty probe outer", joinType: "outer", orders: oneOrder,
			want: [][]any{{int64(7), nil, nil, int64(70), 1.5, "Genève"}}},
		{name: "empty probe right join built right", joinType: "right", build: "right", orders: oneOrder,
			want: [][]any{{int64(7), nil, nil, int64(70), 1.5, "Genève"}}},
		{name: "empty build inner", joinType: "inner", users: one},
		{name: "one row each", joinType: "inner", users: one, orders: oneOrder,
			want: [][]any{{int64(7), "Zoë", "Zürich", int64(70), 1.5, "Genève"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &stages.Joiner{Left: "users", Right: "orders", Key: openstage.Strings{"user_id"}, JoinType: tc.joinType, Build: tc.build}
			res := routeRun(t, j, []openstagetest.Input{
				{Pipe: "users", Schema: joinUsersSchema, Rows: tc.users},
				{Pipe: "orders", Schema: joinOrdersSchema, Rows: tc.orders},
			}, "out")
			routeEqualRows(t, res.Outputs["out"].Rows, tc.want)
		})
	}
}

func TestJoinerCompositeKeys(t *testing.T) {
	left := openstage.NewSchema("country", openstage.String, "year", openstage.Int64, "pop", openstage.Int64)
	right := openstage.NewSchema("year", openstage.Int64, "country", openstage.String, "gdp", openstage.Float64)
	lrows := [][]any{
		{"ES", int64(2020), int64(47)},
		{"ES", int64(2021), int64(48)},
		{"NO", int64(2020), int64(5)},
		{nil, int64(2020), int64(1)},    // null in one key column: no match
		{"日本", int64(2020), int64(126)}, // unicode key
	}
	rrows := [][]any{
		{int64(2021), "ES", 1.4},
		{int64(2020), "ES", 1.2},
		{int64(2020), nil, 0.1},
		{int64(2020), "日本", 5.0},
		{int64(2021), "NO", 0.5},
	}
	j := &stages.Joiner{Left: "l", Right: "r", Key: openstage.Strings{"country", "year"}, JoinType: "outer"}
	res := routeRun(t, j, []openstagetest.Input{
		{Pipe: "l", Schema: left, Rows: lrows, BatchRows: 2},
		{Pipe: "r", Schema: right, Rows: rrows, BatchRows: 2},
	}, "out")
	out := res.Outputs["out"]
	if got, want := fmt.Sprint(routeColumns(out.Schema)), "[country:string year:int64 pop:int64 gdp:float64]"; got != want {
		t.Fatalf("columns = %s, want %s", got, want)
	}
	routeEqualRows(t, out.Rows, [][]any{
		{"ES", int64(2020), int64(47), 1.2},
		{"ES", int64(2021), int64(48), 1.4},
		{"NO", int64(2020), int64(5), nil},
		{nil, int64(2020), int64(1), nil},
		{"日本", int64(2020), int64(126), 5.0},
		{nil, int64(2020), nil, 0.1},
		{"NO", int64(2021), nil, 0.5},
	})
}

func TestJoinerKeyTypes(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name       string
		typ        arrow.DataType
		lkey, rkey []any
		want       [][]any // left tag, right tag
	}{
		// Few distinct right keys close together: an array indexed by value;
		// left values far outside its range must not wrap into it.
		{"dense int", openstage.Int64, []any{int64(-3), int64(2), int64(math.MinInt64), int64(math.MaxInt64), nil}, []any{int64(2), int64(-3), int64(7)}, [][]any{{"l0", "r1"}, {"l1", "r0"}}},
		// Keys spread over the whole range: a map.
		{"sparse int", openstage.Int64, []any{int64(math.MinInt64), int64(math.MaxInt64), int64(0), nil}, []any{int64(math.MaxInt64), int64(math.MinInt64), int64(5)}, [][]any{{"l0", "r1"}, {"l1", "r0"}}},
		{"float", openstage.Float64, []any{0.0, 1.5, nil}, []any{1.5, math.Copysign(0, -1), nil}, [][]any{{"l0", "r1"}, {"l1", "r0"}}},
		{"bool", openstage.Bool, []any{true, false, nil}, []any{false, true, nil}, [][]any{{"l0", "r1"}, {"l1", "r0"}}},
		{"date", openstage.Date, []any{day(1), day(2), nil}, []any{day(2), day(1), nil}, [][]any{{"l0", "r1"}, {"l1", "r0"}}},
		{"timestamp", openstage.Timestamp, []any{day(1), day(2), nil}, []any{day(2), day(3), day(1)}, [][]any{{"l0", "r2"}, {"l1", "r0"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls := openstage.NewSchema("k", tc.typ, "ltag", openstage.String)
			rs := openstage.NewSchema("k", tc.typ, "rtag", openstage.String)
			var lrows, rrows [][]any
			for i, v := range tc.lkey {
				lrows = append(lrows, []any{v, fmt.Sprintf("l%d", i)})
			}
			for i, v := range tc.rkey {
				rrows = append(rrows, []any{v, fmt.Sprintf("r%d", i)})
			}
			j := &stages.Joiner{Left: "l", Right: "r", Key: openstage.Strings{"k"}}
			res := routeRun(t, j, []openstagetest.Input{{Pipe: "l", Schema: ls, Rows: lrows}, {Pipe: "r", Schema: rs, Rows: rrows}}, "out")
			var got [][]any
			for _, r := range res.Outputs["out"].Rows {
				got = append(got, r[1:])
			}
			routeEqualRows(t, got, tc.want)
		})
	}
}

func TestJoinerLeftRightKeysAndSuffixes(t *testing.T) {
	users := openstage.NewSchema("id", openstage.Int64, "name", openstage.String, "name_l", openstage.String)
	orders := openstage.NewSchema("user_id", openstage.Int64, "id", openstage.Int64, "name", openstage.String)
	in := []openstagetest.Input{
		{Pipe: "users", Schema: users, Rows: [][]any{{int64(1), "Ana", "x"}, {int64(2), "Bo", "y"}}},
		{Pipe: "orders", Schema: orders, Rows: [][]any{{int64(2), int64(100), "book"}, {int64(3), int64(101), "pen"}}},
	}
	t.Run("left_key/right_key keep both keys, default suffixes", func(t *testing.T) {
		j := &stages.Joiner{Left: "users", Right: "orders", LeftKey: openstage.Strings{"id"}, RightKey: openstage.Strings{"user_id"}, JoinType: "outer"}
		res := routeRun(t, j, in, "out")
		out := res.Outputs["out"]
		if got, want := fmt.Sprint(routeColumns(out.Schema)), "[id_x:int64 name_x:string name_l:string user_id:int64 id_y:int64 name_y:string]"; got != want {
			t.Fatalf("columns = %s, want %s", got, want)
		}
		routeEqualRows(t, out.Rows, [][]any{
			{int64(1), "Ana", "x", nil, nil, nil},
			{int64(2), "Bo", "y", int64(2), int64(100), "book"},
			{nil, nil, nil, int64(3), int64(101), "pen"},
		})
	})
	t.Run("custom suffixes", func(t *testing.T) {
		j := &stages.Joiner{Left: "users", Right: "orders", LeftKey: openstage.Strings{"id"}, RightKey: openstage.Strings{"user_id"}, Suffixes: []string{"_u", "_o"}}
		res := routeRun(t, j, in, "out")
		if got, want := fmt.Sprint(routeColumns(res.Outputs["out"].Schema)), "[id_u:int64 name_u:string name_l:string user_id:int64 id_o:int64 name_o:string]"; got != want {
			t.Fatalf("columns = %s, want %s", got, want)
		}
		routeEqualRows(t, res.Outputs["out"].Rows, [][]any{{int64(2), "Bo", "y", int64(2), int64(100), "book"}})
	})
	t.Run("an empty suffix keeps the name", func(t *testing.T) {
		j := &stages.Joiner{Left: "users", Right: "orders", LeftKey: openstage.Strings{"id"}, RightKey: openstage.Strings{"user_id"}, Suffixes: []string{"", "_o"}}
		res := routeRun(t, j, in, "out")
		if got, want := fmt.Sprint(routeColumns(res.Outputs["out"].Schema)), "[id:int64 name:string name_l:string user_id:int64 id_o:int64 name_o:string]"; got != want {
			t.Fatalf("columns = %s, want %s", got, want)
		}
	})
}

func TestJoinerValidation(t *testing.T) {
	users := openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String)
	ordersStr := openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.String)
	clash := openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String, "name_x", openstage.String)
	in := func(l, r *arrow.Schema) []openstagetest.Input {
		return []openstagetest.Input{{Pipe: "users_pipe", Schema: l}, {Pipe: "orders_pipe", Schema: r}}
	}
	key := openstage.Strings{"user_id"}
	cases := []struct {
		name   string
		joiner stages.Joiner
		inputs []openstagetest.Input
		want   string
	}{
		{"key type mismatch", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key}, in(users, ordersStr),
			"Joiner 'stage': key 'user_id' is int64 in pipe 'users_pipe' but string in pipe 'orders_pipe'; convert one side (Transformer derive or CSVOrigin column types) so both have the same type"},
		{"left_key type mismatch", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", LeftKey: key, RightKey: openstage.Strings{"user_id"}}, in(users, ordersStr),
			"Joiner 'stage': key 'user_id' is int64 in pipe 'users_pipe' but string in pipe 'orders_pipe'; convert one side (Transformer derive or CSVOrigin column types) so both have the same type"},
		{"float against int", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", LeftKey: key, RightKey: openstage.Strings{"user_id"}}, in(users, openstage.NewSchema("user_id", openstage.Float64)),
			"Joiner 'stage': key 'user_id' is int64 in pipe 'users_pipe' but float64 in pipe 'orders_pipe'; convert one side (Transformer derive or CSVOrigin column types) so both have the same type"},
		{"names differ and types differ", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", LeftKey: key, RightKey: openstage.Strings{"order_id"}}, in(users, openstage.NewSchema("order_id", openstage.String)),
			"Joiner 'stage': key 'user_id' is int64 in pipe 'users_pipe' but key 'order_id' is string in pipe 'orders_pipe'; convert one side (Transformer derive or CSVOrigin column types) so both have the same type"},
		{"left not an input", stages.Joiner{Left: "user_pipe", Right: "orders_pipe", Key: key}, in(users, users),
			"Joiner 'stage': left pipe 'user_pipe' is not connected to this stage; its inputs are 'users_pipe', 'orders_pipe' (did you mean 'users_pipe'?)"},
		{"right missing", stages.Joiner{Left: "users_pipe", Key: key}, in(users, users),
			"Joiner 'stage': parameter 'right' is required: name of the input pipe that is the right side of the join; connected inputs: 'users_pipe', 'orders_pipe'"},
		{"same pipe twice", stages.Joiner{Left: "users_pipe", Right: "users_pipe", Key: key}, in(users, users),
			"Joiner 'stage': left and right are both 'users_pipe'; they must name the two different input pipes ('users_pipe', 'orders_pipe')"},
		{"no key", stages.Joiner{Left: "users_pipe", Right: "orders_pipe"}, in(users, users),
			"Joiner 'stage': no join key: set key (the key column(s), same name on both sides) or left_key and right_key"},
		{"key and left_key", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, LeftKey: key}, in(users, users),
			"Joiner 'stage': set either key (same column names on both sides) or left_key and right_key, not both"},
		{"left_key alone", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", LeftKey: key}, in(users, users),
			"Joiner 'stage': left_key and right_key go together: set both, or key when the names are the same"},
		{"key lengths differ", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", LeftKey: openstage.Strings{"user_id", "name"}, RightKey: key}, in(users, users),
			"Joiner 'stage': left_key has 2 columns but right_key has 1; they pair in order"},
		{"key not found", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: openstage.Strings{"userid"}}, in(users, users),
			"Joiner 'stage': left pipe 'users_pipe': key field 'userid' not found; available columns: user_id, name (did you mean 'user_id'?)"},
		{"key listed twice", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: openstage.Strings{"user_id", "user_id"}}, in(users, users),
			"Joiner 'stage': left key column 'user_id' is listed twice"},
		{"bad join type", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, JoinType: "full"}, in(users, users),
			"Joiner 'stage': parameter 'join_type': 'full' is not one of inner, left, right, outer"},
		{"bad build", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, Build: "smaller"}, in(users, users),
			"Joiner 'stage': parameter 'build': 'smaller' is not one of auto, left, right"},
		{"one suffix", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, Suffixes: []string{"_l"}}, in(users, users),
			"Joiner 'stage': suffixes must be a list of two strings (for the left and the right column), got 1"},
		{"equal suffixes", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, Suffixes: []string{"_s", "_s"}}, in(users, users),
			"Joiner 'stage': suffixes must differ, both are '_s'"},
		{"suffix clash", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key}, in(clash, users),
			"Joiner 'stage': output column 'name_x' would come twice: from column 'name' of pipe 'users_pipe' (suffixed) and from column 'name_x' of pipe 'users_pipe'; choose other suffixes (suffixes: [_left, _right]) or rename a column upstream"},
		{"empty suffix clash", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key, Suffixes: []string{"", "_x"}}, in(users, clash),
			"Joiner 'stage': output column 'name_x' would come twice: from column 'name' of pipe 'orders_pipe' (suffixed) and from column 'name_x' of pipe 'orders_pipe'; choose other suffixes (suffixes: [_left, _right]) or rename a column upstream"},
		{"unsupported column", stages.Joiner{Left: "users_pipe", Right: "orders_pipe", Key: key}, in(users, arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: openstage.Int64}, {Name: "n", Type: arrow.PrimitiveTypes.Int32}}, nil)),
			"Joiner 'stage': right pipe 'orders_pipe': column 'n' has type int32, which Open-Stage stages do not handle; convert it to one of int64, float64, bool, string, date, timestamp upstream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.joiner
			if got := routeErr(t, &j, tc.inputs, "out"); got != tc.want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestJoinerConnectivity(t *testing.T) {
	users := openstage.NewSchema("user_id", openstage.Int64)
	j := &stages.Joiner{Left: "a", Right: "b", Key: openstage.Strings{"user_id"}}
	got := routeErr(t, j, []openstagetest.Input{{Pipe: "a", Schema: users}}, "out")
	if want := "Joiner 'stage': needs at least 2 input pipes, has 1"; got != want {
		t.Fatalf("error:\n got: %s\nwant: %s", got, want)
	}
}

// A many-to-many match larger than an output batch is split into batches of
// at most 65536 rows.
func TestJoinerBoundedBatches(t *testing.T) {
	s := openstage.NewSchema("k", openstage.Int64, "v", openstage.Int64)
	var l, r [][]any
	for i := range 300 {
		l = append(l, []any{int64(1), int64(i)})
		r = append(r, []any{int64(1), int64(i)})
	}
	j := &stages.Joiner{Left: "l", Right: "r", Key: openstage.Strings{"k"}}
	res := routeRun(t, j, []openstagetest.Input{{Pipe: "l", Schema: s, Rows: l}, {Pipe: "r", Schema: s, Rows: r}}, "out")
	out := res.Outputs["out"]
	if len(out.Rows) != 90000 {
		t.Fatalf("got %d rows, want 90000", len(out.Rows))
	}
	if out.Batches != 2 {
		t.Fatalf("got %d batches, want 2 (65536 + 24464)", out.Batches)
	}
	// Pairs come in probe order, then build order.
	for n, row := range out.Rows {
		if row[1] != int64(n/300) || row[2] != int64(n%300) {
			t.Fatalf("row %d = %v, want [1 %d %d]", n, row, n/300, n%300)
		}
	}
}

// The build side larger than the probe side, over many batches, for each
// join type; expected rows are computed with nested loops.
func TestJoinerLargeBuildSide(t *testing.T) {
	small := openstage.NewSchema("k", openstage.String, "a", openstage.Int64)
	big := openstage.NewSchema("k", openstage.String, "b", openstage.Int64)
	var l, r [][]any
	for i := range 40 {
		var k any = fmt.Sprintf("ключ-%d", i*7%60)
		if i%13 == 0 {
			k = nil
		}
		l = append(l, []any{k, int64(i)})
	}
	for i := range 3000 {
		var k any = fmt.Sprintf("ключ-%d", i%90)
		if i%101 == 0 {
			k = nil
		}
		r = append(r, []any{k, int64(i)})
	}
	for _, joinType := range []string{"inner", "left", "right", "outer"} {
		t.Run(joinType, func(t *testing.T) {
			j := &stages.Joiner{Left: "l", Right: "r", Key: openstage.Strings{"k"}, JoinType: joinType, Build: "right"}
			res := routeRun(t, j, []openstagetest.Input{{Pipe: "l", Schema: small, Rows: l, BatchRows: 7}, {Pipe: "r", Schema: big, Rows: r, BatchRows: 64}}, "out")
			routeSameRows(t, res.Outputs["out"].Rows, joinNestedLoop(l, r, joinType))
		})
	}
}

// joinNestedLoop joins rows [k, a] and [k, b] into [k, a, b] the slow way.
func joinNestedLoop(l, r [][]any, joinType string) [][]any {
	var out [][]any
	rmatched := make([]bool, len(r))
	for _, lr := range l {
		found := false
		for ri, rr := range r {
			if lr[0] != nil && lr[0] == rr[0] {
				out = append(out, []any{lr[0], lr[1], rr[1]})
				rmatched[ri], found = true, true
			}
		}
		if !found && (joinType == "left" || joinType == "outer") {
			out = append(out, []any{lr[0], lr[1], nil})
		}
	}
	if joinType == "right" || joinType == "outer" {
		for ri, rr := range r {
			if !rmatched[ri] {
				out = append(out, []any{rr[0], nil, rr[1]})
			}
		}
	}
	return out
}

// Both inputs come from one Copy, one directly and one through a stage that
// holds every row until its input ends (as an Aggregator does). Reading the
// build side alone would deadlock: Copy waits for the Joiner to take probe
// rows. The Joiner buffers the probe side instead, in a spill file past a
// small memory limit (which makes the join partition to disk too).
func TestJoinerForkJoin(t *testing.T) {
	s := openstage.NewSchema("k", openstage.Int64, "v", openstage.String)
	var rows [][]any
	for i := range 3000 {
		rows = append(rows, []any{int64(i), fmt.Sprintf("v%d", i)})
	}
	for _, tc := range []struct {
		build string
		limit int64
	}{{"left", 0}, {"right", 0}, {"right", 8 << 10}} {
		build := tc.build
		t.Run(fmt.Sprintf("build %s, limit %d", build, tc.limit), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src := openstage.NewStage("src", &openstagetest.Source{Schema: s, Rows: rows, BatchRows: 50})
			cp := stages.NewCopy("copy")
			hold := openstage.NewStage("hold", routeHold{})
			join := openstage.New("join", func(j *stages.Joiner) {
				j.Left, j.Right, j.Key, j.Suffixes, j.Build = "direct", "held", openstage.Strings{"k"}, []string{"_d", "_h"}, build
			})
			sink := &openstagetest.Sink{}
			src.AddOutputPipe(openstage.NewPipe("in")).SetDestination(cp)
			cp.AddOutputPipe(openstage.NewPipe("direct")).SetDestination(join)
			cp.AddOutputPipe(openstage.NewPipe("to_hold")).SetDestination(hold)
			hold.AddOutputPipe(openstage.NewPipe("held")).SetDestination(join)
			join.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
			job := openstage.NewJob("forkjoin", src)
			job.Allocator = mem
			if tc.limit > 0 {
				job.MemoryLimit, job.TempDir = tc.limit, t.TempDir()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := job.Run(ctx); err != nil {
				t.Fatal(err)
			}
			var want [][]any
			for _, r := range rows {
				want = append(want, []any{r[0], r[1], r[1]})
			}
			routeSameRows(t, sink.Rows, want)
			st, _ := job.Summary().Stage("join")
			if build == "right" && st.Counters["rows_buffered"] != int64(len(rows)) {
				t.Fatalf("counters = %v, want every probe row buffered", st.Counters)
			}
			if (st.Counters["spilled_rows"] > 0) != (tc.limit > 0) {
				t.Fatalf("counters = %v, want rows spilled only with a memory limit", st.Counters)
			}
		})
	}
}

func TestNewJoiner(t *testing.T) {
	s := stages.NewJoiner("j", "users", "orders", "user_id", "left")
	j := s.Component().(*stages.Joiner)
	if s.Type() != "Joiner" || j.Left != "users" || j.Right != "orders" || strings.Join(j.Key, ",") != "user_id" || j.JoinType != "left" || j.Build != "auto" {
		t.Fatalf("NewJoiner gave %s %+v", s.Type(), *j)
	}
}

// joinBenchSource sends batches built beforehand, so that a benchmark
// measures the stages downstream rather than the building of rows.
type joinBenchSource struct {
	schema  *arrow.Schema
	batches []arrow.RecordBatch
}

func (s *joinBenchSource) Plan(_ context.Context, p *openstage.Plan) error {
	p.SetOutputs(s.schema)
	return nil
}

func (s *joinBenchSource) Pump(ctx context.Context, out *openstage.Outputs) error {
	for _, b := range s.batches {
		if err := out.Send(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// joinBenchSink counts rows.
type joinBenchSink struct{ rows int64 }

func (s *joinBenchSink) Plan(context.Context, *openstage.Plan) error { return nil }

func (s *joinBenchSink) Sink(ctx context.Context, in *openstage.Inputs) error {
	for {
		dp, err := in.Recv(ctx)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		s.rows += dp.Batch.NumRows()
		dp.Batch.Release()
	}
}

// joinBenchBatches builds n rows of schema in batches of size rows, with
// row(i) giving the values of row i.
func joinBenchBatches(b *testing.B, schema *arrow.Schema, n, size int, row func(i int) []any) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	bld := openstage.NewBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	for i := range n {
		if err := bld.Append(row(i)...); err != nil {
			b.Fatal(err)
		}
		if bld.Len() == size || i == n-1 {
			out = append(out, bld.Build())
		}
	}
	return out
}

// BenchmarkJoiner: 1,000,000 orders (the probe side) left-joined to
// 100,000 users (the build side) on an int64 key.
func BenchmarkJoiner(b *testing.B) {
	const orders, users = 1_000_000, 100_000
	segments := []string{"retail", "business", "vip", "staff"}
	ordersSchema := openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "amount", openstage.Float64)
	usersSchema := openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String, "segment", openstage.String)
	ob := joinBenchBatches(b, ordersSchema, orders, 64<<10, func(i int) []any {
		return []any{int64(i), int64(i*7919%users + 1), float64(i%10000) / 100}
	})
	ub := joinBenchBatches(b, usersSchema, users, 64<<10, func(i int) []any {
		return []any{int64(i + 1), fmt.Sprintf("user-%d", i+1), segments[i%len(segments)]}
	})
	defer func() {
		for _, r := range append(ob, ub...) {
			r.Release()
		}
	}()
	b.ResetTimer()
	for b.Loop() {
		o := openstage.NewStage("orders", &joinBenchSource{ordersSchema, ob})
		u := openstage.NewStage("users", &joinBenchSource{usersSchema, ub})
		j := stages.NewJoiner("join", "orders", "users", "user_id", "left")
		sink := &joinBenchSink{}
		o.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(j)
		u.AddOutputPipe(openstage.NewPipe("users")).SetDestination(j)
		j.AddOutputPipe(openstage.NewPipe("out")).SetDestination(openstage.NewStage("sink", sink))
		if err := openstage.NewJob("bench", o, u).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		if sink.rows != orders {
			b.Fatalf("%d rows out, want %d", sink.rows, orders)
		}
	}
	b.ReportMetric(float64(orders)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
