package restio_test

import (
	"testing"

	"github.com/open-stage/openstage/openstagetest"
	"github.com/open-stage/openstage/restio"
)

// TestAPIRestOriginConformance runs the origin suite twice: with the
// schema inferred (every page downloaded at Plan, read back at Pump) and
// declared (pages fetched while the job runs, 2 at a time).
func TestAPIRestOriginConformance(t *testing.T) {
	full := newAPI(t, users(45), 5, "page")
	empty := newAPI(t, nil, 5, "page")
	declared := func(o *restio.APIRestOrigin) {
		o.Columns = []string{"id", "name", "address_city", "active"}
		o.ColumnTypes = map[string]string{"id": "int64", "name": "string", "address_city": "string", "active": "bool"}
	}
	mk := func(a *api, extra func(*restio.APIRestOrigin)) func(*testing.T) any {
		return func(*testing.T) any {
			return origin(func(o *restio.APIRestOrigin) {
				o.URL = a.url()
				o.JSONPath = "data.items"
				o.BatchRows = 10
				o.Pagination = pagination("page")
				if extra != nil {
					extra(o)
				}
			})
		}
	}
	t.Run("inferred", func(t *testing.T) {
		openstagetest.TestOrigin(t, openstagetest.OriginCase{New: mk(full, nil), Empty: mk(empty, declared)})
	})
	t.Run("declared", func(t *testing.T) {
		streaming := func(o *restio.APIRestOrigin) { declared(o); o.Concurrency = 2 }
		openstagetest.TestOrigin(t, openstagetest.OriginCase{New: mk(full, streaming), Empty: mk(empty, streaming)})
	})
}
