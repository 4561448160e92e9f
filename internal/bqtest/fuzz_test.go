package bqtest

import (
	"testing"

	bq "google.golang.org/api/bigquery/v2"
)

// FuzzTranslate: no query text makes the translation or the query panic.
func FuzzTranslate(f *testing.F) {
	for _, q := range []string{
		"SELECT * FROM `p.ds.t` WHERE a > @x",
		"SELECT a, b FROM ds.t AS x, ds.t y WHERE x.a = y.a",
		`SELECT "str", 'it\'s', r'raw\n', b'\x00', DATE '2024-01-01' FROM ds.t -- c`,
		"WITH w AS (SELECT 1 AS a) SELECT * FROM w",
		"SELECT CAST(a AS STRING), SAFE_CAST(b AS INT64) FROM ds.t # c",
		"SELECT COUNT(*) FROM [p:ds.t]",
		"SELECT ? , ?",
		"/* unclosed",
		"SELECT '''triple'''",
	} {
		f.Add(q, false)
	}
	s := newServer(Options{})
	d, _ := s.createDataset("p", "ds", "")
	if _, err := s.createTable(d, "t", []*bq.TableFieldSchema{{Name: "a", Type: "INT64"}, {Name: "b", Type: "STRING"}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string, legacy bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.translate(q, "p", nil, legacy); err != nil {
			return
		}
		s.runQuery("p", queryConfig{query: q, legacy: legacy, params: []*bq.QueryParameter{
			{Name: "x", ParameterType: &bq.QueryParameterType{Type: "INT64"}, ParameterValue: &bq.QueryParameterValue{Value: "1"}},
		}})
	})
}

// FuzzValues: a value the server accepts for a type is kept in a canonical
// form that it accepts again unchanged, and nothing panics.
func FuzzValues(f *testing.F) {
	for _, v := range []string{"42", "-0.5", "1e400", "NaN", "true", "2024-02-29", "2024-02-29 23:59:58.5",
		"2024-02-29T23:00:00.000001+02:00", "23:59:59.999999999", "12345678901234567890123456789.1234567891", "AP8=", `{"a": 1}`} {
		f.Add(v)
	}
	types := []string{"INTEGER", "FLOAT", "NUMERIC", "BIGNUMERIC", "BOOLEAN", "STRING", "BYTES", "DATE", "DATETIME", "TIME", "TIMESTAMP", "JSON", "GEOGRAPHY"}
	f.Fuzz(func(t *testing.T, v string) {
		for _, typ := range types {
			field := &bq.TableFieldSchema{Name: "f", Type: typ, Mode: "NULLABLE"}
			text, err := textFromString(field, v)
			if err != nil {
				continue
			}
			again, err := textFromString(field, text)
			if err != nil || again != text {
				t.Errorf("%s %q: canonical %q reads back as %q (%v)", typ, v, text, again, err)
			}
			stored, err := storedFromText(field, text)
			if err != nil {
				t.Errorf("%s %q: canonical %q cannot be stored: %v", typ, v, text, err)
				continue
			}
			if typ != "FLOAT" && textFromStored(field, stored) != text {
				t.Errorf("%s %q: stored as %v, which reads back as %q, not %q", typ, v, stored, textFromStored(field, stored), text)
			}
		}
	})
}
