package sqlio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/openstagetest"
)

// The SQL each dialect writes. SQL Server and Oracle have no server here:
// this is what is checked of them without OPENSTAGE_MSSQL_DSN /
// OPENSTAGE_ORACLE_DSN.
func TestDialectSQL(t *testing.T) {
	schema := openstage.NewSchema("id", openstage.Int64, "na\"me", openstage.String, "amount", openstage.Float64, "ok", openstage.Bool, "day", openstage.Date, "at", openstage.Timestamp)
	cols := []string{"id", "name"}
	cases := []struct {
		d                       *dialect
		create, insert, upsert  string
		selectFrom, tableQuoted string
	}{
		{postgresDialect,
			`CREATE TABLE "s"."t" ("id" bigint NOT NULL, "na""me" text, "amount" double precision, "ok" boolean, "day" date, "at" timestamptz, PRIMARY KEY ("id"))`,
			`INSERT INTO "s"."t" ("id", "name") VALUES ($1, $2), ($3, $4)`,
			`INSERT INTO "s"."t" ("id", "name") SELECT "id", "name" FROM stage ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name"`,
			`SELECT openstage_q."id" FROM (SELECT 1) AS openstage_q WHERE x`, `"s"."t"`},
		{mysqlDialect,
			"CREATE TABLE `s`.`t` (`id` BIGINT NOT NULL, `na\"me` LONGTEXT, `amount` DOUBLE, `ok` BOOLEAN, `day` DATE, `at` DATETIME(6), PRIMARY KEY (`id`))",
			"INSERT INTO `s`.`t` (`id`, `name`) VALUES (?, ?), (?, ?)",
			"INSERT INTO `s`.`t` (`id`, `name`) SELECT `id`, `name` FROM stage ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)",
			"SELECT openstage_q.`id` FROM (SELECT 1) AS openstage_q WHERE x", "`s`.`t`"},
		{sqliteDialect,
			`CREATE TABLE "s"."t" ("id" INTEGER NOT NULL, "na""me" TEXT, "amount" REAL, "ok" BOOLEAN, "day" DATE, "at" TIMESTAMP, PRIMARY KEY ("id"))`,
			`INSERT INTO "s"."t" ("id", "name") VALUES (?, ?), (?, ?)`,
			`INSERT INTO "s"."t" ("id", "name") VALUES (?, ?), (?, ?) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name"`,
			`SELECT openstage_q."id" FROM (SELECT 1) AS openstage_q WHERE x`, `"s"."t"`},
		{mssqlDialect,
			`CREATE TABLE [s].[t] ([id] BIGINT NOT NULL, [na"me] NVARCHAR(MAX), [amount] FLOAT, [ok] BIT, [day] DATE, [at] DATETIME2(6), PRIMARY KEY ([id]))`,
			`INSERT INTO [s].[t] ([id], [name]) VALUES (@p1, @p2), (@p3, @p4)`,
			`MERGE INTO [s].[t] AS t USING (VALUES (@p1, @p2), (@p3, @p4)) AS s ([id], [name]) ON (t.[id] = s.[id]) WHEN MATCHED THEN UPDATE SET t.[name] = s.[name] WHEN NOT MATCHED THEN INSERT ([id], [name]) VALUES (s.[id], s.[name]);`,
			`SELECT openstage_q.[id] FROM (SELECT 1) AS openstage_q WHERE x`, `[s].[t]`},
		{oracleDialect,
			`CREATE TABLE "s"."t" ("id" NUMBER(19) NOT NULL, "na""me" NCLOB, "amount" BINARY_DOUBLE, "ok" NUMBER(1), "day" DATE, "at" TIMESTAMP(6), PRIMARY KEY ("id"))`,
			`INSERT ALL INTO "s"."t" ("id", "name") VALUES (:1, :2) INTO "s"."t" ("id", "name") VALUES (:3, :4) SELECT 1 FROM DUAL`,
			`MERGE INTO "s"."t" t USING (SELECT :1 "id", :2 "name" FROM DUAL UNION ALL SELECT :3 "id", :4 "name" FROM DUAL) s ON (t."id" = s."id") WHEN MATCHED THEN UPDATE SET t."name" = s."name" WHEN NOT MATCHED THEN INSERT ("id", "name") VALUES (s."id", s."name")`,
			`SELECT openstage_q."id" FROM (SELECT 1) openstage_q WHERE x`, `"s"."t"`},
	}
	for _, c := range cases {
		t.Run(c.d.driver, func(t *testing.T) {
			check := func(what, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s:\n got %s\nwant %s", what, got, want)
				}
			}
			create, err := c.d.createTable("s.t", schema, []string{"id"})
			if err != nil {
				t.Fatal(err)
			}
			check("create", create, c.create)
			check("insert", insertSQL(c.d, "s.t", cols, 2), c.insert)
			if c.d.upsert != nil {
				check("upsert", c.d.upsert(c.d, "s.t", "stage", cols, []string{"id"}), c.upsert)
			} else {
				check("upsert", upsertRows(c.d, "s.t", cols, []string{"id"}, 2), c.upsert)
			}
			check("select", c.d.selectFrom("SELECT 1", []string{"id"}, "x"), c.selectFrom)
			check("table", c.d.table("s.t"), c.tableQuoted)
		})
	}
	if got := trimQuery(" SELECT 1 ;\n"); got != "SELECT 1" {
		t.Errorf("trimQuery: %q", got)
	}
}

// Live round trips through SQLDestination and SQLOrigin, only where a
// server is given.
func TestLiveMSSQLAndOracle(t *testing.T) {
	for _, c := range []struct{ driver, env string }{{"sqlserver", "OPENSTAGE_MSSQL_DSN"}, {"oracle", "OPENSTAGE_ORACLE_DSN"}} {
		t.Run(c.driver, func(t *testing.T) {
			dsn := os.Getenv(c.env)
			if dsn == "" {
				t.Skipf("%s is not set: no %s server to test against (the dialect's SQL is checked by TestDialectSQL)", c.env, c.driver)
			}
			table := "OS_LIVE_" + strings.ToUpper(c.driver)
			dest := openstage.New("", func(d *SQLDestination) {
				d.Driver, d.DSN, d.Table, d.Mode = c.driver, openstage.NewSecret(dsn), table, "replace"
			}).Component()
			if err := load(t, dest, openstagetest.DefaultSchema, openstagetest.DefaultRows(), 10); err != nil {
				t.Fatal(err)
			}
			o := openstage.New("", func(o *SQLOrigin) {
				o.Driver, o.DSN, o.Table = c.driver, openstage.NewSecret(dsn), table
				o.ColumnTypes = map[string]string{"id": "int64", "ok": "bool"}
			}).Component()
			if len(rowsOf(t, o).Rows) != len(openstagetest.DefaultRows()) {
				t.Fatal("rows lost")
			}
		})
	}
}

// SQLOrigin and SQLDestination with driver run the stage of that database.
func TestSQLStagesByDriver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	dest := openstage.New("", func(d *SQLDestination) {
		d.Driver, d.DSN, d.Table, d.Mode = "sqlite", openstage.NewSecret(path), "t", "create"
	}).Component()
	if err := load(t, dest, openstagetest.DefaultSchema, openstagetest.DefaultRows(), 10); err != nil {
		t.Fatal(err)
	}
	origin := func() any {
		return openstage.New("", func(o *SQLOrigin) {
			o.Driver, o.DSN, o.Query, o.BatchRows = "sqlite", openstage.NewSecret(path), "SELECT * FROM t ORDER BY id", 10
		}).Component()
	}
	openstagetest.TestOrigin(t, openstagetest.OriginCase{New: func(*testing.T) any { return origin() }, Empty: func(*testing.T) any {
		return openstage.New("", func(o *SQLOrigin) {
			o.Driver, o.DSN, o.Query = "sqlite", openstage.NewSecret(path), "SELECT * FROM t WHERE 0"
		}).Component()
	}})
	t.Run("postgres", func(t *testing.T) {
		needPG(t)
		o := openstage.New("", func(o *SQLOrigin) {
			o.Driver, o.DSN, o.Query, o.Params = "postgres", openstage.NewSecret(pgDSN()), "SELECT $1::int + 1 AS n", []any{41}
		}).Component()
		if got := show(rowsOf(t, o).Rows); got != "42\n" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestSQLDestinationConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	openstagetest.TestDestination(t, openstagetest.DestinationCase{
		New: func(*testing.T) any {
			return openstage.New("", func(d *SQLDestination) {
				d.Driver, d.DSN, d.Table, d.Mode, d.CreateIfMissing = "sqlite", openstage.NewSecret(path), "t", "append", true
			}).Component()
		},
		Read: func(t *testing.T) ([][]any, bool) {
			if _, err := os.Stat(path); err != nil {
				return nil, false
			}
			res, err := openstagetest.RunOrigin(t, liteOrigin(path, "SELECT * FROM t ORDER BY id"))
			if err != nil {
				if strings.Contains(err.Error(), "no such table") {
					return nil, false
				}
				t.Fatal(err)
			}
			return res.Outputs["out"].Rows, true
		},
	})
}
