package restio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage/internal/jsonflat"
)

// extractor finds the records of a response body.
type extractor struct {
	path   *jsonflat.Path // json_path
	format string         // auto, json, ndjson
}

func newExtractor(jsonPath, format string) *extractor {
	return &extractor{path: jsonflat.ParsePath(jsonPath), format: format}
}

// ndjson reports whether a body is to be read as newline-delimited JSON.
func (x *extractor) ndjson(body []byte, contentType string) bool {
	switch x.format {
	case "json":
		return false
	case "ndjson":
		return true
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		switch mt {
		case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
			return true
		}
	}
	// Several values, one per line, the first complete on its own line.
	body = bytes.TrimSpace(body)
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		return false
	}
	if fastjson.ValidateBytes(body) == nil {
		return false
	}
	return fastjson.ValidateBytes(bytes.TrimSpace(body[:nl])) == nil
}

// page is one response, as the parsing code sees it.
type page struct {
	index       int    // 0-based
	where       string // "page 3 (GET https://...)", for messages
	checked     bool   // the body was validated already (read back from the download)
	body        []byte
	contentType string
	links       []string // Link header fields
	url         *url.URL // the page's URL after redirects
}

// records parses pg and calls fn with each record, in order. For a JSON
// document it returns the document's root (for cursors, next links and
// totals), valid until p parses again; for NDJSON the root is nil.
func (x *extractor) records(p *fastjson.Parser, pg *page, fn func(*fastjson.Value) error) (*fastjson.Value, error) {
	if !x.ndjson(pg.body, pg.contentType) {
		root, err := parseDoc(p, pg.body, 0, pg.where, pg.checked)
		if err != nil {
			return nil, err
		}
		return root, x.each(root, pg.where, fn)
	}
	body := pg.body
	for off := 0; off < len(body); {
		end := bytes.IndexByte(body[off:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += off
		}
		line := body[off:end]
		if len(bytes.TrimSpace(line)) > 0 {
			v, err := parseDoc(p, line, off, pg.where, pg.checked)
			if err != nil {
				return nil, err
			}
			if err := x.each(v, pg.where, fn); err != nil {
				return nil, err
			}
		}
		off = end + 1
	}
	return nil, nil
}

// parseDoc parses one JSON value strictly. A malformed one is an error
// naming the page and the byte offset (from the start of the body).
func parseDoc(p *fastjson.Parser, b []byte, base int, where string, checked bool) (*fastjson.Value, error) {
	if !checked {
		if err := fastjson.ValidateBytes(b); err != nil {
			return nil, malformed(b, base, where, err)
		}
	}
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, malformed(b, base, where, err)
	}
	return v, nil
}

// malformed describes a JSON syntax error with its byte offset, as
// encoding/json locates it, and the text around it.
func malformed(b []byte, base int, where string, ferr error) error {
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("malformed JSON in the response of %s: %v", where, ferr)
	}
	// encoding/json counts the bytes read, the offending one included:
	// the offset of that byte is one less (at the end of the input, there
	// is no offending byte).
	off := int(se.Offset)
	if off > 0 && off <= len(b) && se.Error() != "unexpected end of JSON input" {
		off--
	}
	lo, hi := max(0, off-30), min(len(b), off+10)
	return fmt.Errorf("malformed JSON in the response of %s at byte offset %d: %s (near %q); check that url returns JSON (and format)", where, base+off, se.Error(), string(b[lo:hi]))
}

// each calls fn with the records json_path leads to in v.
func (x *extractor) each(v *fastjson.Value, where string, fn func(*fastjson.Value) error) error {
	return x.path.Each(v, where, fn)
}

func typeWord(v *fastjson.Value) string { return jsonflat.TypeWord(v) }

// lookupString returns the value at a dotted path of a document as text
// ("" when absent or null): a cursor, a next link.
func lookupString(root *fastjson.Value, path []string) string {
	v := root.Get(path...)
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNull, fastjson.TypeFalse:
		return ""
	case fastjson.TypeNumber, fastjson.TypeTrue:
		return string(v.MarshalTo(nil))
	}
	return ""
}

// lookupInt returns the integer at a dotted path (a total).
func lookupInt(root *fastjson.Value, path []string) (int64, bool) {
	v := root.Get(path...)
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		if err != nil {
			f, ferr := v.Float64()
			if ferr != nil {
				return 0, false
			}
			n = int64(f)
		}
		return n, true
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func splitPath(p string) []string { return jsonflat.SplitPath(p) }

// Records are flattened and typed by internal/jsonflat, shared with
// JSONOrigin.
type (
	flattener = jsonflat.Flattener
	inference = jsonflat.Inference
)

func newInference(explode string) *inference { return jsonflat.NewInference(explode) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
