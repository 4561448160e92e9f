package jsonio_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/jsonio"
	"github.com/open-stage/openstage/openstagetest"
)

// FuzzJSONOrigin reads arbitrary bytes as NDJSON (in parallel chunks) and
// as a document. Never a panic or a leaked buffer; an input that
// encoding/json finds invalid (json.Valid) is an error; NDJSON whose every
// line is a valid object gives one row a line (or an error naming a
// column, for a value that does not fit its type, such as 1e400).
func FuzzJSONOrigin(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1}\n{\"a\":2.5,\"b\":{\"c\":true}}\n",
		"[{\"a\":\"x\"},{\"a\":null}]",
		"{\"a\":[1,2],\"b\":{}}\n\n{\"a\":[]}\n",
		"{\"a\":1}\n{\"a\":\n",
		"{\"a\":\"\\u00e9\\n\"}\r\n",
		"{\"a\":1e400}\n",
		"{\"a\":9223372036854775808}\n{\"a\":1}\n",
		"{\"a\":1,\"a\":2}\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, doc bool) {
		path := filepath.Join(t.TempDir(), "in.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		format := "ndjson"
		if doc {
			format = "json"
		}
		o := openstage.New("", func(o *jsonio.JSONOrigin) {
			o.Path = openstage.Strings{path}
			o.Format = format
			o.SampleRows = 0
			o.BatchRows = 3
		}).Component()
		res, err := openstagetest.RunOrigin(t, o, openstagetest.Workers(2))
		if doc {
			if !json.Valid(data) && len(bytes.TrimSpace(data)) > 0 && err == nil {
				t.Fatalf("encoding/json rejects %q; we accepted it", data)
			}
			return
		}
		objects, valid := 0, true
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if !json.Valid(line) {
				valid = false
				break
			}
			if t := bytes.TrimSpace(line); t[0] != '{' {
				valid = false
			}
			objects++
		}
		if !valid {
			return // arrays, scalars and malformed lines: no panic is enough
		}
		if err != nil {
			if !strings.Contains(err.Error(), "column '") && !strings.Contains(err.Error(), "no keys") {
				t.Fatalf("encoding/json reads %q as %d objects; we failed: %v", data, objects, err)
			}
			return
		}
		if n := len(res.Outputs["out"].Rows); n != objects {
			t.Fatalf("%q: %d rows, want %d", data, n, objects)
		}
	})
}
