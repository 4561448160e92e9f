package beam

import (
	"context"
	"path/filepath"
	"testing"
)

// TestShuffleStages: Sort, Aggregator (keyed, every function, and without
// keys), Joiner (the four join types, null keys never matching), Lookup
// (with a reject pipe) and RemoveDuplicates (first and last in input
// order, best by sort_by, and few keys with thousands of rows each across
// the batches, with ties and nulls in sort_by) give on Prism the local engine's output,
// byte for byte and in order, except the Joiner's, whose order the local
// engine keeps only within its memory budget (compared as sorted lines).
func TestShuffleStages(t *testing.T) {
	dir := t.TempDir()
	genOrders(t, filepath.Join(dir, "orders.csv"), 30000, 5)
	genUsers(t, filepath.Join(dir, "users.csv"), 3000)
	path := writeJob(t, dir, `
name: shuffles
params: {out_dir: out}
stages:
  - {name: orders, type: CSVOrigin, path: orders.csv, batch_rows: 2000}
  - {name: users, type: CSVOrigin, path: users.csv}
  - {name: fork, type: Copy}
  - {name: ufork, type: Copy}
  - name: sorted
    type: Sort
    keys: [{field: country, ascending: false}, amount, user_id]
    nulls: first
  - name: agg
    type: Aggregator
    keys: [country, status]
    aggregations:
      - {field: amount, type: sum}
      - {type: count, as: n}
      - {field: amount, type: mean}
      - {field: amount, type: min}
      - {field: amount, type: max}
      - {field: amount, type: std}
      - {field: amount, type: var}
      - {field: amount, type: median}
      - {field: user_id, type: nunique}
      - {field: order_id, type: first}
      - {field: note, type: last}
  - name: total
    type: Aggregator
    aggregations: [{field: amount, type: sum}, {field: age, type: median}, {type: count, as: n}]
  - {name: inner, type: Joiner, left: j1, right: u1, key: user_id, join_type: inner}
  - {name: left, type: Joiner, left: j2, right: u2, key: user_id, join_type: left}
  - {name: right, type: Joiner, left: j3, right: u3, key: user_id, join_type: right}
  - {name: outer, type: Joiner, left: j4, right: u4, key: user_id, join_type: outer}
  - {name: look, type: Lookup, reference: u5, key: user_id, on_miss: reject, reject: missed}
  - {name: first, type: RemoveDuplicates, key: [country, age]}
  - {name: last, type: RemoveDuplicates, key: user_id, keep: last}
  - name: best
    type: RemoveDuplicates
    key: user_id
    sort_by: [amount, order_id]
    ascending: [false, true]
  - {name: status_last, type: RemoveDuplicates, key: status, sort_by: age, keep: last}
  - {name: cheapest, type: RemoveDuplicates, key: country, sort_by: amount}
  - {name: w_status, type: CSVDestination, path: "${out_dir}/status.csv"}
  - {name: w_cheapest, type: CSVDestination, path: "${out_dir}/cheapest.csv"}
  - {name: w_sorted, type: CSVDestination, path: "${out_dir}/sorted.csv"}
  - {name: w_agg, type: CSVDestination, path: "${out_dir}/agg.csv"}
  - {name: w_total, type: CSVDestination, path: "${out_dir}/total.csv"}
  - {name: w_inner, type: CSVDestination, path: "${out_dir}/inner.csv"}
  - {name: w_left, type: CSVDestination, path: "${out_dir}/left.csv"}
  - {name: w_right, type: CSVDestination, path: "${out_dir}/right.csv"}
  - {name: w_outer, type: CSVDestination, path: "${out_dir}/outer.csv"}
  - {name: w_look, type: CSVDestination, path: "${out_dir}/look.csv"}
  - {name: w_missed, type: CSVDestination, path: "${out_dir}/missed.csv"}
  - {name: w_first, type: CSVDestination, path: "${out_dir}/first.csv"}
  - {name: w_last, type: CSVDestination, path: "${out_dir}/last.csv"}
  - {name: w_best, type: CSVDestination, path: "${out_dir}/best.csv"}
pipes:
  - {name: o, from: orders, to: fork}
  - {name: u, from: users, to: ufork}
  - {name: s1, from: fork, to: sorted}
  - {name: a1, from: fork, to: agg}
  - {name: t1, from: fork, to: total}
  - {name: j1, from: fork, to: inner}
  - {name: j2, from: fork, to: left}
  - {name: j3, from: fork, to: right}
  - {name: j4, from: fork, to: outer}
  - {name: l1, from: fork, to: look}
  - {name: d1, from: fork, to: first}
  - {name: d2, from: fork, to: last}
  - {name: d3, from: fork, to: best}
  - {name: d4, from: fork, to: status_last}
  - {name: d5, from: fork, to: cheapest}
  - {name: st2, from: status_last, to: w_status}
  - {name: ch2, from: cheapest, to: w_cheapest}
  - {name: u1, from: ufork, to: inner}
  - {name: u2, from: ufork, to: left}
  - {name: u3, from: ufork, to: right}
  - {name: u4, from: ufork, to: outer}
  - {name: u5, from: ufork, to: look}
  - {name: s2, from: sorted, to: w_sorted}
  - {name: a2, from: agg, to: w_agg}
  - {name: t2, from: total, to: w_total}
  - {name: ji, from: inner, to: w_inner}
  - {name: jl, from: left, to: w_left}
  - {name: jr, from: right, to: w_right}
  - {name: jo, from: outer, to: w_outer}
  - {name: lk, from: look, to: w_look}
  - {name: missed, from: look, to: w_missed}
  - {name: f2, from: first, to: w_first}
  - {name: l2, from: last, to: w_last}
  - {name: b2, from: best, to: w_best}
`)
	local, prism := filepath.Join(dir, "local"), filepath.Join(dir, "prism")
	ls := runLocal(t, path, local, nil)
	sum, err := runPrism(context.Background(), t, path, prism, map[string]string{}, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, local, prism, "inner.csv", "left.csv", "right.csv", "outer.csv")
	for _, want := range ls.Stages {
		got, _ := sum.Stage(want.Stage)
		if got.RowsIn != want.RowsIn || got.RowsOut != want.RowsOut || got.Rejected != want.Rejected {
			t.Errorf("%s: prism in/out/rejected %d/%d/%d, local %d/%d/%d", want.Stage, got.RowsIn, got.RowsOut, got.Rejected, want.RowsIn, want.RowsOut, want.Rejected)
		}
	}
}
