package stages_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var (
	lookupRefSchema    = openstage.NewSchema("user_id", openstage.Int64, "name", openstage.String, "segment", openstage.String)
	lookupStreamSchema = openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "amount", openstage.Float64)
	lookupRef          = [][]any{
		{int64(1), "Ana", "gold"},
		{int64(2), "Bjørn", nil},
		{nil, "ghost", "none"}, // a null reference key matches nothing
		{int64(3), "Chloé", "silver"},
	}
	lookupStream = [][]any{
		{int64(10), int64(2), 5.5},
		{int64(11), int64(9), 7.0},
		{int64(12), nil, 1.0},
		{int64(13), int64(1), nil},
		{int64(14), int64(3), 2.0},
	}
)

func lookupInputs(batch int, ref, stream [][]any) []openstagetest.Input {
	return []openstagetest.Input{
		{Pipe: "users", Schema: lookupRefSchema, Rows: ref, BatchRows: batch},
		{Pipe: "orders", Schema: lookupStreamSchema, Rows: stream, BatchRows: batch},
	}
}

func TestLookupOnMiss(t *testing.T) {
	matched := [][]any{
		{int64(10), int64(2), 5.5, "Bjørn", nil},
		{int64(13), int64(1), nil, "Ana", "gold"},
		{int64(14), int64(3), 2.0, "Chloé", "silver"},
	}
	for _, batch := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("continue/batch%d", batch), func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "continue"}
			res := routeRun(t, l, lookupInputs(batch, lookupRef, lookupStream), "out")
			out := res.Outputs["out"]
			if got, want := fmt.Sprint(routeColumns(out.Schema)), "[order_id:int64 user_id:int64 amount:float64 name:string segment:string]"; got != want {
				t.Fatalf("columns = %s, want %s", got, want)
			}
			routeEqualRows(t, out.Rows, [][]any{
				{int64(10), int64(2), 5.5, "Bjørn", nil},
				{int64(11), int64(9), 7.0, nil, nil},
				{int64(12), nil, 1.0, nil, nil},
				{int64(13), int64(1), nil, "Ana", "gold"},
				{int64(14), int64(3), 2.0, "Chloé", "silver"},
			})
			st, _ := res.Summary.Stage("stage")
			if st.Counters["missed"] != 2 {
				t.Fatalf("counters = %v, want missed=2", st.Counters)
			}
		})
		t.Run(fmt.Sprintf("drop/batch%d", batch), func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "drop"}
			res := routeRun(t, l, lookupInputs(batch, lookupRef, lookupStream), "out")
			routeEqualRows(t, res.Outputs["out"].Rows, matched)
			st, _ := res.Summary.Stage("stage")
			if st.Counters["dropped"] != 2 || st.RowsOut != 3 {
				t.Fatalf("counters = %v, rows out %d; want dropped=2, 3 rows out", st.Counters, st.RowsOut)
			}
		})
		t.Run(fmt.Sprintf("reject/batch%d", batch), func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "reject", Reject: "rej"}
			res := routeRun(t, l, lookupInputs(batch, lookupRef, lookupStream), "rej", "out")
			routeEqualRows(t, res.Outputs["out"].Rows, matched)
			rej := res.Outputs["rej"]
			if got, want := fmt.Sprint(routeColumns(rej.Schema)), "[order_id:int64 user_id:int64 amount:float64 error:string]"; got != want {
				t.Fatalf("reject columns = %s, want %s", got, want)
			}
			routeEqualRows(t, rej.Rows, [][]any{
				{int64(11), int64(9), 7.0, "key user_id=9 not found in reference pipe 'users'"},
				{int64(12), nil, 1.0, "key user_id=null not found in reference pipe 'users' (null keys never match)"},
			})
			st, _ := res.Summary.Stage("stage")
			if st.Rejected != 2 || st.RowsOut != 3 {
				t.Fatalf("rejected %d, rows out %d; want 2 and 3", st.Rejected, st.RowsOut)
			}
		})
		t.Run(fmt.Sprintf("fail/batch%d", batch), func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}}
			got := routeErr(t, l, lookupInputs(batch, lookupRef, lookupStream), "out")
			want := "Lookup 'stage': stream row 2: key user_id=9 not found in reference pipe 'users'; set on_miss to continue, drop or reject to keep going"
			if got != want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
	t.Run("fail on a null key", func(t *testing.T) {
		l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "fail"}
		got := routeErr(t, l, lookupInputs(1, lookupRef, lookupStream[2:]), "out")
		want := "Lookup 'stage': stream row 1: key user_id=null not found in reference pipe 'users' (null keys never match); set on_miss to continue, drop or reject to keep going"
		if got != want {
			t.Fatalf("error:\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("fail when every key is found", func(t *testing.T) {
		l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}}
		res := routeRun(t, l, lookupInputs(2, lookupRef, [][]any{{int64(1), int64(3), 1.0}, {int64(2), int64(1), 2.0}}), "out")
		routeEqualRows(t, res.Outputs["out"].Rows, [][]any{{int64(1), int64(3), 1.0, "Chloé", "silver"}, {int64(2), int64(1), 2.0, "Ana", "gold"}})
	})
}

func TestLookupDuplicateReferenceKey(t *testing.T) {
	ref := [][]any{
		{int64(1), "a", nil},
		{nil, "n1", nil},
		{int64(42), "b", nil},
		{nil, "n2", nil}, // null keys are not duplicates
		{int64(7), "c", nil},
		{int64(7), "c2", nil},
		{int64(42), "d", nil},
	}
	for _, stream := range [][][]any{lookupStream, nil} {
		t.Run(fmt.Sprintf("%d stream rows", len(stream)), func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "continue"}
			got := routeErr(t, l, lookupInputs(2, ref, stream), "out")
			want := "Lookup 'stage': reference key user_id=42 appears twice (rows 3 and 7); a lookup needs unique keys — use RemoveDuplicates first or a Joiner"
			if got != want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
	t.Run("composite", func(t *testing.T) {
		rs := openstage.NewSchema("country", openstage.String, "year", openstage.Int64, "v", openstage.Int64)
		ss := openstage.NewSchema("year", openstage.Int64, "country", openstage.String)
		l := &stages.Lookup{Reference: "ref", Key: openstage.Strings{"country", "year"}}
		got := routeErr(t, l, []openstagetest.Input{
			{Pipe: "ref", Schema: rs, Rows: [][]any{{"ES", int64(1), int64(1)}, {"ES", int64(2), int64(2)}, {"ES", int64(1), int64(3)}}},
			{Pipe: "s", Schema: ss},
		}, "out")
		want := "Lookup 'stage': reference key (country='ES', year=1) appears twice (rows 1 and 3); a lookup needs unique keys — use RemoveDuplicates first or a Joiner"
		if got != want {
			t.Fatalf("error:\n got: %s\nwant: %s", got, want)
		}
	})
}

func TestLookupKeysAndColumns(t *testing.T) {
	ref := openstage.NewSchema("code", openstage.String, "year", openstage.Int64, "label", openstage.String, "extra", openstage.Int64)
	stream := openstage.NewSchema("country", openstage.String, "yr", openstage.Int64)
	refRows := [][]any{{"ES", int64(2020), "España", int64(1)}, {"日本", int64(2020), "にほん", int64(2)}, {"ES", int64(2021), "España 21", int64(3)}}
	streamRows := [][]any{{"日本", int64(2020)}, {"ES", int64(2021)}, {"ES", int64(1999)}, {"ES", nil}}
	l := &stages.Lookup{Reference: "ref", Key: openstage.Strings{"country", "yr"}, ReferenceKey: openstage.Strings{"code", "year"}, Columns: []string{"label"}, OnMiss: "continue"}
	res := routeRun(t, l, []openstagetest.Input{
		{Pipe: "s", Schema: stream, Rows: streamRows, BatchRows: 3},
		{Pipe: "ref", Schema: ref, Rows: refRows, BatchRows: 1},
	}, "out")
	out := res.Outputs["out"]
	if got, want := fmt.Sprint(routeColumns(out.Schema)), "[country:string yr:int64 label:string]"; got != want {
		t.Fatalf("columns = %s, want %s", got, want)
	}
	routeEqualRows(t, out.Rows, [][]any{
		{"日本", int64(2020), "にほん"},
		{"ES", int64(2021), "España 21"},
		{"ES", int64(1999), nil},
		{"ES", nil, nil},
	})
}

func TestLookupEmptyAndOneRow(t *testing.T) {
	cases := []struct {
		name        string
		ref, stream [][]any
		want        [][]any
	}{
		{name: "both empty"},
		{name: "empty stream", ref: lookupRef},
		{name: "empty reference", stream: lookupStream[:1], want: [][]any{{int64(10), int64(2), 5.5, nil, nil}}},
		{name: "one row each", ref: lookupRef[:1], stream: [][]any{{int64(1), int64(1), 1.0}}, want: [][]any{{int64(1), int64(1), 1.0, "Ana", "gold"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &stages.Lookup{Reference: "users", Key: openstage.Strings{"user_id"}, OnMiss: "continue"}
			res := routeRun(t, l, lookupInputs(0, tc.ref, tc.stream), "out")
			routeEqualRows(t, res.Outputs["out"].Rows, tc.want)
		})
	}
}

func TestLookupValidation(t *testing.T) {
	key := openstage.Strings{"user_id"}
	strStream := openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.String)
	clash := openstage.NewSchema("order_id", openstage.Int64, "user_id", openstage.Int64, "name", openstage.String)
	type tcase struct {
		name    string
		lookup  stages.Lookup
		stream  *arrow.Schema
		outputs []string
		want    string
	}
	cases := []tcase{
		{name: "key type mismatch", lookup: stages.Lookup{Reference: "users", Key: key}, stream: strStream,
			want: "Lookup 'stage': key 'user_id' is string in pipe 'orders' but int64 in pipe 'users'; convert one side (Transformer derive or CSVOrigin column types) so both have the same type"},
		{name: "reference not an input", lookup: stages.Lookup{Reference: "user", Key: key},
			want: "Lookup 'stage': reference pipe 'user' is not connected to this stage; its inputs are 'users', 'orders' (did you mean 'users'?)"},
		{name: "reference missing", lookup: stages.Lookup{Key: key},
			want: "Lookup 'stage': parameter 'reference' is required: name of the input pipe holding the reference rows (read once into memory); the other input pipe is the stream; connected inputs: 'users', 'orders'"},
		{name: "no key", lookup: stages.Lookup{Reference: "users"},
			want: "Lookup 'stage': parameter 'key' is required: key column(s) of the stream (and of the reference, unless reference_key is set)"},
		{name: "reference_key length", lookup: stages.Lookup{Reference: "users", Key: key, ReferenceKey: openstage.Strings{"user_id", "name"}},
			want: "Lookup 'stage': key has 1 column but reference_key has 2; they pair in order"},
		{name: "stream key not found", lookup: stages.Lookup{Reference: "users", Key: openstage.Strings{"userid"}, ReferenceKey: key},
			want: "Lookup 'stage': stream pipe 'orders': key field 'userid' not found; available columns: order_id, user_id, amount (did you mean 'user_id'?)"},
		{name: "bad on_miss", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "skip"},
			want: "Lookup 'stage': parameter 'on_miss': 'skip' is not one of fail, drop, continue, reject"},
		{name: "reject without pipe", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "reject"}, outputs: []string{"out", "rej"},
			want: "Lookup 'stage': on_miss: reject needs the parameter reject, the name of the output pipe for rows not found; outputs: 'out', 'rej'"},
		{name: "reject pipe without on_miss reject", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "drop", Reject: "rej"}, outputs: []string{"out", "rej"},
			want: "Lookup 'stage': reject pipe 'rej' would receive no rows with on_miss: drop; set on_miss: reject or remove the reject parameter"},
		{name: "reject pipe not an output", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "reject", Reject: "rejects"}, outputs: []string{"out", "rej"},
			want: "Lookup 'stage': reject pipe 'rejects' is not connected to this stage; its outputs are 'out', 'rej'"},
		{name: "reject with one output", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "reject", Reject: "out"},
			want: "Lookup 'stage': on_miss: reject needs two output pipes, the output and the reject pipe 'out'; connected outputs: 'out'"},
		{name: "reject and an error column", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "reject", Reject: "rej"}, outputs: []string{"out", "rej"},
			stream: openstage.NewSchema("user_id", openstage.Int64, "error", openstage.String),
			want:   "Lookup 'stage': the stream pipe 'orders' has a column 'error', which the reject pipe adds; rename it upstream"},
		{name: "two outputs without reject", lookup: stages.Lookup{Reference: "users", Key: key, OnMiss: "continue"}, outputs: []string{"out", "out2"},
			want: "Lookup 'stage': has two output pipes ('out', 'out2') but no reject pipe; a Lookup has one output, or two with on_miss: reject and reject naming the second"},
		{name: "column clash", lookup: stages.Lookup{Reference: "users", Key: key}, stream: clash,
			want: "Lookup 'stage': reference column 'name' is also a column of the stream pipe 'orders'; list the reference columns to add (columns: [...]) or rename one upstream"},
		{name: "column not found", lookup: stages.Lookup{Reference: "users", Key: key, Columns: []string{"nmae"}},
			want: "Lookup 'stage': columns: reference pipe 'users': field 'nmae' not found; available columns: user_id, name, segment (did you mean 'name'?)"},
		{name: "key column listed", lookup: stages.Lookup{Reference: "users", Key: key, Columns: []string{"user_id"}},
			want: "Lookup 'stage': columns: 'user_id' is a key of the reference; the stream's key column already holds its value"},
		{name: "column twice", lookup: stages.Lookup{Reference: "users", Key: key, Columns: []string{"name", "name"}},
			want: "Lookup 'stage': columns: 'name' is listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := lookupStreamSchema
			if tc.stream != nil {
				s = tc.stream
			}
			outs := tc.outputs
			if outs == nil {
				outs = []string{"out"}
			}
			l := tc.lookup
			got := routeErr(t, &l, []openstagetest.Input{{Pipe: "users", Schema: lookupRefSchema}, {Pipe: "orders", Schema: s}}, outs...)
			if got != tc.want {
				t.Fatalf("error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}
