// DuckDB peer of the file-format benchmark (bench/files.sh): W1 (orders,
// age >= 18, by country: sum, count, mean of amount) read from a gzip CSV
// or from NDJSON, in-process through github.com/duckdb/duckdb-go/v2.
// usage: duckdb-files csvgz|ndjson INFILE OUTFILE
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"
)

var sources = map[string]string{
	"csvgz":  "read_csv(%s)",
	"ndjson": "read_json(%s, format = 'newline_delimited')",
}

func quote(p string) string { return "'" + strings.ReplaceAll(p, "'", "''") + "'" }

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: duckdb-files csvgz|ndjson INFILE OUTFILE")
	}
	src, ok := sources[os.Args[1]]
	if !ok {
		log.Fatalf("unknown input kind %s", os.Args[1])
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	q := fmt.Sprintf(`COPY (SELECT country, sum(amount) AS total_amount, count(*) AS orders, avg(amount) AS avg_amount
		FROM %s WHERE age >= 18 GROUP BY country ORDER BY country) TO %s (HEADER)`, fmt.Sprintf(src, quote(os.Args[2])), quote(os.Args[3]))
	if _, err := db.Exec(q); err != nil {
		log.Fatal(err)
	}
}
