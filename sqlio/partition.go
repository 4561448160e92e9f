package sqlio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// A partitioned origin (partition_column, partitions, lower_bound,
// upper_bound) reads its query in ranges of one integer, date or timestamp
// column, each range a query of its own on its own connection, as Spark's
// JDBC source does. The ranges cover the whole domain: the first also
// takes the rows below its upper end and the NULLs, the last every row
// from its lower end up, so no row is lost or read twice whatever the
// bounds. The range conditions are literals the origin writes itself from
// parsed integers and dates (never the job's text), so PostgreSQL can still
// read a range with COPY, which takes no parameters.

// RangeReader is an origin read in ranges of its partition_column (the
// database origins): Beam reads each range as a part.
type RangeReader interface {
	// Ranges returns the ranges of the origin (Plan must have run),
	// finding the bounds with SELECT min, max when lower_bound or
	// upper_bound is not set; nil when it has no partition_column.
	Ranges(ctx context.Context) ([]Range, error)
	// PumpRange reads one range on its own connection and sends its
	// batches (send does not keep a batch after it returns).
	PumpRange(ctx context.Context, alloc memory.Allocator, r Range, send func(arrow.RecordBatch) error) error
}

// Range is one range of a partitioned origin: the rows whose partition
// column is in [Lo, Hi), in the column's units (the integer; days since
// 1970-01-01 for a date; microseconds since 1970-01-01 UTC for a
// timestamp). Range 0 also takes the rows below Lo and the NULLs; range
// Of-1 every row from Lo up.
type Range struct {
	N, Of  int
	Lo, Hi int64
}

type partKind int

const (
	partNone partKind = iota
	partInt
	partDate
	partTimestamp
)

func (k partKind) String() string {
	return [...]string{"", "integer", "date", "timestamp"}[k]
}

// partKindOf is the kind of a column the database maps to t.
func partKindOf(t arrow.DataType) partKind {
	if t == nil {
		return partNone
	}
	switch t.ID() {
	case arrow.INT64:
		return partInt
	case arrow.DATE32:
		return partDate
	case arrow.TIMESTAMP:
		return partTimestamp
	}
	return partNone
}

// partition is a planned partition_column.
type partition struct {
	col     string
	kind    partKind
	tz      bool // PostgreSQL timestamptz
	lo, hi  *int64
	workers int
}

func (r *Read) checkPartition() error {
	if r.PartitionColumn == "" {
		if r.Partitions != 0 || r.LowerBound != nil || r.UpperBound != nil {
			return errors.New("partitions, lower_bound and upper_bound go with partition_column: set partition_column to an integer, date or timestamp column of the query")
		}
		return nil
	}
	if r.Partitions < 1 {
		return fmt.Errorf("partitions must be 1 or more with partition_column '%s', got %d", r.PartitionColumn, r.Partitions)
	}
	return nil
}

// planPartition checks partition_column against the query's columns
// (kinds gives what each can be partitioned as) and reads the bounds.
func (r *Read) planPartition(cols []readCol, kinds []partKind) (partition, error) {
	if r.PartitionColumn == "" {
		return partition{}, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	i := slices.Index(names, r.PartitionColumn)
	if i < 0 {
		msg := fmt.Sprintf("partition_column: the query has no column '%s'; its columns: %s", r.PartitionColumn, strings.Join(names, ", "))
		if s := openstage.Suggest(r.PartitionColumn, names); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", s)
		}
		return partition{}, errors.New(msg)
	}
	p := partition{col: r.PartitionColumn, kind: kinds[i]}
	if p.kind == partNone {
		return partition{}, fmt.Errorf("partition_column '%s' is a %s column, which cannot be cut into ranges: choose an integer, date or timestamp column (or cast one in the query)", p.col, cols[i].dbType)
	}
	for _, b := range []struct {
		name string
		v    any
		to   **int64
	}{{"lower_bound", r.LowerBound, &p.lo}, {"upper_bound", r.UpperBound, &p.hi}} {
		if b.v == nil {
			continue
		}
		n, null, err := p.units(b.v)
		if err != nil || null {
			return partition{}, fmt.Errorf("%s: %v is not a %s, which partition_column '%s' (%s) needs", b.name, b.v, p.kind, p.col, cols[i].dbType)
		}
		*b.to = &n
	}
	if p.lo != nil && p.hi != nil && *p.lo > *p.hi {
		return partition{}, fmt.Errorf("lower_bound (%v) is above upper_bound (%v): swap them", r.LowerBound, r.UpperBound)
	}
	return p, nil
}

// units converts a bound (from the job file or from min/max) to the
// column's units; null is true for a NULL.
func (p *partition) units(v any) (n int64, null bool, err error) {
	switch x := v.(type) {
	case nil:
		return 0, true, nil
	case []byte:
		return p.units(string(x))
	case int:
		v = int64(x)
	case int16:
		v = int64(x)
	case int32:
		v = int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return 0, false, fmt.Errorf("%d is too large", x)
		}
		v = int64(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false, fmt.Errorf("%v is not an integer", x)
		}
		v = int64(x)
	}
	switch x := v.(type) {
	case int64:
		if p.kind == partInt {
			return x, false, nil
		}
	case string:
		if p.kind == partInt {
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			return n, false, err
		}
		t, err := parseDBTime(strings.TrimSpace(x))
		if err != nil {
			return 0, false, err
		}
		return p.units(t)
	case time.Time:
		switch p.kind {
		case partDate:
			y, m, d := x.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400, false, nil
		case partTimestamp:
			return x.UnixMicro(), false, nil
		}
	}
	return 0, false, fmt.Errorf("%v is not a %s", v, p.kind)
}

// ranges cuts lo..hi into at most n ranges of equal width (fewer when the
// domain has fewer values than n).
func (p *partition) ranges(n int, lo, hi int64) []Range {
	if hi < lo {
		hi = lo
	}
	width := uint64(hi-lo) + 1 // values in lo..hi
	if width == 0 {            // the whole int64 domain
		width = math.MaxUint64
	}
	if uint64(n) > width {
		n = int(width)
	}
	edge := func(i int) int64 {
		h, l := bits.Mul64(width, uint64(i))
		q, _ := bits.Div64(h, l, uint64(n))
		return lo + int64(q)
	}
	out := make([]Range, n)
	for i := range out {
		out[i] = Range{N: i, Of: n, Lo: edge(i), Hi: edge(i + 1)}
	}
	return out
}

// where is the condition selecting r's rows, in SQL for d, on the column
// of the wrapped query (openstage_q); "" for the one range of all rows.
func (p *partition) where(d *dialect, r Range) string {
	c := "openstage_q." + d.quote(p.col)
	switch {
	case r.Of <= 1:
		return ""
	case r.N == 0:
		return "(" + c + " < " + p.literal(d, r.Hi) + " OR " + c + " IS NULL)"
	case r.N == r.Of-1:
		return c + " >= " + p.literal(d, r.Lo)
	}
	return c + " >= " + p.literal(d, r.Lo) + " AND " + c + " < " + p.literal(d, r.Hi)
}

// literal writes a value of the column's units as an SQL literal of d.
func (p *partition) literal(d *dialect, v int64) string {
	switch p.kind {
	case partDate:
		s := "'" + time.Unix(v*86400, 0).UTC().Format("2006-01-02") + "'"
		if d.driver == "sqlite" {
			return s
		}
		return "DATE " + s
	case partTimestamp:
		t := time.UnixMicro(v).UTC()
		switch {
		case d.driver == "sqlite":
			return "'" + t.Format("2006-01-02 15:04:05.999999") + "'"
		case p.tz && d.driver == "postgres":
			return "TIMESTAMPTZ '" + t.Format("2006-01-02 15:04:05.000000") + "+00'"
		}
		return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05.000000") + "'"
	}
	return strconv.FormatInt(v, 10)
}

// describe names a range in errors: "range 1 of 4 (id < 250, and NULLs)".
func (p *partition) describe(r Range) string {
	v := func(n int64) string {
		switch p.kind {
		case partDate:
			return time.Unix(n*86400, 0).UTC().Format("2006-01-02")
		case partTimestamp:
			return time.UnixMicro(n).UTC().Format("2006-01-02 15:04:05.999999")
		}
		return strconv.FormatInt(n, 10)
	}
	var cond string
	switch {
	case r.Of <= 1:
		cond = "all rows"
	case r.N == 0:
		cond = fmt.Sprintf("%s < %s, and NULLs", p.col, v(r.Hi))
	case r.N == r.Of-1:
		cond = fmt.Sprintf("%s >= %s", p.col, v(r.Lo))
	default:
		cond = fmt.Sprintf("%s >= %s and < %s", p.col, v(r.Lo), v(r.Hi))
	}
	return fmt.Sprintf("partition_column '%s': range %d of %d (%s)", p.col, r.N+1, r.Of, cond)
}

// boundsSQL is the query finding the bounds of the column over base.
func (p *partition) boundsSQL(d *dialect, base string) string {
	c := d.quote(p.col)
	as := " AS openstage_b"
	if d.driver == "oracle" {
		as = " openstage_b"
	}
	return "SELECT min(" + c + "), max(" + c + ") FROM (" + base + ")" + as
}

// rangesOf returns the ranges of p; minmax runs boundsSQL and returns the
// two values, when a bound is not set.
func (p *partition) rangesOf(n int, minmax func() (any, any, error)) ([]Range, error) {
	if p.col == "" {
		return nil, nil
	}
	var lo, hi int64
	if p.lo != nil && p.hi != nil {
		lo, hi = *p.lo, *p.hi
	} else {
		a, b, err := minmax()
		if err != nil {
			return nil, fmt.Errorf("finding the bounds of partition_column '%s' (SELECT min, max): %w", p.col, err)
		}
		l, null, err := p.units(a)
		if err != nil {
			return nil, fmt.Errorf("the minimum of partition_column '%s': %w; set lower_bound and upper_bound", p.col, err)
		}
		if null { // no row, or only NULLs: one range reads them all
			return []Range{{N: 0, Of: 1}}, nil
		}
		h, _, err := p.units(b)
		if err != nil {
			return nil, fmt.Errorf("the maximum of partition_column '%s': %w; set lower_bound and upper_bound", p.col, err)
		}
		lo, hi = l, h
		if p.lo != nil {
			lo = *p.lo
		}
		if p.hi != nil {
			hi = *p.hi
		}
	}
	return p.ranges(n, lo, hi), nil
}

// andWhere joins two conditions of a WHERE clause.
func andWhere(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") AND " + b
}

// pumpRanges reads ranges, up to workers at a time, each with read (on its
// own connection), and sends their batches to out in range order, so the
// output is the same whatever the timing. A range waits with at most one
// batch ready while the ranges before it are sent. The first error cancels
// the other ranges and is returned, naming its range.
func pumpRanges(ctx context.Context, out *openstage.Outputs, p *partition, ranges []Range, read func(ctx context.Context, r Range, send sendFunc) error) error {
	wrap := func(r Range, err error) error {
		if err == nil || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%s: %w", p.describe(r), err)
	}
	if len(ranges) == 1 {
		return wrap(ranges[0], read(ctx, ranges[0], out.Send))
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chans := make([]chan arrow.RecordBatch, len(ranges))
	for i := range chans {
		chans[i] = make(chan arrow.RecordBatch, 1)
	}
	errs := make([]error, len(ranges))
	slots := make(chan struct{}, max(1, p.workers))
	go func() {
		for i, r := range ranges {
			select {
			case slots <- struct{}{}:
			case <-rctx.Done():
				for _, ch := range chans[i:] {
					close(ch)
				}
				return
			}
			go func() {
				defer func() { <-slots }()
				defer close(chans[i])
				err := read(rctx, r, func(ctx context.Context, rec arrow.RecordBatch) error {
					rec.Retain()
					select {
					case chans[i] <- rec:
						return nil
					case <-ctx.Done():
						rec.Release()
						return context.Cause(ctx)
					}
				})
				if err != nil {
					errs[i] = wrap(r, err)
					cancel(errs[i])
				}
			}()
		}
	}()
	fail := func(from int, err error) error {
		cancel(err)
		for _, ch := range chans[from:] {
			for rec := range ch {
				rec.Release()
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cause := context.Cause(rctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause // the range that failed first
		}
		return err
	}
	for i, ch := range chans {
		for rec := range ch {
			err := out.Send(ctx, rec)
			rec.Release()
			if err != nil {
				return fail(i, err)
			}
		}
		if errs[i] != nil {
			return fail(i+1, errs[i])
		}
	}
	return nil
}
