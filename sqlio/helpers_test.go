package sqlio

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// The servers of the tests: environment variables, with this machine's
// local defaults.
func pgDSN() string {
	if s := os.Getenv("OPENSTAGE_POSTGRES_DSN"); s != "" {
		return s
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func mysqlDSN() string {
	if s := os.Getenv("OPENSTAGE_MYSQL_DSN"); s != "" {
		return s
	}
	return "root@tcp(127.0.0.1:3306)/test"
}

// unreachable skips the test outside CI and fails it under CI=true.
func unreachable(t *testing.T, what, start string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not reachable (%v); CI must start it: %s", what, err, start)
	}
	t.Skipf("%s is not reachable (%v); start it with: %s (or set its DSN variable)", what, err, start)
}

const pgStart = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
const mysqlStart = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"

// needPG returns a connection to the test PostgreSQL, closed at cleanup.
func needPG(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgDSN())
	if err != nil {
		unreachable(t, "PostgreSQL at OPENSTAGE_POSTGRES_DSN ("+redactURL(pgDSN())+")", pgStart, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// needMySQL returns a database/sql handle on the test MariaDB/MySQL.
func needMySQL(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", mysqlDSN())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		unreachable(t, "MySQL/MariaDB at OPENSTAGE_MYSQL_DSN", mysqlStart, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func redactURL(s string) string {
	return regexp.MustCompile(`:[^:@/]*@`).ReplaceAllString(s, ":***@")
}

// tableFor returns a table name of this test only (so that tests can run
// in parallel and rerun), dropped before and after the test.
func tableFor(t *testing.T, drop func(name string)) string {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	name = "os_" + strings.Trim(name, "_")
	drop(name)
	t.Cleanup(func() { drop(name) })
	return name
}

func pgTable(t *testing.T, conn *pgx.Conn) string {
	return tableFor(t, func(name string) {
		if _, err := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+postgresDialect.quote(name)); err != nil {
			t.Fatalf("dropping %s: %v", name, err)
		}
	})
}

func pgExec(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func myExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func myTable(t *testing.T, db *sql.DB) string {
	return tableFor(t, func(name string) {
		if _, err := db.Exec("DROP TABLE IF EXISTS " + mysqlDialect.quote(name)); err != nil {
			t.Fatalf("dropping %s: %v", name, err)
		}
	})
}

// psql runs the database's own client on the test server and returns its
// output (unaligned, tab-separated, no headers).
func psql(t *testing.T, query string) string {
	t.Helper()
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatalf("psql is not installed (apt-get install postgresql-client): %v", err)
	}
	out, err := exec.Command("psql", pgDSN(), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query).CombinedOutput()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", query, err, out)
	}
	return string(out)
}

// mariadb runs the mariadb (or mysql) client and returns its batch output
// (tab-separated, no headers).
func mariadb(t *testing.T, query string) string {
	t.Helper()
	client := "mariadb"
	if _, err := exec.LookPath(client); err != nil {
		client = "mysql"
	}
	cfg := mysqlClientArgs()
	out, err := exec.Command(client, append(cfg, "--batch", "--skip-column-names", "-e", query)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -e %q: %v\n%s", client, query, err, out)
	}
	return string(out)
}

// mysqlClientArgs turns the test DSN user:pass@tcp(host:port)/db into client flags.
func mysqlClientArgs() []string {
	m := regexp.MustCompile(`^([^:@]*)(?::([^@]*))?@tcp\(([^:)]*)(?::(\d+))?\)/([^?]*)`).FindStringSubmatch(mysqlDSN())
	if m == nil {
		return []string{"-h127.0.0.1", "-uroot", "test"}
	}
	args := []string{"-h" + m[3], "-u" + m[1]}
	if m[2] != "" {
		args = append(args, "-p"+m[2])
	}
	if m[4] != "" {
		args = append(args, "-P"+m[4])
	}
	return append(args, "--default-character-set=utf8mb4", m[5])
}

// rowsOf runs an origin and returns its rows.
func rowsOf(t *testing.T, origin any, opts ...openstagetest.Option) *openstagetest.Sink {
	t.Helper()
	res, err := openstagetest.RunOrigin(t, origin, opts...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res.Outputs["out"]
}

func pgOrigin(query string, params ...any) *PostgresOrigin {
	return openstage.New("", func(o *PostgresOrigin) {
		o.DSN = openstage.NewSecret(pgDSN())
		o.Query = query
		o.Params = params
	}).Component().(*PostgresOrigin)
}

func show(rows [][]any) string {
	var b strings.Builder
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				b.WriteString("|")
			}
			switch x := v.(type) {
			case nil:
				b.WriteString("NULL")
			case time.Time:
				b.WriteString(x.UTC().Format(time.RFC3339Nano))
			default:
				fmt.Fprint(&b, x)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checked returns a checked allocator that fails t on leaked buffers.
func checked(t *testing.T) memory.Allocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// pick is a node that reads only cols (Plan.Reads, so that the engine
// projects its origin) and sends them.
type pick struct{ cols []string }

func (s *pick) Plan(_ context.Context, p *openstage.Plan) error {
	in := p.InputSchema()
	var fields []arrow.Field
	for _, c := range s.cols {
		i, err := openstage.FieldIndex(in, c)
		if err != nil {
			return err
		}
		fields = append(fields, in.Field(i))
	}
	p.Reads(p.Inputs()[0].Pipe, s.cols...)
	p.SetOutputs(arrow.NewSchema(fields, nil))
	return nil
}

func (s *pick) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return in.ForEach(ctx, func(dp openstage.DataPackage) error {
		sc := dp.Batch.Schema()
		cols := make([]arrow.Array, len(s.cols))
		fields := make([]arrow.Field, len(s.cols))
		for i, c := range s.cols {
			j := sc.FieldIndices(c)[0]
			cols[i], fields[i] = dp.Batch.Column(j), sc.Field(j)
		}
		rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, dp.Batch.NumRows())
		defer rec.Release()
		return out.Send(ctx, rec)
	})
}
