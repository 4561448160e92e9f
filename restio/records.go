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
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage"
)

// scalarColumn is the column that holds records which are not objects (an
// array of strings or numbers).
const scalarColumn = "value"

// extractor finds the records of a response body.
type extractor struct {
	path   []string // json_path split on dots; nil means the whole document
	raw    string   // json_path as written
	format string   // auto, json, ndjson
}

func newExtractor(jsonPath, format string) *extractor {
	x := &extractor{raw: jsonPath, format: format}
	if p := strings.Trim(jsonPath, "."); p != "" && p != "$" {
		x.path = strings.Split(strings.TrimPrefix(p, "$."), ".")
	}
	return x
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
	target, err := x.locate(v, where)
	if err != nil {
		return err
	}
	switch target.Type() {
	case fastjson.TypeNull:
		return nil
	case fastjson.TypeArray:
		arr, _ := target.Array()
		for _, rec := range arr {
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	case fastjson.TypeObject:
		return fn(target)
	}
	return fmt.Errorf("json_path '%s' leads to %s in the response of %s; it must lead to an array of records or an object", x.raw, typeWord(target), where)
}

// locate follows json_path in v; a path that matches nothing is an error
// naming the path and the keys that exist where it stopped.
func (x *extractor) locate(v *fastjson.Value, where string) (*fastjson.Value, error) {
	cur := v
	for i, k := range x.path {
		next := cur.Get(k)
		if next != nil {
			cur = next
			continue
		}
		var msg string
		switch cur.Type() {
		case fastjson.TypeObject:
			keys := objectKeys(cur)
			switch {
			case len(keys) == 0 && i == 0:
				msg = "the response is an empty object"
			case len(keys) == 0:
				msg = fmt.Sprintf("'%s' is an empty object", strings.Join(x.path[:i], "."))
			case i == 0:
				msg = "the response's top-level keys are: " + strings.Join(keys, ", ")
			default:
				msg = fmt.Sprintf("'%s' has keys: %s", strings.Join(x.path[:i], "."), strings.Join(keys, ", "))
			}
			if sug := openstage.Suggest(k, keys); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			}
		case fastjson.TypeArray:
			arr, _ := cur.Array()
			if i == 0 {
				msg = fmt.Sprintf("the response is an array of %d values (leave json_path empty to read them as records)", len(arr))
			} else {
				msg = fmt.Sprintf("'%s' is an array of %d values (index it with a number: %s.0)", strings.Join(x.path[:i], "."), len(arr), strings.Join(x.path[:i], "."))
			}
		default:
			if i == 0 {
				msg = "the response is " + typeWord(cur)
			} else {
				msg = fmt.Sprintf("'%s' is %s, which has no key '%s'", strings.Join(x.path[:i], "."), typeWord(cur), k)
			}
		}
		return nil, fmt.Errorf("json_path '%s' matches nothing in the response of %s: %s", x.raw, where, msg)
	}
	return cur, nil
}

func objectKeys(v *fastjson.Value) []string {
	o, _ := v.Object()
	var keys []string
	o.Visit(func(k []byte, _ *fastjson.Value) { keys = append(keys, string(k)) })
	return keys
}

func typeWord(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a bool"
	}
	return "null"
}

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

func splitPath(p string) []string {
	p = strings.Trim(strings.TrimPrefix(p, "$."), ".")
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// flattener turns records into rows: nested objects flattened with "_"
// as pandas' json_normalize(sep="_") does (an empty object adds nothing,
// a key that appears twice keeps its last value), and, with explode, one
// row per element of the array column named so.
type flattener struct {
	index   map[string]int // column name → position
	names   []string
	grow    bool   // add columns for names not seen yet (inference)
	explode string // flattened name of the array to explode, or ""

	slots []*fastjson.Value // this row's value per column (nil: absent)
	set   []int             // slots set for this row
	buf   []byte
	arr   *fastjson.Value // the array to explode, found while flattening

	exploding bool
	saved     []savedSlot
}

type savedSlot struct {
	idx int
	old *fastjson.Value
}

func newFlattener(names []string, grow bool, explode string) *flattener {
	f := &flattener{index: map[string]int{}, grow: grow, explode: explode}
	for _, n := range names {
		f.column(n)
	}
	return f
}

// column returns the position of column name, adding it if it is new.
func (f *flattener) column(name string) int {
	if i, ok := f.index[name]; ok {
		return i
	}
	i := len(f.names)
	f.names = append(f.names, name)
	f.index[name] = i
	f.slots = append(f.slots, nil)
	return i
}

// rows flattens rec and calls emit with each row it gives (one, or one
// per element of the exploded array); emit reads f.slots.
func (f *flattener) rows(rec *fastjson.Value, emit func() error) error {
	for _, i := range f.set {
		f.slots[i] = nil
	}
	f.set = f.set[:0]
	f.arr = nil
	if rec.Type() == fastjson.TypeObject {
		// As pandas' json_normalize: the record's own values first, then
		// its nested objects, flattened (deeper levels keep their order).
		o, _ := rec.Object()
		o.Visit(func(key []byte, val *fastjson.Value) {
			if val.Type() != fastjson.TypeObject {
				f.leaf(append(f.buf[:0], key...), val)
			}
		})
		o.Visit(func(key []byte, val *fastjson.Value) {
			if val.Type() == fastjson.TypeObject {
				f.buf = append(f.buf[:0], key...)
				f.flatten(val, len(f.buf))
			}
		})
	} else {
		f.put([]byte(scalarColumn), rec)
	}
	if f.arr == nil {
		return emit()
	}
	elems, _ := f.arr.Array()
	if len(elems) == 0 {
		return emit()
	}
	f.exploding = true
	defer func() { f.exploding = false }()
	for _, e := range elems {
		f.saved = f.saved[:0]
		if e.Type() == fastjson.TypeObject {
			f.buf = append(f.buf[:0], f.explode...)
			f.flatten(e, len(f.buf))
		} else {
			f.put([]byte(f.explode), e)
		}
		err := emit()
		for k := len(f.saved) - 1; k >= 0; k-- {
			f.slots[f.saved[k].idx] = f.saved[k].old
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flatten puts the leaves of object v, whose flattened name so far is
// f.buf[:n].
func (f *flattener) flatten(v *fastjson.Value, n int) {
	o, _ := v.Object()
	o.Visit(func(key []byte, val *fastjson.Value) {
		f.buf = f.buf[:n]
		if n > 0 {
			f.buf = append(f.buf, '_')
		}
		f.buf = append(f.buf, key...)
		if val.Type() == fastjson.TypeObject {
			f.flatten(val, len(f.buf))
			return
		}
		f.leaf(f.buf, val)
	})
}

// leaf puts a value that is not an object under its flattened name, or
// keeps it aside when it is the array to explode.
func (f *flattener) leaf(name []byte, val *fastjson.Value) {
	if !f.exploding && f.explode != "" && val.Type() == fastjson.TypeArray && string(name) == f.explode {
		f.arr = val
		return
	}
	f.put(name, val)
}

func (f *flattener) put(name []byte, val *fastjson.Value) {
	i, ok := f.index[string(name)]
	if !ok {
		if !f.grow {
			return
		}
		i = f.column(string(name))
	}
	if f.exploding {
		f.saved = append(f.saved, savedSlot{i, f.slots[i]})
	} else if f.slots[i] == nil {
		f.set = append(f.set, i)
	}
	f.slots[i] = val
}

// kinds of JSON value a column holds, for inference.
type kinds uint8

const (
	kInt kinds = 1 << iota
	kFloat
	kBool
	kString
	kArray
	kObject // an object where a column's value is expected (an exploded element elsewhere scalar)
)

var kindNames = []struct {
	k    kinds
	name string
}{{kInt, "integer"}, {kFloat, "float"}, {kBool, "bool"}, {kString, "string"}, {kArray, "array"}, {kObject, "object"}}

func (k kinds) String() string {
	var parts []string
	for _, kn := range kindNames {
		if k&kn.k != 0 {
			parts = append(parts, kn.name)
		}
	}
	return strings.Join(parts, ", ")
}

// kindOf classifies a value; 0 for null. A number without a fraction or
// exponent is an integer unless it does not fit in int64.
func kindOf(v *fastjson.Value, scratch []byte) (kinds, []byte) {
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, scratch
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return kBool, scratch
	case fastjson.TypeString:
		return kString, scratch
	case fastjson.TypeArray:
		return kArray, scratch
	case fastjson.TypeObject:
		return kObject, scratch
	}
	// fastjson's Int64 refuses fractions, exponents and overflow.
	if _, err := v.Int64(); err != nil {
		return kFloat, scratch
	}
	return kInt, scratch
}

// inference gathers the kinds of every column over every page.
type inference struct {
	flat    *flattener
	seen    []kinds
	first   []map[kinds]string // where each kind of a column was first seen
	scratch []byte
	records int64
	rows    int64
}

func newInference(explode string) *inference {
	return &inference{flat: newFlattener(nil, true, explode)}
}

func (in *inference) add(rec *fastjson.Value, where string) error {
	in.records++
	return in.flat.rows(rec, func() error {
		in.rows++
		for len(in.seen) < len(in.flat.names) {
			in.seen = append(in.seen, 0)
			in.first = append(in.first, nil)
		}
		for i, v := range in.flat.slots {
			if v == nil {
				continue
			}
			var k kinds
			k, in.scratch = kindOf(v, in.scratch)
			if k == 0 || in.seen[i]&k != 0 {
				continue
			}
			in.seen[i] |= k
			if in.first[i] == nil {
				in.first[i] = map[kinds]string{}
			}
			in.first[i][k] = where
		}
		return nil
	})
}

// typeOf resolves the kinds of column i: integers alone are int64,
// integers and floats float64, bools bool, strings and arrays (as JSON
// text) string, no value at all string. A column whose values truly
// conflict (a number here, a string or a bool there) is string, and
// conflict describes it for the warning.
func (in *inference) typeOf(i int) (t arrow.DataType, conflict string) {
	k := kinds(0)
	if i < len(in.seen) {
		k = in.seen[i]
	}
	switch k {
	case 0, kString, kArray:
		return openstage.String, ""
	case kInt:
		return openstage.Int64, ""
	case kFloat, kInt | kFloat:
		return openstage.Float64, ""
	case kBool:
		return openstage.Bool, ""
	}
	var where []string
	for _, kn := range kindNames {
		if w, ok := in.first[i][kn.k]; ok && k&kn.k != 0 {
			where = append(where, fmt.Sprintf("%s first in %s", kn.name, w))
		}
	}
	return openstage.String, fmt.Sprintf("column '%s' holds %s values (%s): it is read as string", in.flat.names[i], k, strings.Join(where, "; "))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
