package sqlio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/open-stage/openstage"
)

// Conn is the connection block shared by the database origins and
// destinations: embedded in each, its fields are their parameters. Either
// dsn, or host, port, database, user and password.
type Conn struct {
	DSN            openstage.Secret  `param:"dsn" doc:"Connection string instead of host/port/database/user/password: a URL (postgres://user:pass@host:5432/db?sslmode=disable) or the driver's own form (MySQL: user:pass@tcp(host:3306)/db). Secret: it may hold a password."`
	Host           string            `param:"host" doc:"Server host name or address (default 127.0.0.1)."`
	Port           int               `param:"port" doc:"Server port (default: 5432 for PostgreSQL, 3306 for MySQL, 1433 for SQL Server, 1521 for Oracle)."`
	Database       string            `param:"database" doc:"Database name (Oracle: the service name)."`
	User           string            `param:"user" doc:"User name."`
	Password       openstage.Secret  `param:"password" doc:"Password. Secret: never printed; write it as ${env:NAME} rather than in the job file."`
	ConnectTimeout Duration          `param:"connect_timeout" default:"10s" doc:"How long connecting may take before the job fails (10s, 1m, 500ms)."`
	Options        map[string]string `param:"options" doc:"Extra driver connection parameters, such as sslmode: disable or application_name for PostgreSQL, tls for MySQL."`
}

// Duration is a parameter holding a length of time, written 10s, 1m30s,
// 500ms (or a number of seconds).
type Duration time.Duration

// DecodeParam implements openstage.ParamDecoder.
func (d *Duration) DecodeParam(v any) error {
	switch x := v.(type) {
	case string:
		t, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return fmt.Errorf("'%s' is not a duration; write it as 10s, 1m or 500ms", x)
		}
		*d = Duration(t)
	case int, int64, float64:
		f, _ := strconv.ParseFloat(fmt.Sprint(x), 64)
		*d = Duration(f * float64(time.Second))
	default:
		return fmt.Errorf("must be a duration such as 10s")
	}
	if *d < 0 {
		return fmt.Errorf("must not be negative")
	}
	return nil
}

// ParamType implements openstage.ParamTyper.
func (Duration) ParamType() string { return "duration" }

// String returns the duration as Go writes it (10s).
func (d Duration) String() string { return time.Duration(d).String() }

func (c *Conn) timeout() time.Duration {
	if c.ConnectTimeout <= 0 {
		return 10 * time.Second
	}
	return time.Duration(c.ConnectTimeout)
}

func (c *Conn) host() string {
	if c.Host == "" {
		return "127.0.0.1"
	}
	return c.Host
}

func (c *Conn) port(def int) int {
	if c.Port == 0 {
		return def
	}
	return c.Port
}

// check reports a connection block that mixes dsn with the separate fields.
func (c *Conn) check() error {
	if !c.DSN.IsZero() && (c.Host != "" || c.Port != 0 || c.Database != "" || c.User != "" || !c.Password.IsZero()) {
		return errors.New("set either dsn or host/port/database/user/password, not both")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port %d is not a port number (1 to 65535)", c.Port)
	}
	return nil
}

// where names the server in messages: never the password, never the DSN.
func (c *Conn) where(dialect string, defPort int) string {
	if !c.DSN.IsZero() {
		return "the server of the dsn"
	}
	s := fmt.Sprintf("%s:%d", c.host(), c.port(defPort))
	if c.Database != "" {
		s += " database " + c.Database
	}
	if c.User != "" {
		s += " as user " + c.User
	}
	return s
}

// scrubber masks secrets a driver might quote: the password, the DSN and
// any password found inside the DSN.
type scrubber []string

func (s scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, v := range s {
		if len(v) >= 3 {
			masked = strings.ReplaceAll(masked, v, "***")
		}
	}
	if masked == msg {
		return err
	}
	return &scrubbed{msg: masked, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// connectError explains a failure to connect: a timeout or a refused
// connection in words that say what to check.
func connectError(ctx context.Context, where string, timeout time.Duration, err error, authFailed bool) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case authFailed:
		return fmt.Errorf("connecting to %s: the server refused the login: %w; check the credentials, user and password (the password is not shown)", where, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "timeout") || strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "deadline exceeded"):
		return fmt.Errorf("could not connect to %s within connect_timeout %s: %w; check host and port and that the server is running and reachable, or raise connect_timeout", where, timeout, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("could not connect to %s within connect_timeout %s: %w", where, timeout, err)
	}
	return fmt.Errorf("could not connect to %s: %w; check host, port and database, and that the server is running", where, err)
}
