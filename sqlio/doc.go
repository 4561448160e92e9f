// Package sqlio connects jobs to SQL databases: PostgreSQL (pgx's native
// protocol, COPY for loading), MySQL and MariaDB (go-sql-driver/mysql),
// SQLite (modernc.org/sqlite, pure Go, no server), and SQL Server and Oracle
// (go-mssqldb, go-ora) through the same core.
//
// One file per role: postgres_origin.go, postgres_destination.go,
// mysql_origin.go, ... over a shared core: the connection block Conn
// embedded in every stage, the Read block of origins, the Write block of
// destinations, and a small dialect per database (identifier quoting,
// placeholders, CREATE TABLE types, upsert syntax).
//
// See docs/databases.md for the type mapping, the load modes and what was
// tested against which server.
package sqlio
