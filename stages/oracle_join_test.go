package stages_test

// An oracle test: Joiner and Lookup against SQLite running the same joins
// on the same random data. SQLite (3.39 and later) has RIGHT and FULL OUTER
// JOIN, and its NULL never equals NULL, which is Joiner's semantics.

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/stages"
)

var (
	joinOracleLeftSchema  = openstage.NewSchema("lid", openstage.Int64, "k_int", openstage.Int64, "k_str", openstage.String, "lv", openstage.Float64)
	joinOracleRightSchema = openstage.NewSchema("rid", openstage.Int64, "k_int", openstage.Int64, "k_str", openstage.String, "rv", openstage.Float64)
	joinOracleRefSchema   = openstage.NewSchema("k_int", openstage.Int64, "name", openstage.String, "score", openstage.Float64)
)

// joinOracleRows makes n rows [id, k_int, k_str, value]: int keys in
// [0, intKeys) and unicode string keys, each null about 1 time in
// nullEvery, so that keys repeat on both sides. The string key follows the
// int key with some noise, so that the pair of keys matches too.
func joinOracleRows(rng *rand.Rand, n, intKeys, nullEvery int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		k := rng.IntN(intKeys)
		var ki, ks, v any = int64(k), fmt.Sprintf("clé-%d-東", k+rng.IntN(3)), float64(rng.IntN(100000)) / 8
		if rng.IntN(nullEvery) == 0 {
			ki = nil
		}
		if rng.IntN(nullEvery) == 0 {
			ks = nil
		}
		if rng.IntN(nullEvery) == 0 {
			v = nil
		}
		rows[i] = []any{int64(i), ki, ks, v}
	}
	return rows
}

func joinOracleDB(t *testing.T, tables map[string][][]any) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	t.Cleanup(func() { db.Close() })
	var version string
	if err := db.QueryRow("SELECT sqlite_version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("SQLite %s", version)
	for name, rows := range tables {
		cols := "id INTEGER, k_int INTEGER, k_str TEXT, v REAL"
		if name == "ref" {
			cols = "k_int INTEGER, name TEXT, score REAL"
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (%s)", name, cols)); err != nil {
			t.Fatal(err)
		}
		index := fmt.Sprintf("CREATE INDEX %[1]s_i ON %[1]s (k_int)", name)
		if name != "ref" {
			index += fmt.Sprintf("; CREATE INDEX %[1]s_s ON %[1]s (k_str)", name)
		}
		if _, err := db.Exec(index); err != nil {
			t.Fatal(err)
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(rows[0])), ",")
		stmt, err := tx.Prepare(fmt.Sprintf("INSERT INTO %s VALUES (%s)", name, marks))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if _, err := stmt.Exec(r...); err != nil {
				t.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// joinOracleQuery returns the rows of query as strings, one per row.
func joinOracleQuery(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, joinOracleFormat(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// joinOracleFormat writes a row the same way for Go values and SQLite's.
func joinOracleFormat(row []any) string {
	parts := make([]string, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case nil:
			parts[i] = "NULL"
		case int64:
			parts[i] = strconv.FormatInt(x, 10)
		case float64:
			parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
		case []byte:
			parts[i] = strconv.Quote(string(x))
		case string:
			parts[i] = strconv.Quote(x)
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return strings.Join(parts, "|")
}

func joinOracleFormatAll(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = joinOracleFormat(r)
	}
	return out
}

// joinOracleSame fails unless got and want are the same multiset of rows.
func joinOracleSame(t *testing.T, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("Joiner gave %d rows, SQLite %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("first difference (sorted rows, at %d of %d):\nJoiner: %s\nSQLite: %s", i, len(got), got[i], want[i])
		}
	}
}

func TestJoinerOracle(t *testing.T) {
	sqlJoin := map[string]string{"inner": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "outer": "FULL OUTER JOIN"}
	keys := []struct {
		name string
		key  []string
		on   string
		cols string // the Joiner's output columns, in SQL
	}{
		{"int key", []string{"k_int"}, "l.k_int = r.k_int",
			"l.id, COALESCE(l.k_int, r.k_int), l.k_str, l.v, r.id, r.k_str, r.v"},
		{"string key", []string{"k_str"}, "l.k_str = r.k_str",
			"l.id, l.k_int, COALESCE(l.k_str, r.k_str), l.v, r.id, r.k_int, r.v"},
		{"composite key", []string{"k_str", "k_int"}, "l.k_int = r.k_int AND l.k_str = r.k_str",
			"l.id, COALESCE(l.k_int, r.k_int), COALESCE(l.k_str, r.k_str), l.v, r.id, r.v"},
	}
	for _, seed := range []uint64{1, 2} {
		rng := rand.New(rand.NewPCG(seed, 42))
		left := joinOracleRows(rng, 2000, 600, 20)
		right := joinOracleRows(rng, 1500, 800, 25)
		db := joinOracleDB(t, map[string][][]any{"l": left, "r": right})
		for _, k := range keys {
			for _, joinType := range []string{"inner", "left", "right", "outer"} {
				t.Run(fmt.Sprintf("seed%d/%s/%s", seed, k.name, joinType), func(t *testing.T) {
					want := joinOracleQuery(t, db, fmt.Sprintf("SELECT %s FROM l %s r ON %s", k.cols, sqlJoin[joinType], k.on))
					if len(want) == 0 {
						t.Fatal("SQLite returned no rows: the data tests nothing")
					}
					t.Logf("%d rows", len(want))
					inputs := []openstagetest.Input{
						{Pipe: "l", Schema: joinOracleLeftSchema, Rows: left, BatchRows: 97},
						{Pipe: "r", Schema: joinOracleRightSchema, Rows: right, BatchRows: 64},
					}
					for _, build := range []string{"left", "right"} {
						t.Run("build_"+build, func(t *testing.T) {
							j := &stages.Joiner{Left: "l", Right: "r", Key: k.key, JoinType: joinType, Build: build}
							res := routeRun(t, j, inputs, "out")
							joinOracleSame(t, joinOracleFormatAll(res.Outputs["out"].Rows), want)
						})
					}
					// A memory limit smaller than a batch: the build side
					// spills. Larger batches and one seed only, as tiny
					// spilled batches are slow under the race detector.
					if seed != 1 {
						return
					}
					t.Run("spilled", func(t *testing.T) {
						j := &stages.Joiner{Left: "l", Right: "r", Key: k.key, JoinType: joinType}
						big := []openstagetest.Input{
							{Pipe: "l", Schema: joinOracleLeftSchema, Rows: left, BatchRows: 700},
							{Pipe: "r", Schema: joinOracleRightSchema, Rows: right, BatchRows: 500},
						}
						res := routeRunLimited(t, j, 8<<10, big, "out")
						if st, _ := res.Summary.Stage("stage"); st.Counters["spilled_rows"] == 0 {
							t.Fatalf("counters = %v, want spilled rows", st.Counters)
						}
						joinOracleSame(t, joinOracleFormatAll(res.Outputs["out"].Rows), want)
					})
				})
			}
		}
	}
}

func TestLookupOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	stream := joinOracleRows(rng, 4000, 1200, 15)
	// A reference with unique keys covering part of the stream's, a null
	// key (ignored) and null values.
	var ref [][]any
	for k, i := range rng.Perm(1000) {
		var name, score any = fmt.Sprintf("nom-%d-ü", i), float64(i) / 4
		if k%9 == 0 {
			name = nil
		}
		if k%11 == 0 {
			score = nil
		}
		ref = append(ref, []any{int64(i), name, score})
	}
	ref = append(ref, []any{nil, "null key", 0.5})
	db := joinOracleDB(t, map[string][][]any{"l": stream, "ref": ref})
	want := joinOracleQuery(t, db, "SELECT l.id, l.k_int, l.k_str, l.v, ref.name, ref.score FROM l LEFT JOIN ref ON l.k_int = ref.k_int ORDER BY l.id")
	l := &stages.Lookup{Reference: "ref", Key: openstage.Strings{"k_int"}, OnMiss: "continue"}
	res := routeRun(t, l, []openstagetest.Input{
		{Pipe: "l", Schema: joinOracleLeftSchema, Rows: stream, BatchRows: 113},
		{Pipe: "ref", Schema: joinOracleRefSchema, Rows: ref, BatchRows: 50},
	}, "out")
	got := joinOracleFormatAll(res.Outputs["out"].Rows)
	// The stream keeps its order, so compare in order.
	if len(got) != len(want) {
		t.Fatalf("Lookup gave %d rows, SQLite %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d:\nLookup: %s\nSQLite: %s", i+1, got[i], want[i])
		}
	}
	refKeys := map[any]bool{}
	for _, r := range ref {
		if r[0] != nil {
			refKeys[r[0]] = true
		}
	}
	missed := int64(0)
	for _, r := range stream {
		if r[1] == nil || !refKeys[r[1]] {
			missed++
		}
	}
	st, _ := res.Summary.Stage("stage")
	if missed == 0 || st.Counters["missed"] != missed {
		t.Fatalf("missed counter = %d, want %d (> 0)", st.Counters["missed"], missed)
	}
}
