package stages_test

// Oracle tests: the same random rows go through a stage (many small
// batches) and into an in-memory SQLite database, and the stage's output
// must equal the result of the equivalent SQL. SQLite lacks median, var and
// std: median is computed in SQL with window functions, var with a two-pass
// formula in SQL (std is the square root of that, taken in Go). When python3
// with pandas is installed, median/std/var are also compared with pandas.
// Floats compare with a relative tolerance of 1e-9.

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	_ "modernc.org/sqlite"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/stages"
)

var oracleSchema = openstage.NewSchema(
	"id", openstage.Int64, "user", openstage.Int64, "country", openstage.String,
	"amount", openstage.Float64, "qty", openstage.Int64, "day", openstage.Date,
	"ts", openstage.Timestamp, "flag", openstage.Bool)

var oracleCountries = []string{"España", "Österreich", "日本", "Ελλάδα", "France", "Ísland", "Česko", "Brasil", "brasil", "", "Zaïre", "Ñandutí", "Россия", "Ísrael", "USA"}

// oracleData makes the random rows (seeded): about 8% nulls per column.
func oracleData() [][]any {
	r := rand.New(rand.NewPCG(20240601, 42))
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, oracleRows)
	for i := range rows {
		row := []any{
			int64(i + 1),
			int64(1 + r.IntN(150)),
			oracleCountries[r.IntN(len(oracleCountries))],
			math.Round((r.Float64()*2000-500)*100) / 100,
			int64(r.IntN(51)),
			base.AddDate(0, 0, r.IntN(730)),
			base.Add(time.Duration(r.Int64N(int64(730*24*time.Hour))) / time.Microsecond * time.Microsecond),
			r.IntN(2) == 1,
		}
		for c := 1; c < len(row); c++ {
			if r.IntN(12) == 0 {
				row[c] = nil
			}
		}
		rows[i] = row
	}
	return rows
}

// oracleDB loads rows into table t of an in-memory SQLite database; rid is
// the arrival order. Dates are 'YYYY-MM-DD' and timestamps
// 'YYYY-MM-DD HH:MM:SS.ffffff' text, which order like the values.
func oracleDB(t *testing.T, rows [][]any) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (rid INTEGER PRIMARY KEY, id INTEGER, user INTEGER, country TEXT, amount REAL, qty INTEGER, day TEXT, ts TEXT, flag INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		vals := []any{int64(i + 1)}
		for c, v := range r {
			switch x := v.(type) {
			case time.Time:
				if c == 5 {
					v = x.Format("2006-01-02")
				} else {
					v = x.Format("2006-01-02 15:04:05.000000")
				}
			case bool:
				v = int64(ktB2i(x))
			}
			vals = append(vals, v)
		}
		if _, err := stmt.Exec(vals...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Indexes make the correlated subqueries of the aggregate oracle fast.
	for i, cols := range []string{"user", "country", "day", "country, flag", "flag, qty"} {
		if _, err := db.Exec(fmt.Sprintf("CREATE INDEX t%d ON t (%s)", i, cols)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// oracleQuery runs q and converts each column to the Go value the stage
// output holds for the corresponding type of types.
func oracleQuery(t *testing.T, db *sql.DB, types []arrow.DataType, q string, args ...any) [][]any {
	t.Helper()
	rs, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rs.Close()
	var out [][]any
	for rs.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			vals[i] = oracleConvert(t, types[i], v)
		}
		out = append(out, vals)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func oracleConvert(t *testing.T, dt arrow.DataType, v any) any {
	if v == nil {
		return nil
	}
	switch dt.ID() {
	case arrow.FLOAT64:
		switch x := v.(type) {
		case int64:
			return float64(x)
		case float64:
			return x
		}
	case arrow.INT64:
		if x, ok := v.(int64); ok {
			return x
		}
	case arrow.BOOL:
		if x, ok := v.(int64); ok {
			return x != 0
		}
	case arrow.STRING:
		if x, ok := v.(string); ok {
			return x
		}
	case arrow.DATE32, arrow.TIMESTAMP:
		if x, ok := v.(string); ok {
			return ktDate(x)
		}
	}
	t.Fatalf("SQLite returned %v (%T) for a %s column", v, v, dt)
	return nil
}

func oracleIDs(t *testing.T, db *sql.DB, q string) []any {
	t.Helper()
	return ktCol(oracleQuery(t, db, []arrow.DataType{openstage.Int64}, q), 0)
}

func TestOracleFilter(t *testing.T) {
	rows := oracleData()
	db := oracleDB(t, rows)
	tests := []struct {
		f     stages.Filter
		where string
	}{
		{stages.Filter{Field: "qty", Condition: "<", Value: 10}, "qty < 10"},
		{stages.Filter{Field: "qty", Condition: ">", Value: 40}, "qty > 40"},
		{stages.Filter{Field: "qty", Condition: "<=", Value: 10}, "qty <= 10"},
		{stages.Filter{Field: "qty", Condition: ">=", Value: 40}, "qty >= 40"},
		{stages.Filter{Field: "qty", Condition: "=", Value: 7}, "qty = 7"},
		{stages.Filter{Field: "qty", Condition: "!=", Value: 7}, "qty != 7"},
		{stages.Filter{Field: "qty", Condition: "in", Value: []any{1, 2, 3, 50}}, "qty IN (1, 2, 3, 50)"},
		{stages.Filter{Field: "qty", Condition: "not in", Value: []any{1, 2, 3, 50}}, "qty NOT IN (1, 2, 3, 50)"},
		{stages.Filter{Field: "qty", Condition: "between", Value: []any{10, 20}}, "qty BETWEEN 10 AND 20"},
		{stages.Filter{Field: "qty", Condition: "is null"}, "qty IS NULL"},
		{stages.Filter{Field: "qty", Condition: "is not null"}, "qty IS NOT NULL"},
		{stages.Filter{Field: "qty", Condition: ">", Value: 17.5}, "qty > 17.5"},
		{stages.Filter{Field: "qty", Condition: "between", Value: []any{9.5, 20.5}}, "qty BETWEEN 9.5 AND 20.5"},
		{stages.Filter{Field: "user", Condition: "in", Value: []any{1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41}}, "user IN (1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41)"},
		{stages.Filter{Field: "amount", Condition: ">", Value: 100}, "amount > 100"},
		{stages.Filter{Field: "amount", Condition: "<", Value: -0.5}, "amount < -0.5"},
		{stages.Filter{Field: "amount", Condition: "<=", Value: 0}, "amount <= 0"},
		{stages.Filter{Field: "amount", Condition: ">=", Value: 1000.25}, "amount >= 1000.25"},
		{stages.Filter{Field: "amount", Condition: "between", Value: []any{-100, 100.5}}, "amount BETWEEN -100 AND 100.5"},
		{stages.Filter{Field: "amount", Condition: "!=", Value: 0}, "amount != 0"},
		{stages.Filter{Field: "amount", Condition: "is null"}, "amount IS NULL"},
		{stages.Filter{Field: "country", Condition: "=", Value: "日本"}, "country = '日本'"},
		{stages.Filter{Field: "country", Condition: "!=", Value: "España"}, "country != 'España'"},
		{stages.Filter{Field: "country", Condition: ">", Value: "M"}, "country > 'M'"},
		{stages.Filter{Field: "country", Condition: "<=", Value: "Brasil"}, "country <= 'Brasil'"},
		{stages.Filter{Field: "country", Condition: "in", Value: []any{"Ísland", "Ελλάδα", ""}}, "country IN ('Ísland', 'Ελλάδα', '')"},
		{stages.Filter{Field: "country", Condition: "not in", Value: []any{"Ísland", "Ελλάδα", ""}}, "country NOT IN ('Ísland', 'Ελλάδα', '')"},
		{stages.Filter{Field: "country", Condition: "between", Value: []any{"B", "Zz"}}, "country BETWEEN 'B' AND 'Zz'"},
		{stages.Filter{Field: "country", Condition: "is not null"}, "country IS NOT NULL"},
		{stages.Filter{Field: "day", Condition: ">=", Value: "2024-06-01"}, "day >= '2024-06-01'"},
		{stages.Filter{Field: "day", Condition: "between", Value: []any{"2023-03-01", "2023-03-31"}}, "day BETWEEN '2023-03-01' AND '2023-03-31'"},
		{stages.Filter{Field: "day", Condition: "in", Value: []any{"2023-01-01", "2024-02-29", "2024-12-30"}}, "day IN ('2023-01-01', '2024-02-29', '2024-12-30')"},
		{stages.Filter{Field: "ts", Condition: "<", Value: "2023-07-01T12:00:00Z"}, "ts < '2023-07-01 12:00:00.000000'"},
		{stages.Filter{Field: "ts", Condition: "is null"}, "ts IS NULL"},
		{stages.Filter{Field: "flag", Condition: "=", Value: true}, "flag = 1"},
		{stages.Filter{Field: "flag", Condition: "!=", Value: true}, "flag != 1"},
		{stages.Filter{Expr: `amount > 100 and country in ["España", "日本"]`}, "amount > 100 AND country IN ('España', '日本')"},
		{stages.Filter{Expr: `(amount ?? 0) > 900 or country == "Česko"`}, "COALESCE(amount, 0) > 900 OR country = 'Česko'"},
		{stages.Filter{Expr: `qty % 3 == 0 and flag`}, "qty % 3 = 0 AND flag = 1"},
		{stages.Filter{Expr: `len(country) > 5`}, "length(country) > 5"},
		{stages.Filter{Expr: `day >= date("2024-06-01") and amount < 0`}, "day >= '2024-06-01' AND amount < 0"},
		{stages.Filter{Expr: `user == nil or qty == nil`}, "user IS NULL OR qty IS NULL"},
	}
	for _, tc := range tests {
		name := tc.where
		t.Run(name, func(t *testing.T) {
			f := tc.f
			got, _ := ktRun(t, &f, oracleSchema, rows, oracleBatch)
			want := oracleIDs(t, db, "SELECT id FROM t WHERE "+tc.where+" ORDER BY rid")
			if len(want) == 0 || len(want) == len(rows) {
				t.Fatalf("the oracle keeps %d rows: not a useful case", len(want))
			}
			ktEqualRows(t, [][]any{ktCol(got, 0)}, [][]any{want})
			// The whole rows come through unchanged.
			if len(got) > 0 && !oracleSameRow(got[0], rows[got[0][0].(int64)-1]) {
				t.Fatalf("row changed: %v vs %v", got[0], rows[got[0][0].(int64)-1])
			}
		})
	}
}

func oracleSameRow(a, b []any) bool {
	for i := range a {
		if !ktSame(a[i], b[i]) {
			return false
		}
	}
	return true
}

// oracleAggs are the aggregates compared with SQL: the stage's aggregation
// and either a plain SQL aggregate (sql) or a query giving one value per
// group (special, with {K} standing for the key columns, {PK} for
// "PARTITION BY keys" and {GK} for "GROUP BY keys"). Groups a special query
// does not return are null.
var oracleAggs = []struct {
	agg     stages.Aggregation
	sql     string
	special string
}{
	{agg: stages.Aggregation{Type: "count", As: "n"}, sql: "COUNT(*)"},
	{agg: stages.Aggregation{Field: "amount", Type: "count", As: "n_amount"}, sql: "COUNT(amount)"},
	{agg: stages.Aggregation{Field: "amount", Type: "sum", As: "sum_amount"}, sql: "COALESCE(SUM(amount), 0.0)"},
	{agg: stages.Aggregation{Field: "qty", Type: "sum", As: "sum_qty"}, sql: "COALESCE(SUM(qty), 0)"},
	{agg: stages.Aggregation{Field: "flag", Type: "sum", As: "sum_flag"}, sql: "COALESCE(SUM(flag), 0)"},
	{agg: stages.Aggregation{Field: "amount", Type: "mean", As: "mean_amount"}, sql: "AVG(amount)"},
	{agg: stages.Aggregation{Field: "qty", Type: "mean", As: "mean_qty"}, sql: "AVG(qty)"},
	{agg: stages.Aggregation{Field: "amount", Type: "min", As: "min_amount"}, sql: "MIN(amount)"},
	{agg: stages.Aggregation{Field: "amount", Type: "max", As: "max_amount"}, sql: "MAX(amount)"},
	{agg: stages.Aggregation{Field: "qty", Type: "max", As: "max_qty"}, sql: "MAX(qty)"},
	{agg: stages.Aggregation{Field: "country", Type: "min", As: "min_country"}, sql: "MIN(country)"},
	{agg: stages.Aggregation{Field: "country", Type: "max", As: "max_country"}, sql: "MAX(country)"},
	{agg: stages.Aggregation{Field: "day", Type: "min", As: "min_day"}, sql: "MIN(day)"},
	{agg: stages.Aggregation{Field: "ts", Type: "max", As: "max_ts"}, sql: "MAX(ts)"},
	{agg: stages.Aggregation{Field: "flag", Type: "min", As: "min_flag"}, sql: "MIN(flag)"},
	{agg: stages.Aggregation{Field: "country", Type: "nunique", As: "nu_country"}, sql: "COUNT(DISTINCT country)"},
	{agg: stages.Aggregation{Field: "qty", Type: "nunique", As: "nu_qty"}, sql: "COUNT(DISTINCT qty)"},
	{agg: stages.Aggregation{Field: "amount", Type: "nunique", As: "nu_amount"}, sql: "COUNT(DISTINCT amount)"},
	{agg: stages.Aggregation{Field: "day", Type: "nunique", As: "nu_day"}, sql: "COUNT(DISTINCT day)"},
	// first/last: the first/last non-null value by arrival order (rid).
	{agg: stages.Aggregation{Field: "country", Type: "first", As: "first_country"}, special: oracleFirst("country", "rid")},
	{agg: stages.Aggregation{Field: "country", Type: "last", As: "last_country"}, special: oracleFirst("country", "rid DESC")},
	{agg: stages.Aggregation{Field: "amount", Type: "first", As: "first_amount"}, special: oracleFirst("amount", "rid")},
	{agg: stages.Aggregation{Field: "day", Type: "last", As: "last_day"}, special: oracleFirst("day", "rid DESC")},
	{agg: stages.Aggregation{Field: "qty", Type: "last", As: "last_qty"}, special: oracleFirst("qty", "rid DESC")},
	// var: two passes, the group mean first (SQLite has no var); std is its
	// square root.
	{agg: stages.Aggregation{Field: "amount", Type: "var", As: "var_amount"}, special: oracleVar("amount", "")},
	{agg: stages.Aggregation{Field: "qty", Type: "var", As: "var_qty"}, special: oracleVar("qty", "")},
	{agg: stages.Aggregation{Field: "amount", Type: "std", As: "std_amount"}, special: oracleVar("amount", "sqrt")},
	// median: the middle one or two values of each group.
	{agg: stages.Aggregation{Field: "amount", Type: "median", As: "median_amount"}, special: oracleMedian("amount")},
	{agg: stages.Aggregation{Field: "qty", Type: "median", As: "median_qty"}, special: oracleMedian("qty")},
}

func oracleFirst(x, order string) string {
	return fmt.Sprintf("SELECT {K} %[1]s FROM (SELECT *, ROW_NUMBER() OVER ({PK} ORDER BY %[2]s) AS rn FROM t WHERE %[1]s IS NOT NULL) WHERE rn = 1", x, order)
}

func oracleVar(x, fn string) string {
	return fmt.Sprintf("SELECT {K} %s(SUM((%[2]s - m) * (%[2]s - m)) / (COUNT(%[2]s) - 1)) FROM (SELECT *, AVG(%[2]s) OVER ({PK}) AS m FROM t) {GK}", fn, x)
}

func oracleMedian(x string) string {
	return fmt.Sprintf("SELECT {K} AVG(%[1]s) FROM (SELECT *, ROW_NUMBER() OVER ({PK} ORDER BY %[1]s) AS rn, COUNT(*) OVER ({PK}) AS c FROM t WHERE %[1]s IS NOT NULL) WHERE rn IN ((c + 1) / 2, (c + 2) / 2) {GK}", x)
}

func TestOracleAggregator(t *testing.T) {
	rows := oracleData()
	db := oracleDB(t, rows)
	var aggs []stages.Aggregation
	for _, a := range oracleAggs {
		aggs = append(aggs, a.agg)
	}
	for _, keys := range [][]string{{"user"}, {"country"}, {"country", "flag"}, {"day"}, {"flag", "qty"}, nil} {
		t.Run(strings.Join(keys, ",")+"_", func(t *testing.T) {
			got, s := ktRun(t, &stages.Aggregator{Keys: keys, Aggregations: aggs}, oracleSchema, rows, oracleBatch)
			types := make([]arrow.DataType, s.NumFields())
			for i, f := range s.Fields() {
				types[i] = f.Type
			}
			nk := len(keys)
			k, pk, gk := "", "", ""
			var order []string
			for _, key := range keys {
				order = append(order, key+" NULLS LAST")
			}
			if nk > 0 {
				k = strings.Join(keys, ", ") + ","
				pk = "PARTITION BY " + strings.Join(keys, ", ")
				gk = "GROUP BY " + strings.Join(keys, ", ")
			}
			// The groups, in order, with the plain aggregates.
			sel := append([]string{}, keys...)
			var plainCols []int
			for i, a := range oracleAggs {
				if a.sql != "" {
					sel = append(sel, a.sql)
					plainCols = append(plainCols, nk+i)
				}
			}
			q := "SELECT " + strings.Join(sel, ", ") + " FROM t " + gk
			if nk > 0 {
				q += " ORDER BY " + strings.Join(order, ", ")
			}
			plainTypes := append([]arrow.DataType{}, types[:nk]...)
			for _, c := range plainCols {
				plainTypes = append(plainTypes, types[c])
			}
			plain := oracleQuery(t, db, plainTypes, q)
			want := make([][]any, len(plain))
			byKey := map[string]int{}
			for g, r := range plain {
				want[g] = make([]any, len(types))
				copy(want[g], r[:nk])
				for j, c := range plainCols {
					want[g][c] = r[nk+j]
				}
				byKey[fmt.Sprintf("%#v", r[:nk])] = g
			}
			// The other aggregates, one query each, matched by key.
			for i, a := range oracleAggs {
				if a.special == "" {
					continue
				}
				q := strings.NewReplacer("{K}", k, "{PK}", pk, "{GK}", gk).Replace(a.special)
				for _, r := range oracleQuery(t, db, append(append([]arrow.DataType{}, types[:nk]...), types[nk+i]), q) {
					g, ok := byKey[fmt.Sprintf("%#v", r[:nk])]
					if !ok {
						t.Fatalf("%s: unknown group %v", a.agg.As, r[:nk])
					}
					want[g][nk+i] = r[nk]
				}
			}
			if len(want) < 2 && nk > 0 {
				t.Fatalf("only %d groups", len(want))
			}
			for c := range s.Fields() {
				t.Run(s.Field(c).Name, func(t *testing.T) {
					ktEqualRows(t, [][]any{ktCol(got, c)}, [][]any{ktCol(want, c)})
				})
			}
		})
	}
	t.Run("pandas", func(t *testing.T) { oraclePandas(t, rows) })
}

// oraclePandas compares median, std and var by user and by country with
// pandas (groupby with dropna=False), when python3 has pandas.
func oraclePandas(t *testing.T, rows [][]any) {
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import pandas").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3 with pandas is not installed; median/std/var were compared with SQLite only")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"user", "country", "amount", "qty"})
	for _, r := range rows {
		rec := make([]string, 4)
		for i, c := range []int{1, 2, 3, 4} {
			switch x := r[c].(type) {
			case nil:
				rec[i] = ""
			case int64:
				rec[i] = strconv.FormatInt(x, 10)
			case float64:
				rec[i] = strconv.FormatFloat(x, 'g', -1, 64)
			case string:
				rec[i] = "s" + x // never empty, so "" stays null
			}
		}
		w.Write(rec)
	}
	w.Flush()
	f.Close()
	script := `
import json, sys
import pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"user": "Int64", "qty": "Int64", "country": "string"}, keep_default_na=False, na_values=[""])
out = {}
for key in ["user", "country"]:
    g = df.groupby(key, dropna=False, sort=True)
    res = {}
    for name, s in [("median_amount", g["amount"].median()), ("std_amount", g["amount"].std()), ("var_amount", g["amount"].var()),
                    ("median_qty", g["qty"].median()), ("var_qty", g["qty"].var())]:
        res[name] = [None if pd.isna(v) else float(v) for v in s.values]
    res["keys"] = [None if pd.isna(k) else (str(k)[1:] if key == "country" else int(k)) for k in s.index]
    out[key] = res
json.dump(out, sys.stdout)
`
	outb, err := exec.Command(python, "-c", script, path).Output()
	if err != nil {
		t.Fatalf("pandas script: %v", err)
	}
	var pd map[string]map[string][]any
	if err := json.Unmarshal(outb, &pd); err != nil {
		t.Fatal(err)
	}
	aggs := []stages.Aggregation{
		{Field: "amount", Type: "median", As: "median_amount"}, {Field: "amount", Type: "std", As: "std_amount"},
		{Field: "amount", Type: "var", As: "var_amount"}, {Field: "qty", Type: "median", As: "median_qty"}, {Field: "qty", Type: "var", As: "var_qty"},
	}
	for _, key := range []string{"user", "country"} {
		got, _ := ktRun(t, &stages.Aggregator{Key: []string{key}, Aggregations: aggs}, oracleSchema, rows, oracleBatch)
		// pandas sorts null keys last too; compare by key to be safe.
		byKey := map[any][]any{}
		for _, r := range got {
			byKey[r[0]] = r[1:]
		}
		res := pd[key]
		if len(res["keys"]) != len(got) {
			t.Fatalf("%s: pandas has %d groups, the stage %d", key, len(res["keys"]), len(got))
		}
		for i, k := range res["keys"] {
			if f, ok := k.(float64); ok {
				k = int64(f)
			}
			vals, ok := byKey[k]
			if !ok {
				t.Fatalf("%s: group %v of pandas is missing", key, k)
			}
			for j, a := range aggs {
				want := res[a.As][i]
				if (want == nil) != (vals[j] == nil) || (want != nil && !ktClose(want.(float64), vals[j].(float64))) {
					t.Fatalf("%s=%v %s: stage %v, pandas %v", key, k, a.As, vals[j], want)
				}
			}
		}
	}
}

func TestOracleRemoveDuplicates(t *testing.T) {
	rows := oracleData()
	db := oracleDB(t, rows)
	tests := []struct {
		r                stages.RemoveDuplicates
		partition, order string // window order; then output order
		outOrder         string
	}{
		{stages.RemoveDuplicates{Key: []string{"user"}}, "user", "rid", "rid"},
		{stages.RemoveDuplicates{Key: []string{"user"}, Keep: "last"}, "user", "rid DESC", "rid"},
		{stages.RemoveDuplicates{Key: []string{"country", "flag"}}, "country, flag", "rid", "rid"},
		{stages.RemoveDuplicates{Key: []string{"day"}, Keep: "last"}, "day", "rid DESC", "rid"},
		{stages.RemoveDuplicates{Key: []string{"country", "flag"}, SortBy: []string{"amount"}, Ascending: stages.Bools{false}},
			"country, flag", "amount DESC NULLS LAST, rid", "amount DESC NULLS LAST, rid"},
		{stages.RemoveDuplicates{Key: []string{"user"}, SortBy: []string{"day", "amount"}, Keep: "last"},
			"user", "day DESC NULLS FIRST, amount DESC NULLS FIRST, rid DESC", "day ASC NULLS LAST, amount ASC NULLS LAST, rid"},
		{stages.RemoveDuplicates{Key: []string{"qty"}, SortBy: []string{"country", "ts"}, Ascending: stages.Bools{true, false}},
			"qty", "country ASC NULLS LAST, ts DESC NULLS LAST, rid", "country ASC NULLS LAST, ts DESC NULLS LAST, rid"},
	}
	for _, tc := range tests {
		t.Run(tc.partition+" by "+tc.order, func(t *testing.T) {
			r := tc.r
			got, _ := ktRun(t, &r, oracleSchema, rows, oracleBatch)
			want := oracleIDs(t, db, fmt.Sprintf("SELECT id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s) AS rn FROM t) WHERE rn = 1 ORDER BY %s", tc.partition, tc.order, tc.outOrder))
			ktEqualRows(t, [][]any{ktCol(got, 0)}, [][]any{want})
		})
	}
}

func TestOracleSort(t *testing.T) {
	rows := oracleData()
	db := oracleDB(t, rows)
	tests := []struct {
		keys  stages.SortKeys
		nulls string
		order string
	}{
		{stages.SortKeys{stages.Asc("qty")}, "", "qty ASC NULLS LAST"},
		{stages.SortKeys{stages.Desc("amount")}, "first", "amount DESC NULLS FIRST"},
		{stages.SortKeys{stages.Asc("country"), stages.Desc("amount")}, "last", "country ASC NULLS LAST, amount DESC NULLS LAST"},
		{stages.SortKeys{stages.Desc("day"), stages.Asc("user")}, "first", "day DESC NULLS FIRST, user ASC NULLS FIRST"},
		{stages.SortKeys{stages.Asc("flag"), stages.Desc("ts")}, "", "flag ASC NULLS LAST, ts DESC NULLS LAST"},
		{stages.SortKeys{stages.Desc("country")}, "", "country DESC NULLS LAST"},
	}
	for _, tc := range tests {
		t.Run(tc.order, func(t *testing.T) {
			got, _ := ktRun(t, &stages.Sort{Keys: tc.keys, Nulls: tc.nulls}, oracleSchema, rows, oracleBatch)
			want := oracleIDs(t, db, "SELECT id FROM t ORDER BY "+tc.order+", rid")
			ktEqualRows(t, [][]any{ktCol(got, 0)}, [][]any{want})
			for _, r := range got[:50] {
				if !oracleSameRow(r, rows[r[0].(int64)-1]) {
					t.Fatalf("row changed: %v vs %v", r, rows[r[0].(int64)-1])
				}
			}
		})
	}
}
