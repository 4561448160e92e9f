package serve

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/open-stage/openstage/internal/report"
)

// Run statuses. A run is queued, then running, then one of the final
// statuses; interrupted is a run the server stopped during (found queued
// or running when the server started again).
const (
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusInvalid     = "invalid"
	StatusInterrupted = "interrupted"
)

// Final reports whether status is one a run ends with.
func Final(status string) bool { return status != StatusQueued && status != StatusRunning }

// RunRecord is one run as the history keeps it.
type RunRecord struct {
	ID       int64          `json:"id"`
	Job      string         `json:"job"`      // the job file, relative to the folder served, with /
	JobName  string         `json:"job_name"` // the job's name
	Status   string         `json:"status"`
	ParamSet string         `json:"param_set,omitempty"`
	Params   map[string]any `json:"parameters"` // secret ones "***"
	Options  RunOptions     `json:"options"`
	Queued   time.Time      `json:"queued_at"`
	Start    *time.Time     `json:"start,omitempty"`
	End      *time.Time     `json:"end,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Report is the run report (stages, pipes and their counts) once the
	// run has ended; during a run the API fills it from live statistics.
	Report *report.Run `json:"report,omitempty"`
	// Graph is the SVG of the job's graph with this run's row counts, as
	// drawn when the run ended (the job file may have changed since).
	Graph string `json:"-"`
}

// Elapsed is the run's duration so far (zero before it starts).
func (r *RunRecord) Elapsed() time.Duration {
	switch {
	case r.Start == nil:
		return 0
	case r.End == nil:
		return time.Since(*r.Start)
	}
	return r.End.Sub(*r.Start)
}

// RunOptions are the run's options besides its parameters.
type RunOptions struct {
	Overwrite bool  `json:"overwrite,omitempty"` // --overwrite: file destinations replace existing files
	Rows      int64 `json:"rows,omitempty"`      // --rows: a trial run
}

// Store is the run history: an SQLite database file.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_path   TEXT    NOT NULL,
	job_name   TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	param_set  TEXT    NOT NULL DEFAULT '',
	params     TEXT    NOT NULL DEFAULT '{}',
	options    TEXT    NOT NULL DEFAULT '{}',
	queued_at  INTEGER NOT NULL,
	started_at INTEGER,
	ended_at   INTEGER,
	error      TEXT    NOT NULL DEFAULT '',
	report     TEXT,
	graph      TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job_path, id);
CREATE TABLE IF NOT EXISTS run_stages (
	run_id   INTEGER NOT NULL REFERENCES runs (id),
	seq      INTEGER NOT NULL,
	stage    TEXT    NOT NULL,
	type     TEXT    NOT NULL,
	rows_in  INTEGER NOT NULL,
	rows_out INTEGER NOT NULL,
	rejected INTEGER NOT NULL,
	elapsed_seconds REAL NOT NULL,
	error    TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS run_logs (
	run_id INTEGER NOT NULL REFERENCES runs (id),
	seq    INTEGER NOT NULL,
	line   TEXT    NOT NULL,
	PRIMARY KEY (run_id, seq)
);
`

// OpenStore opens (creating it if needed) the history database in dir
// (created too) and marks the runs that were queued or running when a
// previous server stopped as interrupted.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the state folder: %w", err)
	}
	path := filepath.Join(dir, "history.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	// One connection: writes are few and small, and SQLite serialises
	// them anyway; this keeps "database is locked" out of the picture.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open the run history %s: %w", path, err)
	}
	now := time.Now().UnixNano()
	if _, err := db.Exec(`UPDATE runs SET status = ?, error = CASE WHEN error = '' THEN 'the server stopped before the run ended' ELSE error END,
		ended_at = COALESCE(ended_at, ?) WHERE status IN (?, ?)`, StatusInterrupted, now, StatusQueued, StatusRunning); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot update the run history %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func nanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// Insert records a new run and sets its ID.
func (s *Store) Insert(ctx context.Context, r *RunRecord) error {
	params, err := json.Marshal(r.Params)
	if err != nil {
		return err
	}
	opts, _ := json.Marshal(r.Options)
	var rep []byte
	if r.Report != nil {
		rep, _ = json.Marshal(r.Report)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs (job_path, job_name, status, param_set, params, options, queued_at, started_at, ended_at, error, report)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Job, r.JobName, r.Status, r.ParamSet, string(params), string(opts), r.Queued.UnixNano(), nanos(r.Start), nanos(r.End), r.Error, nullString(rep))
	if err != nil {
		return fmt.Errorf("cannot record the run: %w", err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

func nullString(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// Started records that run id has started.
func (s *Store) Started(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, started_at = ? WHERE id = ?`, StatusRunning, at.UnixNano(), id)
	return err
}

// Finish records the end of run r: status, times, error, report, the
// stages' counts and the log lines.
func (s *Store) Finish(ctx context.Context, r *RunRecord, logs []string) error {
	var rep []byte
	if r.Report != nil {
		var err error
		if rep, err = json.Marshal(r.Report); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, started_at = ?, ended_at = ?, error = ?, report = ?, graph = ? WHERE id = ?`,
		r.Status, nanos(r.Start), nanos(r.End), r.Error, nullString(rep), r.Graph, r.ID); err != nil {
		return err
	}
	if r.Report != nil {
		for i, st := range r.Report.Stages {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO run_stages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.ID, i, st.Name, st.Type, st.RowsIn, st.RowsOut, st.Rejected, st.Elapsed, st.Error); err != nil {
				return err
			}
		}
	}
	for i, line := range logs {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO run_logs VALUES (?, ?, ?)`, r.ID, i, line); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const runColumns = `id, job_path, job_name, status, param_set, params, options, queued_at, started_at, ended_at, error`

func scanRun(sc interface{ Scan(...any) error }, withReport bool) (*RunRecord, error) {
	var r RunRecord
	var params, opts string
	var queued int64
	var start, end sql.NullInt64
	var rep, svg sql.NullString
	dest := []any{&r.ID, &r.Job, &r.JobName, &r.Status, &r.ParamSet, &params, &opts, &queued, &start, &end, &r.Error}
	if withReport {
		dest = append(dest, &rep, &svg)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	r.Queued = time.Unix(0, queued)
	if start.Valid {
		t := time.Unix(0, start.Int64)
		r.Start = &t
	}
	if end.Valid {
		t := time.Unix(0, end.Int64)
		r.End = &t
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return nil, fmt.Errorf("run %d: parameters: %w", r.ID, err)
	}
	_ = json.Unmarshal([]byte(opts), &r.Options)
	r.Graph = svg.String
	if rep.Valid {
		r.Report = &report.Run{}
		if err := json.Unmarshal([]byte(rep.String), r.Report); err != nil {
			return nil, fmt.Errorf("run %d: report: %w", r.ID, err)
		}
	}
	return &r, nil
}

// ErrNoRun is returned for a run id the history does not have.
var ErrNoRun = errors.New("no such run")

// Get returns run id with its report.
func (s *Store) Get(ctx context.Context, id int64) (*RunRecord, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+runColumns+`, report, graph FROM runs WHERE id = ?`, id)
	r, err := scanRun(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoRun
	}
	return r, err
}

// List returns the most recent runs, newest first: of job (a job path)
// if not empty, at most limit.
func (s *Store) List(ctx context.Context, job string, limit int) ([]*RunRecord, error) {
	q, args := `SELECT `+runColumns+` FROM runs`, []any{}
	if job != "" {
		q += ` WHERE job_path = ?`
		args = append(args, job)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	return s.query(ctx, q, args...)
}

// Latest returns the most recent run of each job, by job path.
func (s *Store) Latest(ctx context.Context) (map[string]*RunRecord, error) {
	runs, err := s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job_path)`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*RunRecord, len(runs))
	for _, r := range runs {
		out[r.Job] = r
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]*RunRecord, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*RunRecord
	for rows.Next() {
		r, err := scanRun(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Logs returns the log lines of run id.
func (s *Store) Logs(ctx context.Context, id int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT line FROM run_logs WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	lines := []string{}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, rows.Err()
}
