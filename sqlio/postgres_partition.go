package sqlio

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/open-stage/openstage"
)

// A partitioned PostgresOrigin run by the local engine reads every range
// in one snapshot: a first connection opens a REPEATABLE READ transaction
// and exports its snapshot (pg_export_snapshot), finds the bounds in it,
// and stays open while each range's connection imports it (SET
// TRANSACTION SNAPSHOT), so the ranges together are one consistent read
// of the database, as one query would be.

// pumpPartitioned reads the ranges of a partitioned origin, in parallel,
// in one exported snapshot.
func (o *PostgresOrigin) pumpPartitioned(ctx context.Context, out *openstage.Outputs) error {
	conn, scrub, err := connectPG(ctx, &o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var snapshot string
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return o.readError(ctx, scrub, err, "BEGIN", "BEGIN")
	}
	if err := conn.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return o.readError(ctx, scrub, err, "SELECT pg_export_snapshot()", "SELECT pg_export_snapshot()")
	}
	ranges, err := o.rangesOn(ctx, conn, scrub)
	if err != nil {
		return err
	}
	return pumpRanges(ctx, out, &o.part, ranges, func(ctx context.Context, r Range, send sendFunc) error {
		rc, scrub, err := connectPG(ctx, &o.Conn)
		if err != nil {
			return err
		}
		defer rc.Close(context.Background())
		set := "SET TRANSACTION SNAPSHOT '" + strings.ReplaceAll(snapshot, "'", "''") + "'"
		for _, q := range []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", set} {
			if _, err := rc.Exec(ctx, q); err != nil {
				return o.readError(ctx, scrub, err, q, q)
			}
		}
		if err := o.read(ctx, rc, scrub, o.part.where(postgresDialect, r), out.Allocator(), send); err != nil {
			return err
		}
		_, err = rc.Exec(ctx, "COMMIT")
		return err
	})
}

// rangesOn returns the ranges, finding missing bounds on conn.
func (o *PostgresOrigin) rangesOn(ctx context.Context, conn *pgx.Conn, scrub scrubber) ([]Range, error) {
	return o.part.rangesOf(o.Partitions, func() (any, any, error) {
		base := o.base(postgresDialect)
		q := o.part.boundsSQL(postgresDialect, base)
		args, err := pgArgs(o.Params, o.paramOIDs)
		if err != nil {
			return nil, nil, err
		}
		var lo, hi any
		if err := conn.QueryRow(ctx, q, args...).Scan(&lo, &hi); err != nil {
			return nil, nil, o.readError(ctx, scrub, err, q, base)
		}
		return lo, hi, nil
	})
}

// Ranges implements RangeReader.
func (o *PostgresOrigin) Ranges(ctx context.Context) ([]Range, error) {
	if o.part.col == "" {
		return nil, nil
	}
	conn, scrub, err := connectPG(ctx, &o.Conn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return o.rangesOn(ctx, conn, scrub)
}

// PumpRange implements RangeReader. Each range reads in its own
// transaction: on Beam the ranges are not one snapshot.
func (o *PostgresOrigin) PumpRange(ctx context.Context, alloc memory.Allocator, r Range, send func(arrow.RecordBatch) error) error {
	if o.part.col == "" {
		return fmt.Errorf("stage has no partition_column: it is not read in ranges")
	}
	conn, scrub, err := connectPG(ctx, &o.Conn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	err = o.read(ctx, conn, scrub, o.part.where(postgresDialect, r), alloc, func(_ context.Context, rec arrow.RecordBatch) error { return send(rec) })
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%s: %w", o.part.describe(r), err)
	}
	return err
}
