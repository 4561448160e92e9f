package bigqueryio

import (
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/open-stage/openstage/internal/bqtest"
	"github.com/open-stage/openstage/openstagetest"
)

func TestOriginConformance(t *testing.T) {
	e := newEnv(t, bqtest.Options{PageRows: 4})
	e.loadJSON(t, "orders", orderSchema, orderRows(30)...)
	e.loadJSON(t, "empty", orderSchema)
	openstagetest.TestOrigin(t, openstagetest.OriginCase{
		New: func(t *testing.T) any {
			return &GCPBigQueryOrigin{Conn: e.conn(), Query: "SELECT * FROM ds.orders ORDER BY id", BatchRows: 7}
		},
		Empty: func(t *testing.T) any {
			return &GCPBigQueryOrigin{Conn: e.conn(), Query: "SELECT * FROM ds.empty", BatchRows: 7}
		},
	})
}

func TestDestinationConformance(t *testing.T) {
	for _, write := range []string{"WRITE_APPEND", "WRITE_TRUNCATE"} {
		t.Run(write, func(t *testing.T) {
			e := newEnv(t, bqtest.Options{PageRows: 6})
			openstagetest.TestDestination(t, openstagetest.DestinationCase{
				New: func(t *testing.T) any {
					return &GCPBigQueryDestination{Conn: e.conn(), Dataset: "ds", Table: "target", WriteDisposition: write, CreateDisposition: "CREATE_IF_NEEDED"}
				},
				Read: func(t *testing.T) ([][]any, bool) {
					rows := e.tableRows(t, "target")
					if rows == nil {
						if _, err := e.client.Dataset("ds").Table("target").Metadata(t.Context()); isNotFound(err) {
							return nil, false
						}
					}
					return goValues(rows), true
				},
			})
		})
	}
}

// goValues turns SDK values into the Go values the suites compare with:
// dates as midnight UTC.
func goValues(rows [][]bigquery.Value) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(r))
		for j, v := range r {
			switch x := v.(type) {
			case civil.Date:
				out[i][j] = x.In(time.UTC)
			default:
				out[i][j] = v
			}
		}
	}
	return out
}
