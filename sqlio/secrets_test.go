package sqlio_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/cli"
	"github.com/open-stage/openstage/sqlio"
)

// openstage runs the command and returns its exit status and output.
func runCLI(args ...string) (int, string) {
	var out bytes.Buffer
	code := cli.Main(args, &out, &out)
	return code, out.String()
}

// A role with a password, allowed only by scram-sha-256 in pg_hba.conf:
// the right password connects, a wrong one fails with the server's reason,
// and the password never shows (literal, ${env:...} or inside a dsn) in
// errors, the run summary, validate or graph.
func TestPostgresPasswordNeverShown(t *testing.T) {
	conn := sqlio.NeedPG(t)
	ctx := context.Background()
	var hba string
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(hba)
	if err != nil {
		t.Fatalf("reading %s (the test edits pg_hba.conf, so it runs as root or the postgres user): %v", hba, err)
	}
	const role, good = "os_pw_role", "S3cret-pw-7781"
	line := "host all " + role + " 127.0.0.1/32 scram-sha-256\n"
	if !strings.Contains(string(orig), line) {
		if err := os.WriteFile(hba, append([]byte(line), orig...), 0o640); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			os.WriteFile(hba, orig, 0o640)
			conn.Exec(context.Background(), "SELECT pg_reload_conf()")
		})
	}
	sqlio.PgExec(t, conn, "SET password_encryption = 'scram-sha-256'",
		"DROP ROLE IF EXISTS "+role, "CREATE ROLE "+role+" LOGIN PASSWORD '"+good+"'", "SELECT pg_reload_conf()")
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	time.Sleep(200 * time.Millisecond) // the reload is asynchronous

	dir := t.TempDir()
	job := func(name, conn string) string {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, []byte(`name: pw
stages:
  - name: reader
    type: PostgresOrigin
`+conn+`
    query: SELECT 1 AS one
  - {name: out, type: Printer}
pipes:
  - {name: p, from: reader, to: out}
`), 0o644)
		return path
	}
	fields := "    host: 127.0.0.1\n    database: test\n    user: " + role + "\n"
	t.Setenv("OS_TEST_PG_PASSWORD", good)
	if code, out := runCLI("run", job("good", fields+"    password: ${env:OS_TEST_PG_PASSWORD}")); code != 0 || strings.Contains(out, good) {
		t.Fatalf("the right password: exit %d\n%s", code, out)
	}
	const bad = "Wr0ng-pw-1234"
	t.Setenv("OS_TEST_PG_BAD", bad)
	for name, c := range map[string]string{
		"literal": fields + "    password: " + bad,
		"env":     fields + "    password: ${env:OS_TEST_PG_BAD}",
		"dsn":     "    dsn: postgres://" + role + ":" + bad + "@127.0.0.1:5432/test?sslmode=disable",
		"none":    fields,
	} {
		t.Run(name, func(t *testing.T) {
			path := job(name, c)
			code, out := runCLI("run", path)
			if code != 2 || !strings.Contains(out, "PostgresOrigin 'reader': connecting to 127.0.0.1:5432 database test as user "+role+": the server refused the login") ||
				!strings.Contains(out, "check the credentials") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if name != "none" && !strings.Contains(out, `password authentication failed for user "`+role+`" (SQLSTATE 28P01)`) {
				t.Fatalf("no reason given:\n%s", out)
			}
			for _, cmd := range [][]string{{"validate", path}, {"graph", path}, {"graph", path, "--format", "dot"}} {
				_, o := runCLI(cmd...)
				out += o
			}
			if strings.Contains(out, bad) || strings.Contains(out, good) {
				t.Fatalf("the password shows:\n%s", out)
			}
		})
	}
	// In Go, a Secret prints *** wherever it goes.
	o := &sqlio.PostgresOrigin{}
	o.Password = openstage.NewSecret(bad)
	if s := strings.Join([]string{o.Password.String(), openstage.NewSecret(bad).GoString()}, " "); strings.Contains(s, bad) {
		t.Fatal(s)
	}
}

// A server that never answers (a listener that accepts nothing: the
// connection opens, no greeting comes) fails within connect_timeout,
// saying so. (An unroutable address is no test here: this machine's
// network answers every address.)
func TestConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, typ := range []string{"PostgresOrigin", "MySQLOrigin", "PostgresDestination", "MySQLDestination"} {
		t.Run(typ, func(t *testing.T) {
			extra := "    query: SELECT 1\n"
			if strings.HasSuffix(typ, "Destination") {
				extra = "    table: t\n"
			}
			path := filepath.Join(t.TempDir(), "job.yaml")
			os.WriteFile(path, []byte(`name: timeout
stages:
  - name: reader
    type: `+typ+`
    host: 127.0.0.1
    port: `+port+`
    user: x
    password: nope-secret
    connect_timeout: 1s
`+extra+`  - {name: out, type: Printer}
pipes:
  - {name: p, from: reader, to: out}
`), 0o644)
			if strings.HasSuffix(typ, "Destination") {
				os.WriteFile(path, []byte(`name: timeout
stages:
  - {name: gen, type: Generator, rows: 1, columns: [{name: id, type: int64}]}
  - name: reader
    type: `+typ+`
    host: 127.0.0.1
    port: `+port+`
    user: x
    password: nope-secret
    connect_timeout: 1s
    table: t
pipes:
  - {name: p, from: gen, to: reader}
`), 0o644)
			}
			start := time.Now()
			code, out := runCLI("validate", path)
			took := time.Since(start)
			if code != 2 || !strings.Contains(out, "could not connect to 127.0.0.1:"+port) || !strings.Contains(out, "within connect_timeout 1s") || strings.Contains(out, "nope-secret") {
				t.Fatalf("exit %d after %v:\n%s", code, took, out)
			}
			if took > 8*time.Second {
				t.Fatalf("connecting took %v with connect_timeout 1s", took)
			}
		})
	}
}

// openstage validate shows what a PostgresOrigin reads and the filter it
// applies in its query.
func TestValidateShowsPushdown(t *testing.T) {
	conn := sqlio.NeedPG(t)
	tbl := sqlio.PgTable(t, conn)
	sqlio.PgExec(t, conn, "CREATE TABLE "+tbl+" (id int, amount numeric(10,2), note text)")
	path := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(path, []byte(`name: pushdown
stages:
  - name: orders_reader
    type: PostgresOrigin
    dsn: `+sqlio.PgDSN()+`
    table: `+tbl+`
  - {name: big, type: Filter, field: amount, condition: ">", value: 1000}
  - {name: by_id, type: Aggregator, key: id, agg_field_name: total, agg_type: sum, field_to_agg: amount}
  - {name: out, type: Printer}
pipes:
  - {name: rows, from: orders_reader, to: big}
  - {name: kept, from: big, to: by_id}
  - {name: sums, from: by_id, to: out}
`), 0o644)
	code, out := runCLI("validate", path)
	for _, want := range []string{"orders_reader reads 2 of 3 columns: id, amount",
		`orders_reader applies the filter of big (amount > 1000) at the source: WHERE openstage_q."amount"::float8 > $1::float8 (values 1000)`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in:\n%s", code, want, out)
		}
	}
}

// MariaDB: a user with a password; a wrong one is refused with the
// server's reason and never shown.
func TestMySQLWrongPassword(t *testing.T) {
	db := sqlio.NeedMy(t)
	const user, good, bad = "os_pw_user", "G00d-pass-5521", "B4d-pass-9913"
	for _, s := range []string{"DROP USER IF EXISTS '" + user + "'@'%'", "CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + good + "'", "GRANT SELECT ON test.* TO '" + user + "'@'%'"} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	dir := t.TempDir()
	job := func(name, conn string) string {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, []byte("name: pw\nstages:\n  - name: reader\n    type: MySQLOrigin\n"+conn+"    query: SELECT 1 AS one\n  - {name: out, type: Printer}\npipes:\n  - {name: p, from: reader, to: out}\n"), 0o644)
		return path
	}
	if code, out := runCLI("run", job("good", "    host: 127.0.0.1\n    database: test\n    user: "+user+"\n    password: "+good+"\n")); code != 0 {
		t.Fatalf("the right password: %s", out)
	}
	for name, c := range map[string]string{
		"literal": "    host: 127.0.0.1\n    database: test\n    user: " + user + "\n    password: " + bad + "\n",
		"dsn":     "    dsn: " + user + ":" + bad + "@tcp(127.0.0.1:3306)/test\n",
	} {
		code, out := runCLI("run", job(name, c))
		if code != 2 || !strings.Contains(out, "the server refused the login: Access denied for user '"+user+"'") || strings.Contains(out, bad) {
			t.Fatalf("%s: exit %d\n%s", name, code, out)
		}
	}
}

// MySQL's own messages for a syntax error (with its position) and an
// unknown table, naming the stage.
func TestMySQLQueryErrors(t *testing.T) {
	sqlio.NeedMy(t)
	for q, want := range map[string]string{
		"SELECT 1 FROM DUAL WHERE = 2":   "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '= 2) AS openstage_q LIMIT 0' at line 1 (MySQL error 1064, SQLSTATE 42000)",
		"SELECT * FROM os_no_such_table": "Table 'test.os_no_such_table' doesn't exist (MySQL error 1146, SQLSTATE 42S02)",
	} {
		path := filepath.Join(t.TempDir(), "job.yaml")
		os.WriteFile(path, []byte("name: e\nstages:\n  - name: reader\n    type: MySQLOrigin\n    dsn: "+sqlio.MySQLDSN()+"\n    query: \""+q+"\"\n  - {name: out, type: Printer}\npipes:\n  - {name: p, from: reader, to: out}\n"), 0o644)
		code, out := runCLI("validate", path)
		if code != 2 || !strings.Contains(out, "MySQLOrigin 'reader': query: "+want) {
			t.Fatalf("%s: exit %d\n%s", q, code, out)
		}
	}
}
