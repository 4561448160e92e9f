package sqlio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgConfig builds pgx's configuration from the connection block. The
// password goes into the configuration only, never into a connection
// string that an error could quote.
func (c *Conn) pgConfig() (*pgx.ConnConfig, scrubber, error) {
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	var cs []string
	if c.DSN.IsZero() {
		cs = append(cs, "host="+pgQuote(c.host()), fmt.Sprintf("port=%d", c.port(5432)))
		if c.Database != "" {
			cs = append(cs, "dbname="+pgQuote(c.Database))
		}
		if c.User != "" {
			cs = append(cs, "user="+pgQuote(c.User))
		}
		for _, k := range slices.Sorted(maps.Keys(c.Options)) {
			cs = append(cs, k+"="+pgQuote(c.Options[k]))
		}
	}
	conf := strings.Join(cs, " ")
	if !c.DSN.IsZero() {
		conf = c.DSN.Reveal()
		if len(c.Options) > 0 {
			return nil, nil, errors.New("options cannot be combined with dsn; put them in the dsn (?sslmode=disable)")
		}
	}
	cfg, err := pgx.ParseConfig(conf)
	if err != nil {
		what := "the connection parameters"
		if !c.DSN.IsZero() {
			what = "dsn (not shown: it is secret)"
		}
		var pe *pgconn.ParseConfigError
		reason := "invalid"
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			reason = pe.Unwrap().Error()
		}
		return nil, nil, fmt.Errorf("%s could not be read as a PostgreSQL connection string (%s); write a URL postgres://user@host:5432/db?sslmode=disable or key=value pairs", what, scrubber{c.DSN.Reveal(), c.Password.Reveal()}.err(errors.New(reason)))
	}
	if !c.Password.IsZero() {
		cfg.Password = c.Password.Reveal()
	}
	cfg.ConnectTimeout = c.timeout()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "openstage"
	}
	return cfg, scrubber{c.Password.Reveal(), c.DSN.Reveal(), cfg.Password}, nil
}

func pgQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// connectPG opens one connection within connect_timeout.
func connectPG(ctx context.Context, c *Conn) (*pgx.Conn, scrubber, error) {
	cfg, scrub, err := c.pgConfig()
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		where := c.where("PostgreSQL", 5432)
		if !c.DSN.IsZero() {
			where = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
			if cfg.Database != "" {
				where += " database " + cfg.Database
			}
			if cfg.User != "" {
				where += " as user " + cfg.User
			}
		}
		var pe *pgconn.PgError
		auth := errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28")
		if errors.As(err, &pe) {
			err = pgError(pe, "", "")
		} else {
			err = errors.New(pgConnectReason(err))
		}
		if ctx.Err() == nil && cctx.Err() != nil {
			err = fmt.Errorf("%w (timed out)", err)
		}
		return nil, nil, scrub.err(connectError(ctx, where, c.timeout(), err, auth))
	}
	return conn, scrub, nil
}

// pgConnectReason keeps the last part of pgx's connection error, the one
// that says what went wrong, without the repeated host list.
func pgConnectReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "failed to connect") {
		return msg[i+2:]
	}
	return msg
}

// pgError formats a PostgreSQL error: its message and SQLSTATE, detail and
// hint, and where in the query it was found (line and column of the query as
// the user wrote it: sent is the SQL sent, query the user's part of it).
func pgError(pe *pgconn.PgError, sent, query string) error {
	msg := pe.Message + " (SQLSTATE " + pe.Code + ")"
	if pe.Detail != "" {
		msg += "; " + pe.Detail
	}
	if pe.Hint != "" {
		msg += "; hint: " + pe.Hint
	}
	if pe.Position > 0 && query != "" {
		pos := int(pe.Position) - 1
		if i := strings.Index(sent, query); i > 0 {
			pos -= utf8.RuneCountInString(sent[:i])
		}
		if line, col, ok := lineCol(query, pos); ok {
			msg += fmt.Sprintf(", at line %d, column %d of the query", line, col)
		}
	}
	if pe.Where != "" {
		msg += " (" + strings.ReplaceAll(pe.Where, "\n", "; ") + ")"
	}
	return &dbError{msg: msg, err: pe}
}

// lineCol returns the 1-based line and column of character pos (0-based) of q.
func lineCol(q string, pos int) (int, int, bool) {
	if pos < 0 {
		return 0, 0, false
	}
	line, col, i := 1, 1, 0
	for _, r := range q {
		if i == pos {
			return line, col, true
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i++
	}
	return line, col, i == pos
}

// dbError is a database's error with the message this package writes; it
// unwraps to the driver's error.
type dbError struct {
	msg string
	err error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.err }

// pgWrap turns any error of a query into a message: the database's own for
// a PgError, pgx's otherwise.
func pgWrap(err error, sent, query string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgError(pe, sent, query)
	}
	return err
}
