// Package jsonflat turns JSON records into columns, the one way every
// JSON stage does it (APIRestOrigin, JSONOrigin): json_path locates the
// records in a document; nested objects are flattened with "_" as pandas'
// json_normalize(sep="_") flattens them (address.city → address_city; an
// empty object adds nothing; a key that appears twice keeps its last
// value); arrays are kept as JSON text unless explode names one (then one
// row per element); types are inferred over every record (integers alone
// int64, integers and floats float64, bools bool, strings, arrays and
// values of conflicting kinds string) or declared. Values are
// valyala/fastjson values.
package jsonflat

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage"
)

// ScalarColumn is the column that holds records which are not objects (an
// array of strings or numbers).
const ScalarColumn = "value"

// A Path is a json_path: dotted keys from the root of a document to its
// records (data.items; a number indexes an array: results.0.rows); empty
// or "$" is the whole document. A leading "$." is allowed.
type Path struct {
	path []string
	raw  string
	// Noun names the document in messages: "the response" (the default)
	// or "the file".
	Noun string
}

// ParsePath reads a json_path.
func ParsePath(jsonPath string) *Path {
	x := &Path{raw: jsonPath, Noun: "the response"}
	if p := strings.Trim(jsonPath, "."); p != "" && p != "$" {
		x.path = strings.Split(strings.TrimPrefix(p, "$."), ".")
	}
	return x
}

// String returns the path as written.
func (x *Path) String() string { return x.raw }

// Each calls fn with the records the path leads to in v: each element of
// an array, or an object (one record); null gives none. where names the
// document in errors ("page 3 (GET ...)", "'orders.json'").
func (x *Path) Each(v *fastjson.Value, where string, fn func(*fastjson.Value) error) error {
	target, err := x.Locate(v, where)
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
	return fmt.Errorf("json_path '%s' leads to %s in %s; it must lead to an array of records or an object", x.raw, TypeWord(target), x.of(where))
}

// Locate follows the path in v; a path that matches nothing is an error
// naming the path and the keys that exist where it stopped.
func (x *Path) Locate(v *fastjson.Value, where string) (*fastjson.Value, error) {
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
			keys := ObjectKeys(cur)
			switch {
			case len(keys) == 0 && i == 0:
				msg = x.Noun + " is an empty object"
			case len(keys) == 0:
				msg = fmt.Sprintf("'%s' is an empty object", strings.Join(x.path[:i], "."))
			case i == 0:
				msg = x.Noun + "'s top-level keys are: " + strings.Join(keys, ", ")
			default:
				msg = fmt.Sprintf("'%s' has keys: %s", strings.Join(x.path[:i], "."), strings.Join(keys, ", "))
			}
			if sug := openstage.Suggest(k, keys); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			}
		case fastjson.TypeArray:
			arr, _ := cur.Array()
			if i == 0 {
				msg = fmt.Sprintf("%s is an array of %d values (leave json_path empty to read them as records)", x.Noun, len(arr))
			} else {
				msg = fmt.Sprintf("'%s' is an array of %d values (index it with a number: %s.0)", strings.Join(x.path[:i], "."), len(arr), strings.Join(x.path[:i], "."))
			}
		default:
			if i == 0 {
				msg = x.Noun + " is " + TypeWord(cur)
			} else {
				msg = fmt.Sprintf("'%s' is %s, which has no key '%s'", strings.Join(x.path[:i], "."), TypeWord(cur), k)
			}
		}
		return nil, fmt.Errorf("json_path '%s' matches nothing in %s: %s", x.raw, x.of(where), msg)
	}
	return cur, nil
}

func ObjectKeys(v *fastjson.Value) []string {
	o, _ := v.Object()
	var keys []string
	o.Visit(func(k []byte, _ *fastjson.Value) { keys = append(keys, string(k)) })
	return keys
}

func TypeWord(v *fastjson.Value) string {
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

// of names the document of where: "the response of page 3 (...)".
func (x *Path) of(where string) string {
	if x.Noun == "the response" {
		return "the response of " + where
	}
	return where
}

// SplitPath splits a dotted path ("$." allowed) into keys.
func SplitPath(p string) []string {
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
type Flattener struct {
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

	// OnUnknown, when set, is called with each flattened name that is not a
	// column (without grow such values are left out).
	OnUnknown func(name string)
}

type savedSlot struct {
	idx int
	old *fastjson.Value
}

func NewFlattener(names []string, grow bool, explode string) *Flattener {
	f := &Flattener{index: map[string]int{}, grow: grow, explode: explode}
	for _, n := range names {
		f.Column(n)
	}
	return f
}

// column returns the position of column name, adding it if it is new.
func (f *Flattener) Column(name string) int {
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
func (f *Flattener) Rows(rec *fastjson.Value, emit func() error) error {
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
		f.put([]byte(ScalarColumn), rec)
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
func (f *Flattener) flatten(v *fastjson.Value, n int) {
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
func (f *Flattener) leaf(name []byte, val *fastjson.Value) {
	if !f.exploding && f.explode != "" && val.Type() == fastjson.TypeArray && string(name) == f.explode {
		f.arr = val
		return
	}
	f.put(name, val)
}

func (f *Flattener) put(name []byte, val *fastjson.Value) {
	i, ok := f.index[string(name)]
	if !ok {
		if !f.grow {
			if f.OnUnknown != nil {
				f.OnUnknown(string(name))
			}
			return
		}
		i = f.Column(string(name))
	}
	if f.exploding {
		f.saved = append(f.saved, savedSlot{i, f.slots[i]})
	} else if f.slots[i] == nil {
		f.set = append(f.set, i)
	}
	f.slots[i] = val
}

// kinds of JSON value a column holds, for inference.
type Kinds uint8

const (
	KInt Kinds = 1 << iota
	KFloat
	KBool
	KString
	KArray
	KObject // an object where a column's value is expected (an exploded element elsewhere scalar)
)

var kindNames = []struct {
	k    Kinds
	name string
}{{KInt, "integer"}, {KFloat, "float"}, {KBool, "bool"}, {KString, "string"}, {KArray, "array"}, {KObject, "object"}}

func (k Kinds) String() string {
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
func KindOf(v *fastjson.Value, scratch []byte) (Kinds, []byte) {
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, scratch
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return KBool, scratch
	case fastjson.TypeString:
		return KString, scratch
	case fastjson.TypeArray:
		return KArray, scratch
	case fastjson.TypeObject:
		return KObject, scratch
	}
	scratch = v.MarshalTo(scratch[:0])
	if bytes.ContainsAny(scratch, ".eE") {
		return KFloat, scratch
	}
	if _, err := strconv.ParseInt(string(scratch), 10, 64); err != nil {
		return KFloat, scratch
	}
	return KInt, scratch
}

// inference gathers the kinds of every column over every page.
type Inference struct {
	flat    *Flattener
	seen    []Kinds
	first   []map[Kinds]string // where each kind of a column was first seen
	scratch []byte
	records int64
	rows    int64
}

func NewInference(explode string) *Inference {
	return &Inference{flat: NewFlattener(nil, true, explode)}
}

func (in *Inference) Add(rec *fastjson.Value, where string) error {
	in.records++
	return in.flat.Rows(rec, func() error {
		in.rows++
		for len(in.seen) < len(in.flat.names) {
			in.seen = append(in.seen, 0)
			in.first = append(in.first, nil)
		}
		for i, v := range in.flat.slots {
			if v == nil {
				continue
			}
			var k Kinds
			k, in.scratch = KindOf(v, in.scratch)
			if k == 0 || in.seen[i]&k != 0 {
				continue
			}
			in.seen[i] |= k
			if in.first[i] == nil {
				in.first[i] = map[Kinds]string{}
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
func (in *Inference) TypeOf(i int) (t arrow.DataType, conflict string) {
	k := Kinds(0)
	if i < len(in.seen) {
		k = in.seen[i]
	}
	switch k {
	case 0, KString, KArray:
		return openstage.String, ""
	case KInt:
		return openstage.Int64, ""
	case KFloat, KInt | KFloat:
		return openstage.Float64, ""
	case KBool:
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

// Column is one output column.
type Column struct {
	Name     string
	Type     arrow.DataType
	Declared bool // its type comes from column_types: values are converted (and checked)
}

// converter appends records to Arrow builders with a known schema.
type Converter struct {
	cols    []Column
	flat    *Flattener
	rb      *array.RecordBuilder
	schema  *arrow.Schema
	scratch []byte
	rows    int
}

func NewConverter(alloc memory.Allocator, cols []Column, explode string) *Converter {
	names := make([]string, len(cols))
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		names[i] = c.Name
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	return &Converter{cols: cols, flat: NewFlattener(names, false, explode), rb: array.NewRecordBuilder(alloc, schema), schema: schema}
}

func (c *Converter) Release() { c.rb.Release() }

// add appends the rows of record rec (record number n of its page, from 1).
func (c *Converter) Add(rec *fastjson.Value, where string, n int) error {
	return c.flat.Rows(rec, func() error {
		for i := range c.cols {
			if err := c.append(i, c.flat.slots[i]); err != nil {
				// Keep the builders aligned: pad the columns not yet
				// appended for this row, which is then dropped with the
				// batch (the job fails).
				for k := i; k < len(c.cols); k++ {
					c.rb.Field(k).AppendNull()
				}
				c.rows++
				return fmt.Errorf("%s, record %d: column '%s': %w", where, n, c.cols[i].Name, err)
			}
		}
		c.rows++
		return nil
	})
}

// build returns the rows appended so far as a batch.
func (c *Converter) Build() arrow.RecordBatch {
	c.rows = 0
	return c.rb.NewRecordBatch()
}

func (c *Converter) append(i int, v *fastjson.Value) error {
	b := c.rb.Field(i)
	if v == nil || v.Type() == fastjson.TypeNull {
		b.AppendNull()
		return nil
	}
	col := &c.cols[i]
	switch bb := b.(type) {
	case *array.StringBuilder:
		if v.Type() == fastjson.TypeString {
			s, _ := v.StringBytes()
			bb.BinaryBuilder.Append(s)
		} else {
			c.scratch = v.MarshalTo(c.scratch[:0])
			bb.BinaryBuilder.Append(c.scratch)
		}
		return nil
	case *array.Int64Builder:
		if v.Type() == fastjson.TypeNumber && !col.Declared {
			n, err := v.Int64()
			if err != nil {
				return err
			}
			bb.Append(n)
			return nil
		}
	case *array.Float64Builder:
		if v.Type() == fastjson.TypeNumber && !col.Declared {
			f, err := v.Float64()
			if err != nil {
				return err
			}
			if math.IsInf(f, 0) {
				return fmt.Errorf("%s is beyond the range of a float64", v.MarshalTo(nil))
			}
			bb.Append(f)
			return nil
		}
	case *array.BooleanBuilder:
		if !col.Declared {
			bb.Append(v.Type() == fastjson.TypeTrue)
			return nil
		}
	}
	// A declared type: convert the JSON value the way job files convert
	// (numbers between int64 and float64 without loss, strings parsed).
	var gv any
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		gv = string(s)
	case fastjson.TypeTrue:
		gv = true
	case fastjson.TypeFalse:
		gv = false
	case fastjson.TypeNumber:
		var k Kinds
		k, c.scratch = KindOf(v, c.scratch)
		if k == KInt {
			gv, _ = v.Int64()
		} else {
			f, err := v.Float64()
			if err != nil {
				return fmt.Errorf("malformed number %s", c.scratch)
			}
			gv = f
		}
	default:
		return fmt.Errorf("%s cannot be stored in a %s column (column_types)", TypeWord(v), openstage.TypeName(col.Type))
	}
	if err := openstage.AppendValue(b, gv); err != nil {
		return fmt.Errorf("%w (column_types says %s)", err, openstage.TypeName(col.Type))
	}
	return nil
}

// Slots returns the values of the row Rows is emitting, one per column in
// Names order (nil: absent).
func (f *Flattener) Slots() []*fastjson.Value { return f.slots }

// Names returns the column names, in the order they were first seen.
func (f *Flattener) Names() []string { return f.names }

// Names returns the columns seen, in the order they were first seen.
func (in *Inference) Names() []string { return in.flat.names }

// Records returns the records added; Rows the rows they gave (more with
// explode).
func (in *Inference) Records() int64 { return in.records }

// Rows returns the rows the records added gave.
func (in *Inference) Rows() int64 { return in.rows }

// Rows returns the rows appended since the last Build.
func (c *Converter) Rows() int { return c.rows }

// Flattener returns the converter's flattener (to set OnUnknown).
func (c *Converter) Flattener() *Flattener { return c.flat }
